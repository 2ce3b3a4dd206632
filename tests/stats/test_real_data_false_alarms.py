"""False alarms on real data: River's bundled ImageSegments (2,310 rows, 19 numerical features).

The rows are shuffled with a fixed seed, so a reference and windows drawn from the rest come from
one population: every dataset-drift verdict on such a window is a false alarm. The data set ships
inside the ``river`` wheel (no download).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.stats.check import CheckOptions, check
from monitor.stats.profile import fit_profile
from monitor.stats.types import Compat


def image_segments() -> pd.DataFrame:
    from river import datasets

    frame = pd.DataFrame([x for x, _ in datasets.ImageSegments()]).astype(np.float64)
    return frame.loc[:, frame.nunique() > 1]  # constant columns carry no information


@pytest.mark.slow
@pytest.mark.parametrize("window", [30, 100])
def test_windows_of_the_same_real_population_rarely_call_dataset_drift(window: int) -> None:
    frame = image_segments()
    rng = np.random.default_rng(11)
    draws = 60
    calibrated = evidently = 0
    shares = []  # per window: the share of its tested features that alarmed
    for _ in range(draws):
        # A fresh shuffle per draw: reference and window are an exact null pair each time (windows
        # cut from one fixed held-out pool would share that pool's own sampling error).
        shuffled = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
        profile = fit_profile(shuffled.iloc[:1500])
        current = shuffled.iloc[1500:1500 + window]
        cal = check(profile, current, CheckOptions())
        evi = check(profile, current, CheckOptions(compat=Compat.EVIDENTLY))
        calibrated += cal.dataset_drift
        evidently += evi.dataset_drift
        tested = [c for c in cal.columns if c.method is not None]
        shares.append(sum(c.drifted for c in tested) / len(tested))
    # Per feature, the calibrated rule is at alpha = 0.05: the mean share of alarming features
    # (windows are independent draws; features of one window are not, these are strongly
    # correlated colour channels, hence an interval over windows, not a pooled binomial).
    low = stats.ttest_1samp(shares, 0.05).confidence_interval(0.99).low
    assert low <= 0.05, f"mean feature alarm share {np.mean(shares):.3f} (99% CI low {low:.3f})"
    assert calibrated <= 2, f"calibrated: {calibrated}/{draws} windows called dataset drift"
    if window == 30:
        # The peer's rule, measured on the same windows: small windows page most of the time.
        assert evidently / draws > 0.5, f"evidently: {evidently}/{draws}"
