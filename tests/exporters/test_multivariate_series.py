"""``driftline_multivariate_drift_score`` / ``_detected``: one series per monitor and method, both renderers alike."""

from __future__ import annotations

import dataclasses

from exporters.text import render_text
from monitor.stats.multivariate import MultivariateMethod, MultivariateResult
from tests.exporters.test_collector import make_snapshot, render, samples


def _with_results() -> object:
    snap = make_snapshot()
    (mon,) = snap.monitors
    assert mon.verdict is not None
    results = (MultivariateResult(method=MultivariateMethod.PCA_RECONSTRUCTION, statistic=2.5, threshold=1.9,
                                  p_value=0.001, drifted=True),
               MultivariateResult(method=MultivariateMethod.DOMAIN_CLASSIFIER, statistic=0.51, threshold=0.55,
                                  p_value=0.4, drifted=False))
    run = dataclasses.replace(mon.verdict, multivariate=results)
    return dataclasses.replace(snap, monitors=(dataclasses.replace(mon, verdict=run, latest=run),))


def test_scores_and_verdicts_per_method() -> None:
    got = samples(render(_with_results()))  # type: ignore[arg-type]
    base = (("model", "churn-v3"), ("monitor", "churn"))
    def key(name: str, method: str) -> tuple[str, tuple[tuple[str, str], ...]]:
        return name, tuple(sorted((*base, ("method", method))))
    assert got[key("driftline_multivariate_drift_score", "pca_reconstruction")] == 2.5
    assert got[key("driftline_multivariate_drift_detected", "pca_reconstruction")] == 1.0
    assert got[key("driftline_multivariate_drift_score", "domain_classifier")] == 0.51
    assert got[key("driftline_multivariate_drift_detected", "domain_classifier")] == 0.0
    assert not [k for k in got if k[0].startswith("driftline_multivariate") and ("method", "mmd") in k[1]]


def test_the_text_renderer_gives_the_same_samples() -> None:
    snap = _with_results()
    assert samples(render_text(snap).decode()) == samples(render(snap))  # type: ignore[arg-type]
