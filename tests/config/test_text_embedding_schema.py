"""driftline.yaml: ``schema.text`` and ``schema.embedding`` reach the domain and the reference fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.config import ConfigErrors, load_config
from monitor.run.evaluate import fit_reference
from monitor.stats.embedding import EmbeddingProfile
from monitor.stats.text import TextProfile
from monitor.stats.types import ColumnType, DriftMethod

CONFIG = """\
monitors:
  - name: chat
    model: chat-v1
    schema:
      numerical: [latency]
      text: [prompt, response]
      embedding: {query_vec: 4}
    every: 15m
    features:
      query_vec: {method: embedding_classifier}
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    return load_config(path)


def test_text_and_embedding_features_reach_the_domain(tmp_path: Path) -> None:
    monitor = _load(tmp_path, CONFIG).to_domain().monitors[0]
    s = monitor.schema
    assert s.features == ("latency", "prompt", "response", "query_vec")
    assert s.dims == {"query_vec": 4}
    assert s.types() == {"latency": ColumnType.NUMERICAL, "prompt": ColumnType.TEXT, "response": ColumnType.TEXT,
                         "query_vec": ColumnType.EMBEDDING, "prediction": ColumnType.CATEGORICAL}
    assert monitor.check_options().columns["query_vec"].method is DriftMethod.EMBEDDING_CLASSIFIER
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"latency": rng.normal(size=60), "prompt": [f"hello {i}" for i in range(60)],
                          "response": [f"world {i % 7}" for i in range(60)],
                          "query_vec": list(rng.normal(size=(60, 4))), "prediction": ["a", "b"] * 30})
    profile = fit_reference(monitor, frame).profile
    assert isinstance(profile.columns["prompt"], TextProfile)
    assert isinstance(profile.columns["query_vec"], EmbeddingProfile) and profile.columns["query_vec"].dim == 4


@pytest.mark.parametrize(("schema", "message"), [
    ("embedding: {v: 0}", "embedding 'v': dim 0 is not between 1 and 8192"),
    ("embedding: {latency: 4}", "column 'latency' is listed twice"),
])
def test_bad_declarations_are_refused_with_their_key(tmp_path: Path, schema: str, message: str) -> None:
    text = CONFIG.replace("      embedding: {query_vec: 4}\n", f"      {schema}\n").replace(
        "    features:\n      query_vec: {method: embedding_classifier}\n", "")
    with pytest.raises(ConfigErrors) as err:
        _load(tmp_path, text)
    assert any(message in e for e in err.value.errors), err.value.errors


def test_a_method_of_another_kind_is_refused_for_a_text_feature(tmp_path: Path) -> None:
    text = CONFIG.replace("query_vec: {method: embedding_classifier}", "prompt: {method: ks, alpha: 0.05}")
    with pytest.raises(ConfigErrors) as err:
        _load(tmp_path, text)
    assert any("ks does not apply to text feature 'prompt'; use one of: text_domain_classifier" in e
               for e in err.value.errors), err.value.errors
