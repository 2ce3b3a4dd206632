"""``/metrics`` with 50 monitors x 100 features on PostgreSQL: read the snapshot + render.

Driftline's path is what the route does per scrape: ``build_snapshot`` (aggregate queries over
the stored runs) and rendering a ``DriftCollector`` in a fresh registry. The peer renders the same
numbers the way most exporters do, with prometheus_client ``Gauge`` objects set label by label
(``labels(...).set(...)``) and ``generate_latest``, given the same snapshot (so without the reads).

Usage: ``python benchmarks/bench_metrics.py [--monitors 50] [--features 100] [--runs 20]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from exporters import DriftCollector
from exporters.build import build_snapshot
from exporters.text import render_text
from monitor.config import DriftlineConfig
from monitor.domain import DatasetSummary, FeatureResult, Role, Run, RunStatus
from monitor.storage import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def make_run(monitor: str, features: list[str], i: int) -> Run:
    feats = tuple(FeatureResult(
        column=f, role=Role.FEATURE, type="numerical", method="wasserstein", reason="auto", statistic=0.01 * (k % 20),
        p_value=None, adjusted_p_value=None, threshold=0.1, drifted=k % 7 == 0, status="ok", n_reference=1000,
        n_current=1000, missing_reference=0, missing_current=k % 3, missing_p_value=0.5, missing_drifted=False)
        for k, f in enumerate(features))
    end = T0 + timedelta(minutes=i)
    return Run(id=uuid.uuid4().hex, monitor=monitor, model=monitor, status=RunStatus.DRIFT, window_start=end,
               window_end=end, rows=1000, started_at=end, finished_at=end + timedelta(seconds=0.3),
               dataset=DatasetSummary(drift_share=0.14, drifted_features=15, total_features=len(features),
                                      dataset_drift=False, threshold=0.5), features=feats)


@contextmanager
def bench_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of its own, dropped after
    (``DRIFTLINE_BENCH_POSTGRES_URL``, default the local test database)."""
    admin_url = os.environ.get("DRIFTLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def peer_render(snapshot) -> bytes:  # type: ignore[no-untyped-def]
    registry = CollectorRegistry()
    labels = ["monitor", "model", "feature", "method"]
    score = Gauge("driftline_feature_drift_score", "score", labels, registry=registry)
    threshold = Gauge("driftline_feature_drift_threshold", "threshold", labels, registry=registry)
    detected = Gauge("driftline_feature_drift_detected", "detected", labels, registry=registry)
    for m in snapshot.monitors:
        for f in m.latest.features[: snapshot.max_features]:
            key = (m.name, m.model, f.column, f.method)
            score.labels(*key).set(f.statistic)
            threshold.labels(*key).set(f.threshold)
            detected.labels(*key).set(float(f.drifted))
    return generate_latest(registry)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--monitors", type=int, default=50)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--max-features", type=int, default=50, help="the per-monitor cap (default: the setting's 50)")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    with bench_schema() as url:
        features = [f"f{k:03d}" for k in range(args.features)]
        config = DriftlineConfig.model_validate({"monitors": [
            {"name": f"m{i:02d}", "model": f"m{i:02d}", "every": "15m", "schema": {"numerical": features}}
            for i in range(args.monitors)]})
        store = Store.from_url(url, config)
        try:
            store.upgrade()
            for m in config.monitors:
                for i in range(args.runs):
                    store.save_run(make_run(m.name, features, i))
            ours, peer, sizes = [], [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                snapshot = build_snapshot(store, config, max_features=args.max_features, version="bench")
                read = time.perf_counter() - t
                body = render_text(snapshot)
                ours.append((time.perf_counter() - t, read))
                sizes.append(len(body))
                t = time.perf_counter()
                peer_render(snapshot)
                peer.append(time.perf_counter() - t)
            best = min(ours)
            med = sorted(ours)[len(ours) // 2]
            print(f"# {args.monitors} monitors x {args.features} features, {args.runs} runs each, PostgreSQL; "
                  f"{sizes[-1] / 1024:.0f} KiB of text\n")
            print("| path | best ms | median ms |")
            print("|---|---|---|")
            print(f"| Driftline /metrics (snapshot read + render, cache warm) | {best[0] * 1e3:.1f} | {med[0] * 1e3:.1f} |")
            print(f"|  of which the snapshot read | {best[1] * 1e3:.1f} | {med[1] * 1e3:.1f} |")
            t = time.perf_counter()
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DriftCollector(snapshot))
            generate_latest(registry)
            print(f"| DriftCollector + generate_latest (render only) | {(time.perf_counter() - t) * 1e3:.1f} | |")
            print(f"| Gauge objects set per label, 3 feature metrics only (render only) | {min(peer) * 1e3:.1f} | "
                  f"{sorted(peer)[len(peer) // 2] * 1e3:.1f} |")
        finally:
            store.dispose()


if __name__ == "__main__":
    main()
