"""Contract tests of a run's multivariate results (revision 0011): stored with the run and read back whole."""

from __future__ import annotations

import dataclasses

from monitor.stats.multivariate import FeatureScore, MultivariateMethod, MultivariateResult
from monitor.storage import Store
from tests.storage.builders import make_run

RESULTS = (
    MultivariateResult(method=MultivariateMethod.PCA_RECONSTRUCTION, statistic=2.17, threshold=1.88, p_value=0.000999,
                       drifted=True, top_features=(FeatureScore(feature="b", score=0.757),
                                                   FeatureScore(feature="a", score=0.755)),
                       warnings=("6 of 11 components kept (67% of the variance)",), n_reference=5000, n_current=1000),
    MultivariateResult(method=MultivariateMethod.MMD, statistic=0.0007, threshold=0.0011, p_value=0.52, drifted=False,
                       n_reference=5000, n_current=1000),
)


def test_a_run_with_multivariate_results_round_trips(store: Store) -> None:
    run = dataclasses.replace(make_run(), multivariate=RESULTS)
    store.save_run(run)
    assert store.get_run(run.id) == run
    assert store.latest_verdicts()["churn"].multivariate == RESULTS
    assert store.list_runs("churn")[0].multivariate == RESULTS


def test_a_run_without_them_reads_none(store: Store) -> None:
    run = make_run()
    store.save_run(run)
    got = store.get_run(run.id)
    assert got is not None and got.multivariate == ()
