"""A reference fitted by the service takes each embedding's length from the schema, not from the data.

``schema.embedding: {vec: 4}`` declares 4 values per vector. A reference whose vectors have 3 was
fitted as a 3-dimensional embedding before ``fit_reference`` passed the schema's ``dims`` (the
first vector's length was used), so every 4-value window then failed; now the reference itself is
refused with the declared length named, for the whole reference and for each segment's profile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import Monitor
from monitor.errors import InputError
from monitor.run import fit_reference
from monitor.run.evaluate import conform
from monitor.run.segments import fit_segments
from monitor.stats.embedding import EmbeddingProfile


def monitor(**extra: object) -> Monitor:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "m", "model": "m", "every": "1h",
        "schema": {"numerical": ["x"], "categorical": ["country"], "embedding": {"vec": 4}, "target": None},
        **extra}]}).to_domain().monitors[0]


def frame(n: int, dim: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "country": rng.choice(["fr", "de"], n),
                         "vec": list(rng.normal(size=(n, dim))), "prediction": rng.choice(["a", "b"], n)})


def test_the_declared_length_is_the_profiles() -> None:
    profile = fit_reference(monitor(), frame(200, 4)).profile.columns["vec"]
    assert isinstance(profile, EmbeddingProfile) and profile.dim == 4


def test_a_reference_of_another_length_is_refused_naming_the_declared_one() -> None:
    with pytest.raises(InputError, match=r"column 'vec' row 0: 3 values; the embedding has dim 4"):
        fit_reference(monitor(), frame(200, 3))


def test_each_segments_profile_uses_the_declared_length_too() -> None:
    m = monitor(segments=["country"], segment_min_rows=30)
    ok = fit_segments(m, conform(m, frame(200, 4)))
    assert {v: p.columns["vec"].dim for v, p in ok[0].profiles.items()} == {"de": 4, "fr": 4}  # type: ignore[union-attr]
    with pytest.raises(InputError, match="the embedding has dim 4"):
        fit_segments(m, conform(m, frame(200, 3)))
