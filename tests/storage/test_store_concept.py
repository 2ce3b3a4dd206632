"""Contract tests of the concept-drift detector state kept per monitor (fake, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from monitor.config import DriftlineConfig
from monitor.domain.concept import ConceptStateRecord
from monitor.errors import DuplicateRun
from monitor.stats.concept import Detector
from monitor.stats.concept_state import ConceptState, fresh_state
from monitor.stats.cusum import Baseline
from monitor.storage import Store
from tests.storage.builders import T0, make_run


def state(n: int) -> dict[str, Any]:
    return dataclasses.replace(fresh_state(Detector.CUSUM, timedelta(hours=1), 1, Baseline(mean=0.1)),
                               buckets_fed=n, until=T0).to_json()


def test_no_state_until_a_run_writes_one(store: Store) -> None:
    assert store.concept_state("churn") is None
    store.save_run(make_run(), concept_state=ConceptStateRecord(monitor="churn", state=state(1)))
    got = store.concept_state("churn")
    assert got is not None and got.revision == 1 and got.state == state(1)
    assert ConceptState.from_json(got.state).until == T0  # the JSON round trip keeps what the detector needs


def test_each_write_advances_the_revision_and_a_stale_one_is_not_written(store: Store) -> None:
    store.save_run(make_run(run_id="r1", window_end=T0), concept_state=ConceptStateRecord(monitor="churn", state=state(1)))
    first = store.concept_state("churn")
    assert first is not None
    store.save_run(make_run(run_id="r2", window_end=T0 + timedelta(hours=1)),
                   concept_state=dataclasses.replace(first, state=state(2)))
    # a second writer that read revision 1 too: its run is kept, its state is not
    store.save_run(make_run(run_id="r3", window_end=T0 + timedelta(hours=2)),
                   concept_state=dataclasses.replace(first, state=state(99)))
    got = store.concept_state("churn")
    assert got is not None and (got.revision, got.state["buckets_fed"]) == (2, 2)
    assert store.get_run("r3") is not None
    # a first write that finds a state already stored is not written either
    store.save_run(make_run(run_id="r4", window_end=T0 + timedelta(hours=3)),
                   concept_state=ConceptStateRecord(monitor="churn", state=state(50)))
    got = store.concept_state("churn")
    assert got is not None and got.state["buckets_fed"] == 2


def test_a_refused_run_writes_no_state(store: Store) -> None:
    store.save_run(make_run(run_id="r1"))
    with pytest.raises(DuplicateRun):
        store.save_run(make_run(run_id="r2"), concept_state=ConceptStateRecord(monitor="churn", state=state(1)))
    assert store.concept_state("churn") is None


@pytest.mark.real_backends("a restart is a new Store on the same database")
def test_the_state_survives_a_new_store(make_store: Callable[[DriftlineConfig], Store], config: DriftlineConfig) -> None:
    first = make_store(config)
    first.upgrade()
    first.save_run(make_run(), concept_state=ConceptStateRecord(monitor="churn", state=state(7)))
    again = make_store(config)
    got = again.concept_state("churn")
    assert got is not None and got.state == state(7) and got.revision == 1
