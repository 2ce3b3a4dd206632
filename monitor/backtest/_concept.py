"""The concept-drift detector over a stored monitor's windows, as the scheduler would run it.

Each checked window advances one detector state (``monitor.run.concept.concept_step``, the same
function a scheduled run calls), starting fresh on the active reference's error level; a window
whose step found a change point is an alarm of the ``concept`` signal. ``--inject concept:S@T``
flips a share ``S`` of the labels at or after ``T`` (each to another of the reference's classes,
drawn with the seeded generator): the ground truth for the detector's delay and power.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.backtest._inject import Injection, InjectionKind
from monitor.domain import Monitor
from monitor.errors import InputError
from monitor.run.bundle import ReferenceBundle
from monitor.run.concept import concept_step
from monitor.stats.performance import Task

__all__ = ["ConceptReplay"]


class ConceptReplay:
    """One detector carried across a backtest's windows; ``alarms`` holds one verdict per window."""

    def __init__(self, monitor: Monitor, bundle: ReferenceBundle, version: int | None, injections: list[Injection],
                 rng: np.random.Generator) -> None:
        self._monitor, self._bundle, self._version, self._rng = monitor, bundle, version, rng
        self._flips = [i for i in injections if i.kind is InjectionKind.CONCEPT]
        if self._flips and monitor.schema.task is not Task.CLASSIFICATION:
            raise InputError("--inject concept: flips labels, so it needs a classification monitor", field="inject")
        if self._flips and (bundle.classes is None or bundle.classes.size < 2):
            raise InputError("--inject concept: the reference has fewer than two labelled classes", field="inject")
        self._state: dict[str, Any] | None = None
        self.alarms: list[bool] = []

    @property
    def enabled(self) -> bool:
        """Whether the monitor has labels to watch."""
        return bool(self._monitor.schema.target) and self._bundle.labelled

    def _flip(self, frame: pd.DataFrame, times: NDArray[np.int64]) -> pd.DataFrame:
        target = self._monitor.schema.target
        assert target is not None and self._bundle.classes is not None
        classes = self._bundle.classes.tolist()
        labels = frame[target].to_numpy(dtype=object, copy=True)
        for flip in self._flips:
            assert flip.value is not None
            chosen = (times >= pd.Timestamp(flip.at).value) & pd.notna(labels) & (self._rng.random(labels.size) < flip.value)
            for i in np.flatnonzero(chosen).tolist():  # a few rows a window; each to another class
                others = [c for c in classes if c != str(labels[i])]
                labels[i] = others[int(self._rng.integers(len(others)))]
        return frame.assign(**{target: labels})

    def feed(self, frame: pd.DataFrame, times: NDArray[np.int64], end: datetime, checked: bool) -> None:
        """Advance by one window (conformed ``frame``); an unchecked window (too few rows) is not fed."""
        if not checked or not self.enabled:
            self.alarms.append(False)
            return
        if self._flips:
            frame = self._flip(frame, times)
        step = concept_step(self._monitor, self._bundle, frame, end=end, stored=self._state,
                            reference_version=self._version)
        if step is None:
            self.alarms.append(False)
            return
        self._state = step.state.to_json()
        self.alarms.append(step.drifted)
