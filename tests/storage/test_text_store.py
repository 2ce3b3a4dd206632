"""Text features through ingest and the store (SQLite, PostgreSQL, the fake): stored as text, read back, tested.

Embedding features go the same way (JSON arrays in, float32 vectors back; tests/storage/
test_store_embeddings.py has the details), and a window whose rows carry no vector reads its
column as missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.errors import InputError
from monitor.ingest import Format, parse_batch, prediction_spec
from monitor.stats.check import check
from monitor.stats.profile import fit_profile
from monitor.stats.types import ColumnType, DriftMethod
from tests.storage.builders import T0, config_of
from tests.storage.conftest import StoreUnderTest

CHAT = {"name": "chat", "model": "chat-v1", "schema": {"numerical": ["latency"], "text": ["prompt"],
                                                       "embedding": {"vec": 3}, "target": None}}


def _body(prompts: list[str], start: int) -> bytes:
    rows = [{"prediction_id": f"p{start + i}", "timestamp": (T0 + timedelta(seconds=start + i)).isoformat(),
             "prediction": "yes", "latency": 1.0, "prompt": p} for i, p in enumerate(prompts)]
    return json.dumps(rows).encode()


def test_text_features_are_stored_read_back_and_tested(
        make_store: Callable[[DriftlineConfig], StoreUnderTest]) -> None:
    config = config_of(CHAT)
    store = make_store(config)
    store.upgrade()
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(50)]
    prompts = [" ".join(rng.choice(words, 6)) + " — ünïcode ✓" for _ in range(120)]
    spec = prediction_spec(config, "chat-v1")
    frame = parse_batch(_body(prompts, 0), Format.JSON, spec, now=T0)
    assert store.ingest_predictions("chat-v1", frame).accepted == 120
    monitor = config.to_domain().monitors[0]
    window = store.read_window(monitor, WindowSpec(end=T0 + timedelta(hours=1), start=T0))
    assert sorted(window["prompt"].tolist()) == sorted(prompts)
    assert window["vec"].isna().all()
    profile = fit_profile(window[["prompt"]], types={"prompt": ColumnType.TEXT})
    result = check(profile, window[["prompt"]])
    assert result.columns[0].method is DriftMethod.TEXT_DOMAIN_CLASSIFIER and not result.columns[0].drifted


def test_embeddings_of_an_ingest_batch_are_stored_and_read_back(
        make_store: Callable[[DriftlineConfig], StoreUnderTest]) -> None:
    config = config_of(CHAT)
    store = make_store(config)
    store.upgrade()
    vectors = np.random.default_rng(4).normal(size=(40, 3))
    rows = [{"prediction_id": f"p{i}", "timestamp": (T0 + timedelta(seconds=i)).isoformat(), "prediction": "yes",
             "vec": v.tolist()} for i, v in enumerate(vectors)]
    frame = parse_batch(json.dumps(rows).encode(), Format.JSON, prediction_spec(config, "chat-v1"), now=T0)
    assert store.ingest_predictions("chat-v1", frame).accepted == 40
    window = store.read_window(config.to_domain().monitors[0], WindowSpec(end=T0 + timedelta(hours=1), start=T0))
    got = np.stack(window["vec"].tolist())
    np.testing.assert_allclose(got, vectors, rtol=2**-23)  # float32 precision
    profile = fit_profile(window[["vec"]].iloc[:20], types={"vec": ColumnType.EMBEDDING})
    assert check(profile, window[["vec"]].iloc[20:]).columns[0].method is DriftMethod.EMBEDDING_MMD


def test_a_vector_of_the_wrong_length_in_an_ingest_batch_is_refused_naming_it() -> None:
    config = config_of(CHAT)
    body = json.dumps([{"prediction_id": "a", "timestamp": T0.isoformat(), "prediction": "yes",
                        "vec": [0.1, 0.2]}]).encode()
    with pytest.raises(InputError, match="vec"):
        parse_batch(body, Format.JSON, prediction_spec(config, "chat-v1"), now=T0)
