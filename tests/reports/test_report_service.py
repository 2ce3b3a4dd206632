"""MonitorService.report_html on the real store (SQLite): stored results, the cache, late labels, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from monitor.config import Settings
from monitor.domain import Run, RunStatus, WindowSpec
from monitor.errors import StorageError
from monitor.reports import ReportPages
from monitor.service import MonitorService
from monitor.storage import Store
from tests.reports._data import T0, Elements, make_config, make_frame

pytestmark = pytest.mark.anyio


class FixedClock:
    def now(self):  # type: ignore[no-untyped-def]
        return T0


@dataclass
class Live:
    service: MonitorService
    store: Store
    reads: list[WindowSpec]
    run: Run


@pytest.fixture()
async def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Live]:
    config = make_config()
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", config)
    store.upgrade()
    svc = MonitorService(Settings(scheduler=False), config, store, clock=FixedClock())
    await svc.start()
    await svc.register_reference("churn", make_frame(1000, start=T0 - timedelta(days=2), seed=1), source="test")
    store.ingest_predictions("churn-v3", make_frame(600, start=T0 - timedelta(hours=1), shift=12, seed=2,
                                                    new_plans=True, labels=False))
    run = await svc.run_now("churn")
    assert run.status is RunStatus.DRIFT
    reads: list[WindowSpec] = []
    real_read = svc._sources.own_store.read

    def counting_read(monitor, spec):  # type: ignore[no-untyped-def]
        reads.append(spec)
        return real_read(monitor, spec)

    monkeypatch.setattr(svc._sources.own_store, "read", counting_read)
    yield Live(service=svc, store=store, reads=reads, run=run)
    await svc.stop()
    store.dispose()


async def test_the_report_shows_the_stored_run(live: Live) -> None:
    page = await live.service.report_html(live.run.id)
    assert page is not None
    stored = live.store.get_run(live.run.id)
    assert stored is not None
    elements = Elements(page)
    rows = elements.with_class("feature-row", "tr")
    assert sorted((r["data-feature"], r["data-drifted"], float(r["data-statistic"])) for r in rows) == sorted(
        (f.column, str(f.drifted).lower(), f.statistic) for f in stored.features)
    charts = [c["data-feature"] for c in elements.with_class("dist-chart", "svg")]
    assert sorted(charts) == sorted(f.column for f in stored.features if f.status == "ok")
    assert live.reads == [WindowSpec(start=live.run.window_start, end=live.run.window_end)]
    assert "no longer stored" not in page and "could not be read" not in page


async def test_a_report_is_rendered_once_then_served_from_the_cache(live: Live) -> None:
    first = await live.service.report_html(live.run.id)
    second = await live.service.report_html(live.run.id)
    assert first == second and len(live.reads) == 1


async def test_late_labels_redraw_the_page_with_the_performance(live: Live) -> None:
    before = await live.service.report_html(live.run.id)
    assert before is not None and not Elements(before).with_class("perf-row")
    rows = live.store.read_window(make_config().monitor("churn").to_domain(),
                                  WindowSpec(start=live.run.window_start, end=live.run.window_end))
    labels = pd.DataFrame({"prediction_id": rows["prediction_id"], "label": rows["prediction"],
                           "timestamp": pd.Timestamp(T0)})
    assert live.store.ingest_labels("churn-v3", labels).updated == 600
    await live.service.labels_arrived("churn-v3")
    after = await live.service.report_html(live.run.id)
    assert after is not None
    accuracy = [a for a in Elements(after).with_class("perf-row", "tr") if a["data-metric"] == "accuracy"]
    assert accuracy and "Labelled rows: 600 of 600" in after
    assert len(live.reads) == 3  # first page, the recomputation's read, the redrawn page


async def test_an_unknown_run_has_no_report(live: Live) -> None:
    assert await live.service.report_html("no-such-run") is None


async def test_a_failed_window_read_still_serves_the_results_and_is_not_cached(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageError("could not connect to postgresql://u:s3cret@10.0.0.5/db")

    with monkeypatch.context() as m:
        m.setattr(live.store, "read_window", down)
        page = await live.service.report_html(live.run.id)
    assert page is not None and "could not be read (StorageError)" in page
    assert "s3cret" not in page and "10.0.0.5" not in page
    assert len(Elements(page).with_class("feature-row")) == len(live.run.features)
    again = await live.service.report_html(live.run.id)
    assert again is not None and "could not be read" not in again


async def test_the_cache_keeps_the_most_recently_used_pages(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live.service, "_reports", ReportPages(1))
    later = await live.service.run_at("churn", T0 + timedelta(minutes=15))
    live.reads.clear()  # the run's own read
    await live.service.report_html(live.run.id)
    await live.service.report_html(later.id)  # evicts the first page
    await live.service.report_html(live.run.id)
    assert len(live.reads) == 3
