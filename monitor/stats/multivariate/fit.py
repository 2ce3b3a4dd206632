"""Fit once, test many: a reference's multivariate fit, its test of a window, and its bytes.

:func:`fit_multivariate` keeps what the methods need and nothing else: the encoding, the PCA
(centre, components, held-out errors) and a hash-chosen sample of at most ``max_rows`` coded
reference rows for the domain classifier and MMD, with MMD's bandwidth. It round-trips through
:meth:`MultivariateReference.to_bytes` (an ``.npz`` without pickle), so the service stores it
with the reference.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InsufficientData
from monitor.stats.multivariate._encode import Encoding, fit_encoding, lowest, row_hashes
from monitor.stats.multivariate.classifier import classifier_test
from monitor.stats.multivariate.mmd import median_bandwidth, mmd_test
from monitor.stats.multivariate.pca import PcaFit, fit_pca, pca_test
from monitor.stats.multivariate.types import MultivariateMethod, MultivariateOptions, MultivariateResult

__all__ = ["MultivariateReference", "fit_multivariate", "multivariate_check"]

_F = NDArray[np.float64]
_SEED_OF = {MultivariateMethod.PCA_RECONSTRUCTION: 1, MultivariateMethod.DOMAIN_CLASSIFIER: 2,
            MultivariateMethod.MMD: 3}


@dataclass(frozen=True, slots=True, kw_only=True)
class MultivariateReference:
    """A reference fitted for the multivariate methods (see the module docstring)."""

    methods: tuple[MultivariateMethod, ...]
    encoding: Encoding
    options: MultivariateOptions = field(default_factory=MultivariateOptions)
    pca: PcaFit | None = None
    sample: _F = field(default_factory=lambda: np.zeros((0, 0)))
    sigma: float = 1.0
    n_rows: int = 0

    def to_bytes(self) -> bytes:
        """An ``.npz`` of arrays plus one JSON header; no pickle."""
        e = self.encoding
        header = {"methods": [str(m) for m in self.methods], "numerical": list(e.numerical),
                  "categorical": list(e.categorical), "categories": [list(c) for c in e.categories],
                  "options": {k: getattr(self.options, k) for k in MultivariateOptions.__dataclass_fields__},
                  "sigma": self.sigma, "n_rows": self.n_rows}
        arrays: dict[str, NDArray[np.generic]] = {"means": e.means, "scales": e.scales, "sample": self.sample}
        for i, share in enumerate(e.shares):
            arrays[f"share_{i}"] = share
        if self.pca is not None:
            p = self.pca
            header["pca"] = {"explained": p.explained, "error_mean": p.error_mean, "n_fit": p.n_fit,
                             "n_heldout": p.n_heldout}
            arrays.update(pca_center=p.center, pca_components=p.components, pca_errors=p.errors,
                          pca_residual=p.residual)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> MultivariateReference:
        """Read what :meth:`to_bytes` wrote."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            header = json.loads(data["header"].tobytes().decode())
            arrays = {k: data[k] for k in data.files if k != "header"}
        encoding = Encoding(numerical=tuple(header["numerical"]), categorical=tuple(header["categorical"]),
                            means=arrays["means"], scales=arrays["scales"],
                            categories=tuple(tuple(c) for c in header["categories"]),
                            shares=tuple(arrays[f"share_{i}"] for i in range(len(header["categorical"]))))
        pca = None
        if "pca" in header:
            p = header["pca"]
            pca = PcaFit(center=arrays["pca_center"], components=arrays["pca_components"], errors=arrays["pca_errors"],
                         residual=arrays["pca_residual"], explained=p["explained"], error_mean=p["error_mean"],
                         n_fit=p["n_fit"], n_heldout=p["n_heldout"])
        return cls(methods=tuple(MultivariateMethod(m) for m in header["methods"]), encoding=encoding,
                   options=_options(header["options"]), pca=pca, sample=arrays["sample"],
                   sigma=float(header["sigma"]), n_rows=int(header["n_rows"]))


def _options(stored: dict[str, object]) -> MultivariateOptions:
    """The stored options, less any this version no longer has (``folds``: the classifier's former
    cross-validation), so a reference stored by an earlier version still reads."""
    known = MultivariateOptions.__dataclass_fields__
    return MultivariateOptions(**{k: v for k, v in stored.items() if k in known})  # type: ignore[arg-type]


def fit_multivariate(reference: pd.DataFrame, *, numerical: Sequence[str], categorical: Sequence[str] = (),
                     methods: Sequence[MultivariateMethod] = tuple(MultivariateMethod),
                     options: MultivariateOptions | None = None) -> MultivariateReference:
    """Fit the multivariate methods on the reference's features.

    Raises
    ------
    InsufficientData
        The reference has too few rows (100 for ``pca_reconstruction``).
    ValueError
        No feature is named.
    """
    options = options or MultivariateOptions()
    methods = tuple(dict.fromkeys(MultivariateMethod(m) for m in methods))
    if not numerical and not categorical:
        raise ValueError("multivariate drift needs at least one feature")
    encoding = fit_encoding(reference, numerical, categorical, max_categories=options.max_categories)
    coded = encoding.coded(reference)
    hashes = row_hashes(coded, options.seed)
    pca = fit_pca(encoding, coded, hashes, options) if MultivariateMethod.PCA_RECONSTRUCTION in methods else None
    sample = np.zeros((0, coded.shape[1]))
    sigma = 1.0
    if {MultivariateMethod.DOMAIN_CLASSIFIER, MultivariateMethod.MMD} & set(methods):
        sample = coded[lowest(hashes, options.max_rows)]
        if MultivariateMethod.MMD in methods:
            sigma = median_bandwidth(encoding.encoded(sample[:1_000]))
    return MultivariateReference(methods=methods, encoding=encoding, options=options, pca=pca, sample=sample,
                                 sigma=sigma, n_rows=len(reference))


def multivariate_check(fitted: MultivariateReference, current: pd.DataFrame,
                       methods: Sequence[MultivariateMethod] | None = None) -> tuple[MultivariateResult, ...]:
    """Test a window with each fitted method (all of them by default), in the order asked.

    Each method draws from its own ``numpy.random.Generator`` seeded by ``(options.seed, method)``,
    so adding a method never changes another's result. A method that cannot run on this window
    (too few rows) raises :class:`~monitor.errors.InsufficientData`.
    """
    options = fitted.options
    chosen = tuple(MultivariateMethod(m) for m in (methods or fitted.methods))
    unfitted = [m for m in chosen if m not in fitted.methods]
    if unfitted:
        raise ValueError(f"the reference was not fitted for {unfitted[0]}; fitted: {', '.join(fitted.methods)}")
    coded = fitted.encoding.coded(current)
    if coded.shape[0] == 0:
        raise InsufficientData("current has no rows", needed=1, got=0)
    out = []
    for method in chosen:
        rng = np.random.default_rng([options.seed, _SEED_OF[method]])
        if method is MultivariateMethod.PCA_RECONSTRUCTION:
            assert fitted.pca is not None
            out.append(pca_test(fitted.encoding, fitted.pca, coded, options, rng))
        elif method is MultivariateMethod.DOMAIN_CLASSIFIER:
            out.append(classifier_test(fitted.encoding, fitted.sample, coded, options, rng))
        else:
            out.append(mmd_test(fitted.encoding, fitted.sample, coded, fitted.sigma, options, rng))
    return tuple(out)
