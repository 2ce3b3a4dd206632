"""DLE: estimated MAE/RMSE track the realized ones under covariate shift (heteroscedastic errors, a fixed
P(y | x)), miss under concept shift and say so; a missing scikit-learn is one line naming the extra."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.errors import InputError, MissingExtra
from monitor.stats.estimation.dle import estimate_dle, fit_dle
from monitor.stats.estimation.types import WarningCode


def _data(rng: np.random.Generator, n: int, shift: float = 0.0, noise_slope: float = 1.0):
    """y = 2 x1 + noise whose scale grows with |x1| (and with the plan): the model y_hat = 2 x1 is
    right on average, so its error depends on where x lies: a shift of x moves MAE and RMSE."""
    x1 = rng.normal(shift, 1.0, size=n)
    plan = rng.choice(["basic", "pro"], size=n)
    scale = 0.2 + noise_slope * np.abs(x1) + np.where(plan == "pro", 0.5, 0.0)
    y = 2 * x1 + rng.normal(size=n) * scale
    return pd.DataFrame({"x1": x1, "plan": plan}), y, 2 * x1


def test_estimate_tracks_realized_mae_and_rmse_under_covariate_shift() -> None:
    rng = np.random.default_rng(0)
    x, y, p = _data(rng, 5000)
    model = fit_dle(x, y, p, seed=0)
    inside = total = 0
    maes = []
    for w in range(15):
        wx, wy, wp = _data(rng, 500, shift=-1.0 + 2.0 * w / 14)
        for e in estimate_dle(model, wx, wp, y_true=wy):
            assert e.lower is not None and e.upper is not None and e.realized is not None
            total += 1
            inside += e.lower <= e.realized <= e.upper
            if str(e.metric) == "mae":
                maes.append(e.realized)
    assert max(maes) - min(maes) > 0.3  # the shift moves the error
    assert inside / total >= 0.9, f"{inside} of {total} window-metrics inside the band"


def test_concept_shift_is_missed_and_flagged() -> None:
    rng = np.random.default_rng(1)
    x, y, p = _data(rng, 5000)
    model = fit_dle(x, y, p, seed=0)
    wx, wy, wp = _data(rng, 1000, noise_slope=3.0)  # P(y | x) changed: the noise triples
    results = estimate_dle(model, wx, wp, y_true=wy, concept_drift=True)
    for e in results:
        assert e.upper is not None and e.realized is not None and e.realized > e.upper
        codes = {w.code for w in e.warnings}
        assert {WarningCode.CONCEPT_DRIFT, WarningCode.REALIZED_OUTSIDE_BAND} <= codes


def test_unseen_category_missing_column_and_determinism() -> None:
    rng = np.random.default_rng(2)
    x, y, p = _data(rng, 2000)
    a, b = fit_dle(x, y, p, seed=3), fit_dle(x, y, p, seed=3)
    wx, _, wp = _data(rng, 200)
    assert [e.to_dict() for e in estimate_dle(a, wx, wp)] == [e.to_dict() for e in estimate_dle(b, wx, wp)]
    wx.loc[:9, "plan"] = "enterprise"
    assert WarningCode.UNSEEN_CATEGORY in {w.code for w in estimate_dle(a, wx, wp)[0].warnings}
    with pytest.raises(InputError, match="'plan'") as info:
        estimate_dle(a, wx.drop(columns="plan"), wp)
    assert info.value.field == "plan"


def test_without_scikit_learn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_sklearn(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "sklearn" or name.startswith("sklearn."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    rng = np.random.default_rng(4)
    x, y, p = _data(rng, 200)
    with pytest.raises(MissingExtra) as info:
        fit_dle(x, y, p)
    assert str(info.value) == ("DLE (estimated regression performance) needs the estimate extra: "
                               "pip install 'driftline[estimate]'")
    assert info.value.extra == "estimate"
