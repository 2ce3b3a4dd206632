"""Contract tests of a run's segment verdicts (revision 0010): stored and read back whole."""

from __future__ import annotations

import dataclasses

from monitor.domain import OTHER, SegmentCounts, SegmentFeature, SegmentKind, SegmentResult, SegmentSummary
from monitor.storage import Store
from tests.storage.builders import make_run


def summary() -> SegmentSummary:
    feature = SegmentFeature(feature="age", method="ks", statistic=0.41, p_value=1e-30, adjusted_p_value=1e-28,
                             threshold=0.05, effect=0.41, effect_floor=0.05, drifted=True)
    de = SegmentResult(segment="country", value="DE", kind=SegmentKind.VALUE, rows=480, reference_rows=2000,
                       drifted_features=1, total_features=3, drift_share=1 / 3, drifted=True, effect=8.2,
                       features=(feature, dataclasses.replace(feature, feature="income", drifted=False, effect=0.01)))
    other = SegmentResult(segment="country", value=OTHER, kind=SegmentKind.OTHER, rows=4000, reference_rows=16000,
                          drifted_features=0, total_features=24, drift_share=0.0, drifted=False, values=8)
    return SegmentSummary(results=(de, other), new=(("country", "XX"),), gone=(("country", "FR"),),
                          small=(("country", "LU"),), counts=(SegmentCounts(segment="country", tested=9, drifted=1,
                                                                          new=1, gone=1, small=1),),
                          tests=27, min_rows=200, top_k=1)


def test_a_run_with_segments_round_trips(store: Store) -> None:
    run = dataclasses.replace(make_run(), segments=summary())
    store.save_run(run)
    got = store.get_run(run.id)
    assert got == run
    assert got is not None and got.segments is not None and got.segments.drifted[0].value == "DE"


def test_segments_reach_the_latest_verdict_and_listings(store: Store) -> None:
    run = dataclasses.replace(make_run(), segments=summary())
    store.save_run(run)
    assert store.latest_verdicts()["churn"].segments == summary()
    assert store.list_runs("churn")[0].segments == summary()


def test_a_run_without_segments_reads_none(store: Store) -> None:
    run = make_run()
    store.save_run(run)
    got = store.get_run(run.id)
    assert got is not None and got.segments is None
