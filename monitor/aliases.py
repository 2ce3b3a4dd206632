"""Method names as users type them: Driftline's own, plus Evidently's stattest names.

Users coming from Evidently write ``stattest="jensenshannon"`` or ``"mannw"``; ``--method`` and
``--schema`` files accept those spellings too, so a config ported from Evidently does not fail
on a name. This module is the one table of aliases (docs/configuration.md, "Method names"):
the statistical core keeps one name per concept (:class:`~monitor.stats.types.DriftMethod`),
and aliases are resolved at the edge, before anything reaches it.

Evidently's ``empirical_mmd`` and its two text-content tests have no Driftline counterpart and
are refused with a message that says so, rather than mapped to something that computes another
statistic.
"""

from __future__ import annotations

from types import MappingProxyType

from monitor.stats.types import DriftMethod

__all__ = ["EVIDENTLY_ALIASES", "UNSUPPORTED", "evidently_names", "method_names", "resolve_method"]

#: Evidently 0.7.23 stattest name -> Driftline method, for names that differ or coincide.
#: Names that coincide are listed so that the table documents every Evidently test it covers.
EVIDENTLY_ALIASES: MappingProxyType[str, DriftMethod] = MappingProxyType({
    "anderson": DriftMethod.ANDERSON,
    "chisquare": DriftMethod.CHI_SQUARE,
    "cramer_von_mises": DriftMethod.CRAMER_VON_MISES,
    "ed": DriftMethod.ENERGY_DISTANCE,
    "es": DriftMethod.EPPS_SINGLETON,
    "fisher_exact": DriftMethod.FISHER_EXACT,
    "g_test": DriftMethod.G_TEST,
    "hellinger": DriftMethod.HELLINGER,
    "jensenshannon": DriftMethod.JENSEN_SHANNON,
    "kl_div": DriftMethod.KL_DIV,
    "ks": DriftMethod.KS,
    "mannw": DriftMethod.MANN_WHITNEY,
    "psi": DriftMethod.PSI,
    "t_test": DriftMethod.T_TEST,
    "TVD": DriftMethod.TVD,
    "wasserstein": DriftMethod.WASSERSTEIN,
    "z": DriftMethod.Z_TEST,
})

#: Evidently stattests Driftline does not implement, and why a user sees an error for them.
UNSUPPORTED: MappingProxyType[str, str] = MappingProxyType({
    "empirical_mmd": "Evidently's empirical_mmd (maximum mean discrepancy) is not supported",
    "abs_text_content_drift": "Evidently's text-content tests are not supported",
    "perc_text_content_drift": "Evidently's text-content tests are not supported",
})


def method_names() -> str:
    """Every accepted Driftline method name, comma-separated, for messages and ``--help``."""
    return ", ".join(m.value for m in DriftMethod)


def resolve_method(name: str) -> DriftMethod:
    """The method called ``name``: a Driftline name or an Evidently alias.

    Raises ``ValueError`` naming the valid names (and why, for an Evidently test we lack).

    Examples
    --------
    >>> resolve_method("jensenshannon"), resolve_method("TVD"), resolve_method("ks")
    (<DriftMethod.JENSEN_SHANNON: 'jensen_shannon'>, <DriftMethod.TVD: 'tvd'>, <DriftMethod.KS: 'ks'>)
    """
    if name in DriftMethod._value2member_map_:
        return DriftMethod(name)
    if name in EVIDENTLY_ALIASES:
        return EVIDENTLY_ALIASES[name]
    why = f"{UNSUPPORTED[name]}; " if name in UNSUPPORTED else ""
    raise ValueError(f"{name!r} is not a drift method; {why}use one of: {method_names()} "
                     f"(or an Evidently name: {evidently_names()})")


def evidently_names() -> str:
    """The Evidently spellings that differ from Driftline's, as ``chisquare=chi_square, ...``."""
    return ", ".join(f"{k}={v.value}" for k, v in sorted(EVIDENTLY_ALIASES.items(), key=lambda kv: kv[0].lower())
                     if k != v.value)
