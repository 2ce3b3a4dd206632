"""A monitor's fitted reference as the run keeps it: the drift profile plus compact labelled rows.

Why codes: a labelled reference of a million rows held as object arrays of strings costs ~60 MB
of Python objects per label column and a multi-second ``np.unique`` on every run. Classification
labels are therefore kept as ``int32`` codes into ``classes`` (the sorted distinct labels, as
text), and only the labelled rows are kept. Codes keep the order of the sorted labels, so every
rule that depends on label order (the positive label of a binary task is the larger one) gives
the same answer on codes as on the labels.

Why a memo: the reference's own metrics do not change between runs, so they are computed once
per fitted version (on first use) and kept with it in the registry's cache; so is the reference
side of the degradation test (:class:`~monitor.stats.degradation.PreparedReference`: sorted
scores, label codes, per-block statistics), so a run's cost does not grow with the reference.

Estimators: a CBPE model (plain values, stored as JSON) is fitted with the reference when the
monitor estimates performance; a bundle stored before that is fitted on first use from its
labelled rows and scores (:meth:`ReferenceBundle.cbpe_model`). A DLE model holds scikit-learn
regressors and is stored pickled (the service's own database is its only reader); one that no
longer loads (another scikit-learn) is dropped and the run estimates nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError, InsufficientData
from monitor.run.segments import SegmentProfiles, segments_from_arrays, segments_to_arrays
from monitor.stats.degradation import PreparedReference, ScoredSample
from monitor.stats.estimation.cbpe import CbpeModel, fit_cbpe
from monitor.stats.estimation.dle import DleModel
from monitor.stats.multivariate.fit import MultivariateReference
from monitor.stats.performance import PerformanceResult, Task, classification_metrics, regression_metrics
from monitor.stats.profile import ReferenceProfile, profile_from_bytes, profile_to_bytes

__all__ = ["LabelCodes", "ReferenceBundle", "encode_window", "reference_labels"]

_Array = NDArray[np.generic]
_T = TypeVar("_T")

logger = logging.getLogger(__name__)


def _text_labels(values: _Array) -> NDArray[np.str_]:
    """``str()`` of every label, by NumPy's conversion loop (a list comprehension cost 0.27 s per 1M labels)."""
    return np.asarray(values, dtype=object).astype(np.str_) if values.size else np.asarray([], dtype=np.str_)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelCodes:
    """Truth and prediction of labelled rows as codes into one sorted vocabulary."""

    classes: NDArray[np.str_]
    y_true: NDArray[np.int32]
    y_pred: NDArray[np.int32]

    def remapped(self, classes: NDArray[np.str_]) -> LabelCodes:
        """The same rows coded into ``classes``, a sorted superset of this vocabulary."""
        if classes.size == self.classes.size:
            return self
        lookup = np.searchsorted(classes, self.classes).astype(np.int32)
        return LabelCodes(classes=classes, y_true=lookup[self.y_true], y_pred=lookup[self.y_pred])


_Labelled = tuple[_Array, _Array, NDArray[np.float64] | None, NDArray[np.str_] | None]


def reference_labels(task: Task, y_true: _Array, y_pred: _Array, y_score: NDArray[np.float64] | None) -> _Labelled:
    """The reference's labelled rows in the bundle's form: codes and classes for classification.

    Rows without a truth are dropped (they carry no performance information); a labelled row
    without a prediction is refused here, at fit time, naming the row.
    """
    labelled = ~np.asarray(pd.isna(y_true), dtype=bool)
    missing = np.flatnonzero(labelled & np.asarray(pd.isna(y_pred), dtype=bool))
    if missing.size:
        raise InputError(f"reference prediction is missing at row {int(missing[0])}; every labelled row needs "
                         "a prediction", field="prediction", row=int(missing[0]))
    t, p = y_true[labelled], y_pred[labelled]
    score = None if y_score is None else y_score[labelled]
    if task is Task.REGRESSION:
        return t, p, score, None
    tt, pt = _text_labels(t), _text_labels(p)
    classes = np.unique(np.concatenate([tt, pt]))
    return (np.searchsorted(classes, tt).astype(np.int32), np.searchsorted(classes, pt).astype(np.int32),
            score, classes)


def encode_window(classes: NDArray[np.str_], y_true: _Array, y_pred: _Array) -> tuple[NDArray[np.str_], LabelCodes]:
    """Code a window's labelled rows into the union of ``classes`` and the window's labels.

    Returns the union (sorted) and the window's codes; a missing prediction raises as the core's
    metrics do.
    """
    missing = np.flatnonzero(np.asarray(pd.isna(y_pred), dtype=bool))
    if missing.size:
        raise InputError(f"y_pred is missing at row {missing[0]}; every row needs a prediction",
                         field="y_pred", row=int(missing[0]))
    tt, pt = _text_labels(y_true), _text_labels(y_pred)
    union = np.union1d(classes, np.unique(np.concatenate([tt, pt]))) if tt.size else classes
    return union, LabelCodes(classes=union, y_true=np.searchsorted(union, tt).astype(np.int32),
                             y_pred=np.searchsorted(union, pt).astype(np.int32))


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceBundle:
    """A monitor's fitted reference: the drift profile plus the labelled rows for performance.

    For classification ``y_true``/``y_pred`` are ``int32`` codes into ``classes``; for
    regression they are float arrays and ``classes`` is ``None``. Only labelled rows are kept.
    """

    profile: ReferenceProfile
    y_true: _Array | None
    y_pred: _Array | None
    y_score: NDArray[np.float64] | None = None
    classes: NDArray[np.str_] | None = None
    #: The monitor's multivariate methods fitted on this reference (``None``: it names none).
    multivariate: MultivariateReference | None = None
    #: Per-segment-value profiles of the monitor's declared segments (monitor.run.segments).
    segments: tuple[SegmentProfiles, ...] = ()
    #: The fitted CBPE model (classification with scores), or None (not fitted yet, or not possible).
    cbpe: CbpeModel | None = None
    #: The fitted DLE model (regression, opted in), or None.
    dle: DleModel | None = None
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def content_hash(self) -> str:
        """What identifies this fit among a monitor's versions: the profile's hash, extended by the extra fits.

        A reference fitted before the monitor named multivariate methods or segments has the same
        profile as one fitted after, but not the same fits: were the versions compared by the
        profile alone, adding ``multivariate:`` or ``segments:`` to a monitor would never store a
        version that has them (its runs would carry no multivariate or segment results). With no
        extra fit the hash is the profile's, so versions stored before this rule stay equal.
        """
        extras = [f"multivariate:{','.join(sorted(str(m) for m in self.multivariate.methods))}"
                  if self.multivariate is not None else "",
                  *(f"segment:{'+'.join(s.columns)}:{s.min_rows}" for s in self.segments)]
        extras = [e for e in extras if e]
        if not extras:
            return self.profile.content_hash
        return hashlib.sha256("|".join([self.profile.content_hash, *extras]).encode()).hexdigest()

    @property
    def labelled(self) -> bool:
        """Whether the reference carries labels (performance can be compared)."""
        return self.y_true is not None and self.y_pred is not None and self.y_true.size > 0

    def codes(self) -> LabelCodes:
        """The classification labels as :class:`LabelCodes` (raises for a regression bundle)."""
        if self.classes is None or self.y_true is None or self.y_pred is None:
            raise ValueError("a regression reference or one without labels has no label codes")
        return LabelCodes(classes=self.classes, y_true=self.y_true.astype(np.int32, copy=False),
                          y_pred=self.y_pred.astype(np.int32, copy=False))

    def metrics(self, task: Task, *, with_score: bool) -> PerformanceResult:
        """The reference's own metrics, computed on first use and kept (they never change)."""
        key = f"metrics:{task}:{with_score}"
        with self._lock:
            cached = self._memo.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        assert self.y_true is not None and self.y_pred is not None
        if task is Task.REGRESSION:
            result = regression_metrics(self.y_true, self.y_pred)
        elif with_score and self.y_score is not None:
            result = classification_metrics(self.y_true, self.y_pred, y_score=self.y_score)
        else:
            result = classification_metrics(self.y_true, self.y_pred)
        with self._lock:
            self._memo[key] = result
        return result

    def memoised(self, key: str, make: Callable[[], _T]) -> _T:
        """``make()`` computed on first use and kept with this fitted version under ``key``."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            self._memo[key] = value
        return value

    def degradation_reference(self, classes: NDArray[np.str_] | None, *, with_score: bool) -> PreparedReference:
        """The reference side of the degradation test, prepared once and kept (its sorted scores,
        label codes and per-block statistics are then reused by every run).

        ``classes``: the vocabulary the window's codes use (the union of the reference's labels
        and the window's, see :func:`encode_window`); ``None`` for regression. The reference's
        own vocabulary is kept for good; one other (a window with labels the reference never
        saw) is kept until the next such vocabulary replaces it.
        """
        assert self.y_true is not None and self.y_pred is not None
        own = classes is None or self.classes is None or classes.size == self.classes.size
        key = f"degradation:{with_score}:{'own' if own else 'other'}"
        vocabulary = () if own or classes is None else tuple(classes.tolist())
        with self._lock:
            cached = self._memo.get(key)
        if cached is not None and cached[0] == vocabulary:
            return cached[1]  # type: ignore[no-any-return]
        y_true, y_pred = self.y_true, self.y_pred
        if classes is not None and self.classes is not None:
            coded = self.codes().remapped(classes)
            y_true, y_pred = coded.y_true, coded.y_pred
        prepared = PreparedReference(ScoredSample(y_true=y_true, y_pred=y_pred,
                                                  y_score=self.y_score if with_score else None))
        with self._lock:
            self._memo[key] = (vocabulary, prepared)
        return prepared

    def cbpe_model(self) -> CbpeModel | None:
        """The CBPE model: the stored one, else fitted once from the labelled rows and their scores.

        None when CBPE cannot be fitted: no labels or scores, a score missing on a labelled row, fewer
        than 100 labelled rows or a single class (the reason is logged once).
        """
        if self.cbpe is not None:
            return self.cbpe
        with self._lock:
            if "cbpe" in self._memo:
                return self._memo["cbpe"]  # type: ignore[no-any-return]
        model = None
        try:
            model = fit_bundle_cbpe(self)
        except (InputError, InsufficientData) as exc:
            logger.warning("CBPE not fitted on the reference: %s", exc)
        with self._lock:
            self._memo["cbpe"] = model
        return model

    def to_bytes(self) -> bytes:
        """One ``.npz`` holding the profile's own ``.npz`` bytes, the labelled columns and the estimators."""
        arrays: dict[str, _Array] = {"profile": np.frombuffer(profile_to_bytes(self.profile), dtype=np.uint8)}
        for name in ("y_true", "y_pred", "y_score", "classes"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value)
        if self.cbpe is not None:
            arrays["cbpe"] = np.frombuffer(json.dumps(self.cbpe.to_dict()).encode(), dtype=np.uint8)
        if self.dle is not None:
            arrays["dle"] = np.frombuffer(pickle.dumps(self.dle), dtype=np.uint8)
        arrays.update(segments_to_arrays(self.segments))
        arrays.update(segments_to_arrays(self.segments))
        if self.multivariate is not None:
            arrays["multivariate"] = np.frombuffer(self.multivariate.to_bytes(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ReferenceBundle:
        """Read what :meth:`to_bytes` wrote (the profile's content hash is verified).

        Bundles written before labels were coded (fixed-width strings, unlabelled rows kept)
        are converted on load.
        """
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            profile = profile_from_bytes(data["profile"].tobytes())
            multivariate = (MultivariateReference.from_bytes(data["multivariate"].tobytes())
                            if "multivariate" in data.files else None)
            get = {k: data[k] for k in ("y_true", "y_pred", "y_score", "classes") if k in data.files}
            segments = segments_from_arrays({k: data[k] for k in data.files if k.startswith("segment_")})
            cbpe = CbpeModel.from_dict(json.loads(data["cbpe"].tobytes())) if "cbpe" in data.files else None
            dle = _load_dle(data["dle"].tobytes()) if "dle" in data.files else None
            segments = segments_from_arrays({k: data[k] for k in data.files if k.startswith("segment_")})
        y_true, y_pred, y_score, classes = get.get("y_true"), get.get("y_pred"), get.get("y_score"), get.get("classes")
        if classes is None and y_true is not None and y_pred is not None and y_true.dtype.kind == "U":
            # The earlier form: text labels, "None" for a missing truth.
            t = y_true.astype(object)
            t[y_true == "None"] = None
            y_true, y_pred, y_score, classes = reference_labels(Task.CLASSIFICATION, t, y_pred.astype(object), y_score)
        elif classes is None and y_true is not None and y_pred is not None:
            y_true, y_pred, y_score, _ = reference_labels(Task.REGRESSION, y_true, y_pred, y_score)
        return cls(profile=profile, multivariate=multivariate, y_true=y_true, y_pred=y_pred, y_score=y_score,
                   classes=classes, cbpe=cbpe, dle=dle,
                   segments=segments)


def fit_bundle_cbpe(bundle: ReferenceBundle) -> CbpeModel:
    """CBPE fitted on a classification bundle's labelled rows (labels as text, the scores as the
    positive class's); :class:`InsufficientData` or :class:`InputError` when it cannot be."""
    if bundle.classes is None or not bundle.labelled:
        raise InsufficientData("the reference has no classification labels", needed=1, got=0)
    if bundle.y_score is None:
        raise InputError("the reference has no prediction_score column: CBPE needs the model's scores",
                         field="prediction_score")
    codes = bundle.codes()
    return fit_cbpe(bundle.classes[codes.y_true], bundle.classes[codes.y_pred], bundle.y_score)


def _load_dle(blob: bytes) -> DleModel | None:
    try:
        model = pickle.loads(blob)  # written by to_bytes into the service's own store
    except Exception as exc:  # another scikit-learn, or scikit-learn not installed: estimate nothing
        logger.warning("stored DLE model not loaded (%s: %s); the runs estimate no regression metric",
                       type(exc).__name__, exc)
        return None
    return model if isinstance(model, DleModel) else None
