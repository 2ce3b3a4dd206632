"""Group commit: concurrent ingest requests of one model written in one transaction.

A request's batch is validated in its own thread, then handed to :meth:`GroupCommit.submit`,
which returns only once the transaction holding the batch has committed (or raises what made
it fail). The first request to arrive while no write of its model is in progress leads: it takes
every batch queued for the model (its own included, up to ``max_rows`` rows), writes them with
one call of ``write`` (one transaction, one commit, one fsync) and wakes the others. Requests
arriving while that write runs queue up and the next leader writes them together: batching is
as wide as the load makes it, and an idle server adds no delay (no timer, no background thread).

Each request stays all or nothing: a group either commits whole or not at all, and when a group
of several fails for a reason other than an unavailable database (a statement one batch makes
the database refuse), each of its batches is written again alone, so only the bad one fails.
Results are per request: ``write`` returns how many rows of each batch it inserted.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from numpy.typing import NDArray

from monitor.storage._frames import Batch

__all__ = ["GroupCommit", "counts_by_batch", "merge_batches", "unavailable"]

B = TypeVar("B")

#: ``write(model, batches)``: write ``batches`` in one transaction; rows inserted per batch, in order.
Write = Callable[[str, Sequence[B]], Sequence[int]]


@dataclass(slots=True, eq=False)
class _Item(Generic[B]):
    batch: B
    rows: int
    done: bool = False
    inserted: int = 0
    error: BaseException | None = None


@dataclass(slots=True)
class _Queue(Generic[B]):
    items: list[_Item[B]] = field(default_factory=list)
    writing: bool = False


class GroupCommit(Generic[B]):
    """Writes concurrently submitted batches of one model together; thread-safe.

    Parameters
    ----------
    write
        Writes batches of a model in one transaction and returns the rows inserted per batch.
    alone_on
        Whether a failed group's batches should be written again one by one (False for an
        unavailable database: every batch would fail again).
    max_rows
        Rows at most in one group (a request larger than this is written alone).
    """

    def __init__(self, write: Write[B], *, alone_on: Callable[[BaseException], bool], max_rows: int = 20_000) -> None:
        self._write = write
        self._alone_on = alone_on
        self._max_rows = max_rows
        self._cond = threading.Condition()
        self._queues: dict[str, _Queue[B]] = {}
        #: Groups written and batches in them, for tests and the benchmark.
        self.groups = 0
        self.batches = 0

    def submit(self, model: str, batch: B, rows: int) -> int:
        """Write ``batch`` (``rows`` rows) with whatever else is queued for ``model``; rows inserted.

        Blocks until the batch's transaction has committed; raises the error of a failed write.
        """
        item = _Item(batch=batch, rows=rows)
        with self._cond:
            queue = self._queues.setdefault(model, _Queue())
            queue.items.append(item)
            while not item.done:
                if queue.writing:
                    self._cond.wait()
                    continue
                group = self._take(queue)
                queue.writing = True
                self._cond.release()
                try:
                    self._run(model, group)
                finally:
                    for unsettled in (i for i in group if not i.done):  # only if _run itself broke
                        unsettled.error, unsettled.done = RuntimeError("the group write did not settle"), True
                    self._cond.acquire()
                    queue.writing = False
                    self.groups += 1
                    self.batches += len(group)
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.inserted

    def _take(self, queue: _Queue[B]) -> list[_Item[B]]:
        """The oldest queued items up to ``max_rows`` rows (at least one); removed from the queue."""
        total, n = 0, 0
        for item in queue.items:
            if n and total + item.rows > self._max_rows:
                break
            total += item.rows
            n += 1
        group, queue.items[:n] = queue.items[:n], []
        return group

    def _run(self, model: str, group: list[_Item[B]]) -> None:
        """Write ``group`` and settle every item in it (done, with a count or an error)."""
        try:
            counts = self._write(model, [i.batch for i in group])
        except BaseException as exc:  # settled on every item; the submitter of each re-raises it
            if len(group) == 1 or not self._alone_on(exc):
                for item in group:
                    item.error, item.done = exc, True
                return
            for item in group:
                self._run(model, [item])
            return
        for item, count in zip(group, counts, strict=True):
            item.inserted, item.done = count, True


_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, sa.exc.DisconnectionError,
                psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError)


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (a :class:`StorageError` or the driver's error) means the database cannot
    write at all (down, unreachable, full, read-only), so no batch written alone would fare better."""
    return isinstance(exc, _UNAVAILABLE) or isinstance(exc.__cause__, _UNAVAILABLE)


def merge_batches(batches: Sequence[Batch]) -> tuple[Batch, NDArray[np.intp]]:
    """One batch of the rows of ``batches`` and, per row, the index of the batch it came from.

    A column some batches lack is missing (NaN, NULL) in their rows, which is how the store
    writes a column a request did not send. An id repeated across batches keeps its first row
    (the earlier request wins, as if they had been written one after the other); the later rows
    are left out and count as duplicates of their request.
    """
    sizes = [len(b) for b in batches]
    owner = np.repeat(np.arange(len(batches)), sizes)
    ids = pa.concat_arrays([b.ids for b in batches])
    ts = np.concatenate([b.ts for b in batches])
    numbers = {c: np.concatenate([b.numbers.get(c, np.full(len(b), np.nan)) for b in batches])
               for c in dict.fromkeys(c for b in batches for c in b.numbers)}
    texts = {c: pa.concat_arrays([b.texts[c] if c in b.texts else pa.nulls(len(b), pa.large_string()) for b in batches])
             for c in dict.fromkeys(c for b in batches for c in b.texts)}
    binaries = {c: pa.concat_arrays([b.binaries[c] if c in b.binaries else pa.nulls(len(b), pa.large_binary())
                                     for b in batches])
                for c in dict.fromkeys(c for b in batches for c in b.binaries)}
    repeated = pd.Index(ids.to_pandas()).duplicated(keep="first")
    if repeated.any():
        keep = np.flatnonzero(~repeated)
        ids, ts, owner = ids.take(keep), ts[keep], owner[keep]
        numbers = {k: v[keep] for k, v in numbers.items()}
        texts = {k: v.take(keep) for k, v in texts.items()}
        binaries = {k: v.take(keep) for k, v in binaries.items()}
    return Batch(ids=ids, ts=ts, numbers=numbers, texts=texts, duplicates=int(repeated.sum()),
                 binaries=binaries), owner


def counts_by_batch(merged: Batch, owner: NDArray[np.intp], inserted_ids: Sequence[str], n_batches: int) -> list[int]:
    """Rows inserted per batch, from the ids the database says it inserted (ids are unique in ``merged``)."""
    mask = pc.is_in(merged.ids, value_set=pa.array(inserted_ids, type=merged.ids.type)).to_numpy(zero_copy_only=False)
    return [int(n) for n in np.bincount(owner[mask], minlength=n_batches)]
