"""A monitor's ``multivariate:`` methods in the service: config, reference fit, run, alert rule and report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from alerts.rules import condition_holds
from monitor.config import Settings
from monitor.domain import AlertRule, Condition, Run, RunStatus
from monitor.reports._multivariate import multivariate_section
from monitor.run.bundle import ReferenceBundle
from monitor.run.evaluate import evaluate, fit_reference
from monitor.service import MonitorService
from monitor.stats.multivariate import MultivariateMethod
from monitor.storage import Store
from tests.storage.builders import config_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JOINT = {"name": "joint", "model": "m", "multivariate": ["pca_reconstruction", "domain_classifier"],
         "schema": {"numerical": ["a", "b", "noise"], "categorical": ["plan"]},
         "alerts": [{"name": "joint-drift", "when": "multivariate_drift"}]}


def frame(n: int, rho: float, rng: np.random.Generator) -> pd.DataFrame:
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    return pd.DataFrame({"prediction_id": [uuid.uuid4().hex for _ in range(n)],
                         "timestamp": pd.Series([T0] * n, dtype="datetime64[us, UTC]"),
                         "a": z[:, 0], "b": z[:, 1], "noise": rng.normal(size=n),
                         "plan": rng.choice(["free", "pro"], size=n), "prediction": rng.choice(["yes", "no"], size=n)})


def empty_run() -> Run:
    return Run(id="r", monitor="joint", model="m", status=RunStatus.OK, window_start=T0 - timedelta(hours=1),
               window_end=T0, rows=0, started_at=T0, finished_at=T0)


def test_config_names_the_methods_and_refuses_bad_ones() -> None:
    (monitor,) = config_of(JOINT).to_domain().monitors
    assert monitor.multivariate == (MultivariateMethod.PCA_RECONSTRUCTION, MultivariateMethod.DOMAIN_CLASSIFIER)
    assert monitor.alerts[0].when is Condition.MULTIVARIATE_DRIFT
    with pytest.raises(ValidationError, match="multivariate"):
        config_of({**JOINT, "multivariate": ["pca"]})
    with pytest.raises(ValidationError, match="multivariate_drift needs"):
        config_of({**JOINT, "multivariate": []})


def test_a_correlation_flip_drifts_the_run_and_fires_the_rule() -> None:
    (monitor,) = config_of(JOINT).to_domain().monitors
    rng = np.random.default_rng(4)
    bundle = ReferenceBundle.from_bytes(fit_reference(monitor, frame(3000, 0.8, rng)).to_bytes())  # stored, read back
    assert bundle.multivariate is not None
    run = evaluate(monitor, bundle, frame(600, -0.8, rng), empty_run())
    assert [m.method for m in run.multivariate] == list(monitor.multivariate)
    assert all(m.drifted for m in run.multivariate)
    assert run.dataset is not None and not run.dataset.dataset_drift  # the per-column verdict sees nothing
    assert run.status is RunStatus.DRIFT
    rule = AlertRule(name="joint-drift", when=Condition.MULTIVARIATE_DRIFT)
    assert condition_holds(rule, run)
    quiet = evaluate(monitor, bundle, frame(600, 0.8, rng), empty_run())
    assert not any(m.drifted for m in quiet.multivariate) and not condition_holds(rule, quiet)
    html = multivariate_section(run)
    assert html.count('class="mv-row"') == 2 and 'data-drifted="true"' in html


def test_a_monitor_without_methods_fits_and_reports_none() -> None:
    (monitor,) = config_of({**JOINT, "multivariate": [], "alerts": []}).to_domain().monitors
    rng = np.random.default_rng(5)
    bundle = fit_reference(monitor, frame(500, 0.8, rng))
    assert bundle.multivariate is None
    assert evaluate(monitor, bundle, frame(200, -0.8, rng), empty_run()).multivariate == ()


@pytest.mark.anyio
@pytest.mark.parametrize("added", [{"multivariate": ["pca_reconstruction"]},
                                   {"segments": ["plan"], "segment_min_rows": 20}])
async def test_methods_or_segments_added_to_a_monitor_refit_its_unchanged_file_reference(
        added: dict[str, object], tmp_path: Path) -> None:
    """The same file, a monitor that now names extra fits: one new version that has them (not the old one kept)."""
    path = tmp_path / "reference.csv"
    frame(400, 0.8, np.random.default_rng(6)).drop(columns=["prediction_id", "timestamp"]).to_csv(path, index=False)
    base = {**JOINT, "multivariate": [], "alerts": [], "reference": {"type": "file", "path": str(path)}}
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", config_of(base))
    store.upgrade()

    async def restart(spec: dict[str, object]) -> ReferenceBundle:
        config = config_of(spec)
        svc = MonitorService(Settings(scheduler=False), config, store)
        await svc.start()
        await svc.stop()
        active = store.active_reference("joint")
        record = store.reference("joint", active.version) if active is not None else None
        assert record is not None
        return ReferenceBundle.from_bytes(record.profile)

    try:
        before = await restart(base)
        assert before.multivariate is None and before.segments == ()
        after = await restart({**base, **added})
        assert [r.version for r in store.references("joint")] == [1, 2]
        assert (after.multivariate is not None) == ("multivariate" in added)
        assert (len(after.segments) == 1) == ("segments" in added)
        assert after.profile.content_hash == before.profile.content_hash  # the same data, more fitted
        await restart({**base, **added})
        assert [r.version for r in store.references("joint")] == [1, 2]  # known since: not refitted again
    finally:
        store.dispose()
