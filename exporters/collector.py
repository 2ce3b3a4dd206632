"""A custom Prometheus collector over a :class:`~exporters.snapshot.Snapshot` (no I/O in collect).

Per-feature series are capped per monitor (``max_features``): the drifted features first, then
the rest by name, so a monitor over thousands of columns cannot blow up Prometheus. No label
carries a value of a user's column: feature names come from the monitor's declared schema.

The drift, dataset and performance series come from the monitor's latest run *with a verdict*
(``ok`` or ``drift``), so a run that ends ``insufficient_data`` or ``error`` leaves them in place
(no panel goes blank, no alert resolves and re-fires across a quiet window);
``driftline_last_verdict_timestamp_seconds`` says how old they are. ``driftline_model_performance``
has one series per metric and ``kind``: ``realized`` (over the labelled rows, once there are
``performance.min_labels``) and ``estimated`` (CBPE or DLE on the whole window, with its band in
``driftline_model_performance_lower``/``_upper``), so a panel draws both on one axis. The window's rows and the
last run's status come from the latest run of any status. Series whose label values are known
from the configuration (webhook targets, monitors, outcomes) are exported at 0 before the first
event, so ``rate()`` and ``increase()`` see 0 rather than nothing.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.snapshot import DELIVERY_OUTCOMES, DURATION_BUCKETS, Snapshot
from monitor.domain import FeatureResult, Outcome, Role, RunStatus
from monitor.stats.check import Status

__all__ = ["DriftCollector", "capped_features"]

_STATUSES = tuple(s.value for s in RunStatus)
_RETRAIN_OUTCOMES = tuple(o.value for o in Outcome)


def capped_features(features: tuple[FeatureResult, ...], limit: int) -> list[FeatureResult]:
    """The features a monitor exports: drifted first, then by name, at most ``limit``."""
    tested = [f for f in features if f.role is Role.FEATURE]
    return sorted(tested, key=lambda f: (not f.drifted, f.column))[:limit]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class DriftCollector(Collector):
    """Renders one snapshot; build a new one (in a fresh registry) per scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._s = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._features()
        yield from self._monitors()
        yield from self._multivariate()
        yield from self._segments()
        yield from self._runs()
        yield from self._service()

    def _features(self) -> Iterator[Metric]:
        labels = ["monitor", "model", "feature", "method"]
        score = GaugeMetricFamily("driftline_feature_drift_score", "Latest drift statistic of a feature.", labels=labels)
        p_value = GaugeMetricFamily("driftline_feature_drift_p_value", "Latest p-value of a feature's test.",
                                    labels=labels)
        threshold = GaugeMetricFamily("driftline_feature_drift_threshold",
                                      "Alpha or distance threshold of a feature's test.", labels=labels)
        detected = GaugeMetricFamily("driftline_feature_drift_detected", "1 if the feature drifted in the latest run.",
                                     labels=labels)
        missing = GaugeMetricFamily("driftline_feature_missing_ratio", "Missing share of a feature in the latest window.",
                                    labels=["monitor", "model", "feature"])
        for m in self._s.monitors:
            if m.verdict is None:
                continue
            for f in capped_features(m.verdict.features, self._s.max_features):
                if f.status is not Status.OK or f.method is None:
                    continue
                key = [m.name, m.model, f.column, f.method]
                if _finite(f.statistic):
                    score.add_metric(key, f.statistic)  # type: ignore[arg-type]
                if _finite(f.p_value):
                    p_value.add_metric(key, f.p_value)  # type: ignore[arg-type]
                if _finite(f.threshold):
                    threshold.add_metric(key, f.threshold)  # type: ignore[arg-type]
                detected.add_metric(key, float(f.drifted))
                rows = f.n_current + f.missing_current
                if rows:
                    missing.add_metric([m.name, m.model, f.column], f.missing_current / rows)
        yield from (score, p_value, threshold, detected, missing)

    def _monitors(self) -> Iterator[Metric]:
        mm = ["monitor", "model"]
        share = GaugeMetricFamily("driftline_dataset_drift_share", "Share of drifted features.", labels=mm)
        dataset = GaugeMetricFamily("driftline_dataset_drift_detected", "1 on dataset drift.", labels=mm)
        pred = GaugeMetricFamily("driftline_prediction_drift_score", "Drift statistic of the prediction.",
                                 labels=[*mm, "method"])
        target = GaugeMetricFamily("driftline_target_drift_score", "Drift statistic of the label.",
                                   labels=[*mm, "method"])
        perf = GaugeMetricFamily("driftline_model_performance", "Latest performance metric: realized over the labelled "
                                 "rows, or estimated (CBPE, DLE) on the whole window.", labels=[*mm, "metric", "kind"])
        est_lower = GaugeMetricFamily("driftline_model_performance_lower", "Lower end of the estimate's band (3 SE).",
                                      labels=[*mm, "metric", "kind"])
        est_upper = GaugeMetricFamily("driftline_model_performance_upper", "Upper end of the estimate's band (3 SE).",
                                      labels=[*mm, "metric", "kind"])
        trusted = GaugeMetricFamily("driftline_model_performance_estimate_trusted",
                                    "0 when an honesty check fired on the estimate (see the run's warnings).",
                                    labels=[*mm, "metric"])
        perf_ref = GaugeMetricFamily("driftline_model_performance_reference", "The reference's performance metric.",
                                     labels=[*mm, "metric"])
        degraded = GaugeMetricFamily("driftline_model_performance_degraded", "1 if the degradation test fired.",
                                     labels=[*mm, "metric"])
        concept = GaugeMetricFamily("driftline_concept_drift_detected", "1 if a change detector fired.", labels=mm)
        coverage = GaugeMetricFamily("driftline_label_coverage_ratio", "Labelled share of the latest window.", labels=mm)
        rows = GaugeMetricFamily("driftline_window_rows", "Rows in the latest window.", labels=mm)
        ref = GaugeMetricFamily("driftline_reference_info", "The active reference.",
                                labels=[*mm, "version", "content_hash"])
        period = GaugeMetricFamily("driftline_monitor_schedule_period_seconds", "Schedule period of the monitor.",
                                   labels=mm)
        verdict_at = GaugeMetricFamily("driftline_last_verdict_timestamp_seconds",
                                       "Window end of the run whose verdict the drift series show.", labels=mm)
        for m in self._s.monitors:
            key = [m.name, m.model]
            period.add_metric(key, m.schedule_period_seconds)
            if m.reference_version is not None:
                ref.add_metric([*key, str(m.reference_version), m.reference_hash or ""], 1.0)
            if m.latest is not None:
                rows.add_metric(key, float(m.latest.rows))
            run = m.verdict
            if run is None:
                continue
            verdict_at.add_metric(key, run.window_end.timestamp())
            if run.dataset is not None:
                share.add_metric(key, run.dataset.drift_share)
                dataset.add_metric(key, float(run.dataset.dataset_drift))
            for f in run.features:
                family = pred if f.role is Role.PREDICTION else target if f.role is Role.TARGET else None
                if family is not None and f.method is not None and _finite(f.statistic):
                    family.add_metric([*key, f.method], f.statistic)  # type: ignore[arg-type]
            for p in run.performance:
                if _finite(p.value):
                    perf.add_metric([*key, p.metric, "realized"], p.value)  # type: ignore[arg-type]
                if _finite(p.reference_value):
                    perf_ref.add_metric([*key, p.metric], p.reference_value)  # type: ignore[arg-type]
                degraded.add_metric([*key, p.metric], float(p.degraded))
            for e in run.estimates:
                name = [*key, str(e.metric), "estimated"]
                if _finite(e.estimated):
                    perf.add_metric(name, e.estimated)  # type: ignore[arg-type]
                    trusted.add_metric(name[:-1], float(not e.warnings))
                if _finite(e.lower) and _finite(e.upper):
                    est_lower.add_metric(name, e.lower)  # type: ignore[arg-type]
                    est_upper.add_metric(name, e.upper)  # type: ignore[arg-type]
            if run.concept_drift is not None:
                concept.add_metric(key, float(run.concept_drift))
            if run.label_coverage is not None:
                coverage.add_metric(key, run.label_coverage)
        yield from (share, dataset, pred, target, perf, est_lower, est_upper, trusted, perf_ref, degraded, concept,
                    coverage, rows, ref, period, verdict_at)

    def _multivariate(self) -> Iterator[Metric]:
        """One series per monitor and multivariate method of its latest run with a verdict (issue 14)."""
        labels = ["monitor", "model", "method"]
        score = GaugeMetricFamily("driftline_multivariate_drift_score", "Latest multivariate drift statistic (mean "
                                  "reconstruction error, out-of-fold ROC AUC, or MMD squared).", labels=labels)
        detected = GaugeMetricFamily("driftline_multivariate_drift_detected",
                                     "1 if the multivariate method called drift on the joint distribution.", labels=labels)
        for m in self._s.monitors:
            for r in m.verdict.multivariate if m.verdict is not None else ():
                key = [m.name, m.model, str(r.method)]
                if _finite(r.statistic):
                    score.add_metric(key, r.statistic)
                detected.add_metric(key, float(r.drifted))
        yield from (score, detected)

    def _segments(self) -> Iterator[Metric]:
        """Per segment value of the latest verdict: at most ``segment_top_k + 1`` values per declared segment.

        The values are the run's stored top K (most drifted first) and its ``other`` aggregate, so a
        segment of 1,000 values exports ``top_k + 1`` series, not 1,000 (docs/metrics.md states the bound).
        """
        labels = ["monitor", "model", "segment", "value"]
        share = GaugeMetricFamily("driftline_segment_drift_share", "Share of drifted features in a segment value "
                                  "(top K per segment, the rest as value=other).", labels=labels)
        detected = GaugeMetricFamily("driftline_segment_drift_detected", "1 if a feature drifted in the segment value "
                                     "(Benjamini-Hochberg across segments x features).", labels=labels)
        for m in self._s.monitors:
            summary = m.verdict.segments if m.verdict is not None else None
            for r in summary.results if summary is not None else ():
                key = [m.name, m.model, r.segment, r.label]
                share.add_metric(key, r.drift_share)
                detected.add_metric(key, float(r.drifted))
        yield from (share, detected)

    def _runs(self) -> Iterator[Metric]:
        mm = ["monitor", "model"]
        total = CounterMetricFamily("driftline_runs", "Runs by status.", labels=[*mm, "status"])
        last = GaugeMetricFamily("driftline_last_run_timestamp_seconds", "End of the latest run of each status.",
                                 labels=[*mm, "status"])
        ok = GaugeMetricFamily("driftline_last_successful_run_timestamp_seconds",
                               "End of the latest run with status ok or drift.", labels=mm)
        duration = HistogramMetricFamily("driftline_run_duration_seconds", "Duration of runs.", labels=mm)
        current = GaugeMetricFamily("driftline_last_run_status", "1 for the status of the latest run, 0 for the others.",
                                    labels=[*mm, "status"])
        for m in self._s.monitors:
            key = [m.name, m.model]
            for status in _STATUSES:
                total.add_metric([*key, status], float(m.stats.by_status.get(status, 0)))
                if m.latest is not None:
                    current.add_metric([*key, status], float(m.latest.status == status))
                if status in m.stats.last_by_status:
                    last.add_metric([*key, status], m.stats.last_by_status[status].timestamp())
            if m.stats.last_successful is not None:
                ok.add_metric(key, m.stats.last_successful.timestamp())
            if m.stats.duration_buckets:
                buckets = [(str(b), float(c)) for b, c in zip(DURATION_BUCKETS, m.stats.duration_buckets, strict=True)]
                buckets.append(("+Inf", float(m.stats.duration_count)))
                duration.add_metric(key, buckets, m.stats.duration_sum)
        yield from (total, last, ok, duration, current)

    def _service(self) -> Iterator[Metric]:
        ingested = CounterMetricFamily("driftline_predictions_ingested", "Prediction rows accepted.", labels=["model"])
        for model, n in sorted(self._s.ingested.items()):
            ingested.add_metric([model], float(n))
        deliveries = CounterMetricFamily("driftline_webhook_deliveries", "Webhook delivery attempts.",
                                         labels=["target", "outcome"])
        attempts = dict.fromkeys(((t, o) for t in self._s.targets for o in DELIVERY_OUTCOMES), 0)
        for (target_name, outcome), n in sorted({**attempts, **self._s.deliveries}.items()):
            deliveries.add_metric([target_name, outcome], float(n))
        dead = GaugeMetricFamily("driftline_webhook_dead_letters", "Deliveries that exhausted their retries.",
                                 labels=["target"])
        for target_name, n in sorted({**dict.fromkeys(self._s.targets, 0), **self._s.dead_letters}.items()):
            dead.add_metric([target_name], float(n))
        retrain = CounterMetricFamily("driftline_retrain_triggers", "Retraining triggers.",
                                      labels=["monitor", "model", "outcome"])
        triggers = dict.fromkeys(((m.name, m.model, o) for m in self._s.monitors for o in _RETRAIN_OUTCOMES), 0)
        for (monitor, model, outcome), n in sorted({**triggers, **self._s.retrain_triggers}.items()):
            retrain.add_metric([monitor, model, outcome], float(n))
        build = GaugeMetricFamily("driftline_build_info", "The running build.", labels=["version", "python"])
        build.add_metric([self._s.version, platform.python_version()], 1.0)
        url = GaugeMetricFamily("driftline_public_url_info", "Driftline's URL as people reach it (DRIFTLINE_PUBLIC_URL).",
                                labels=["url"])
        if self._s.public_url:
            url.add_metric([self._s.public_url.rstrip("/")], 1.0)
        yield from (ingested, deliveries, dead, retrain, build, url)


