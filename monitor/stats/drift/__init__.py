"""Drift methods, one module each; call them through this package: ``drift.ks(ref, cur)``.

Numerical methods take two samples (array-likes or :class:`~monitor.stats.sample.SortedSample`);
count methods take two count vectors aligned on the same categories or histogram bins.
P-value methods take ``alpha``; distances take ``threshold``.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.stats.drift.anderson import anderson
from monitor.stats.drift.chi_square import chi_square
from monitor.stats.drift.cramer_von_mises import cramer_von_mises
from monitor.stats.drift.energy_distance import energy_distance
from monitor.stats.drift.epps_singleton import epps_singleton
from monitor.stats.drift.fisher_exact import fisher_exact
from monitor.stats.drift.g_test import g_test
from monitor.stats.drift.hellinger import hellinger
from monitor.stats.drift.jensen_shannon import jensen_shannon
from monitor.stats.drift.kl_div import kl_div
from monitor.stats.drift.ks import ks
from monitor.stats.drift.kuiper import kuiper
from monitor.stats.drift.l_infinity import l_infinity
from monitor.stats.drift.mann_whitney import mann_whitney
from monitor.stats.drift.psi import psi
from monitor.stats.drift.t_test import t_test
from monitor.stats.drift.tvd import tvd
from monitor.stats.drift.wasserstein import wasserstein
from monitor.stats.drift.z_test import z_test
from monitor.stats.types import DriftMethod, DriftResult

__all__ = [
    "FUNCTIONS",
    "anderson",
    "chi_square",
    "cramer_von_mises",
    "energy_distance",
    "epps_singleton",
    "fisher_exact",
    "g_test",
    "hellinger",
    "jensen_shannon",
    "kl_div",
    "ks",
    "kuiper",
    "l_infinity",
    "mann_whitney",
    "psi",
    "t_test",
    "tvd",
    "wasserstein",
    "z_test",
]

#: The function behind each method name.
FUNCTIONS: dict[DriftMethod, Callable[..., DriftResult]] = {
    DriftMethod.KS: ks,
    DriftMethod.WASSERSTEIN: wasserstein,
    DriftMethod.ENERGY_DISTANCE: energy_distance,
    DriftMethod.CRAMER_VON_MISES: cramer_von_mises,
    DriftMethod.ANDERSON: anderson,
    DriftMethod.T_TEST: t_test,
    DriftMethod.MANN_WHITNEY: mann_whitney,
    DriftMethod.EPPS_SINGLETON: epps_singleton,
    DriftMethod.PSI: psi,
    DriftMethod.JENSEN_SHANNON: jensen_shannon,
    DriftMethod.KL_DIV: kl_div,
    DriftMethod.HELLINGER: hellinger,
    DriftMethod.CHI_SQUARE: chi_square,
    DriftMethod.Z_TEST: z_test,
    DriftMethod.FISHER_EXACT: fisher_exact,
    DriftMethod.G_TEST: g_test,
    DriftMethod.TVD: tvd,
    DriftMethod.L_INFINITY: l_infinity,
    DriftMethod.KUIPER: kuiper,
}


