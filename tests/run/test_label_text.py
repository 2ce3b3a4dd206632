"""Labels and predictions become text as ``str()`` makes them, whatever the column's dtype."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.run.bundle import _text_labels
from monitor.run.evaluate import _labels
from monitor.stats.types import Task

CASES = [
    pd.Series(["a", "b", None, "1"]), pd.Series([1, 0, 1]), pd.Series([1.0, np.nan, 0.5]),
    pd.Series([True, False, None], dtype=object), pd.Series([True, False]),
    pd.Series(["x", "y", None], dtype="category"), pd.Series([1, None, 3], dtype="Int64"),
    pd.Series(["é", "😀", pd.NA], dtype="string"), pd.Series([1, "a", 2.5, None], dtype=object),
    pd.Series(np.array([1, 2], dtype=np.uint8)), pd.Series([pd.Timestamp("2026-01-01"), None]),
    pd.Series([1e20, 1 / 3]), pd.Series(np.array([0.5, 1], dtype=np.float32)),
]


@pytest.mark.parametrize("values", CASES, ids=lambda s: str(s.dtype))
def test_classification_labels_are_str_of_each_value_and_none_when_missing(values: pd.Series) -> None:
    got = _labels(values, Task.CLASSIFICATION)
    want = [None if pd.isna(v) else str(v) for v in values.astype(object).tolist()]
    assert list(got) == want
    present = np.array([w is not None for w in want])
    assert list(_text_labels(got[present])) == [w for w in want if w is not None]
