"""One BLAS thread while the column pool runs: the pool is the parallelism.

Why: the check tests columns on a small thread pool, and a few of its steps (Wasserstein's
weighted sums, the null simulation's matrix-vector products) used to call BLAS. OpenBLAS starts
its own threads per call, one per core by default, so two pool workers each asking for two BLAS
threads on two cores fight over them: measured at 1M x 50, Wasserstein took 1,323 ms with
OpenBLAS's default threads and 666 ms with one. Two defences:

* the hot paths do not call BLAS at all (Wasserstein's sums and the null simulation's products
  use ``einsum``), which holds whatever thread the check runs on;
* a check started on the main thread (the CLI, a notebook) sets BLAS to one thread for its
  duration with threadpoolctl, for the BLAS calls left in rarer methods, and restores the
  previous count when it ends; the limit is the check's own, not the user's
  ``OPENBLAS_NUM_THREADS``. OpenBLAS (0.3.31, measured) ignores a thread count set from any
  other thread, both the limit and the restore, so a check on another thread (the service runs
  checks off its event loop) leaves BLAS alone and relies on the first defence.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["single_blas_thread"]

_state: dict[str, Any] = {"depth": 0, "controller": None, "limiter": None}


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread for the duration, when on the main thread (re-entrant)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state["depth"] == 0:
        if _state["controller"] is None:
            # Imported and built on first use: it lists the loaded BLAS libraries once.
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

            _state["controller"] = ThreadpoolController()
        _state["limiter"] = _state["controller"].limit(limits=1, user_api="blas")
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            _state["limiter"].restore_original_limits()
            _state["limiter"] = None
