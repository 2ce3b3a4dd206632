"""DLE (direct loss estimation): a regressor's MAE and RMSE estimated without labels."""

from __future__ import annotations

from types import ModuleType

from monitor.errors import MissingExtra


def _sklearn_ensemble() -> ModuleType:
    """scikit-learn's ensemble module, imported on first use: it is the optional ``estimate`` extra."""
    try:
        import sklearn.ensemble
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("sklearn"):
            raise
        raise MissingExtra("DLE (estimated regression performance)", "estimate") from None
    ensemble: ModuleType = sklearn.ensemble
    return ensemble
