"""Progress of a long command on standard error: tqdm's bar on a terminal, plain lines elsewhere.

On a terminal the bar (with its rate and ETA) is drawn by tqdm, and log lines written meanwhile
go through ``tqdm.write`` (:func:`tqdm.contrib.logging.logging_redirect_tqdm`), so they appear
above the bar instead of inside it. Anywhere else (a CI log, a file, a pipe) a carriage return
would garble the output: a plain line is written every tenth of the total and at least every
``every_seconds``, and at the end, each with the count, the share, the elapsed time and the ETA.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TextIO

__all__ = ["Progress", "progress"]


def _clock(seconds: float) -> str:
    s = max(0, round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _amount(n: float, unit: str) -> str:
    if unit != "B":
        return f"{n:g}" if n < 10_000 else f"{n:,.0f}"
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= scale:
            return f"{n / scale:.1f} {name}"
    return f"{n:.0f} B"


class Progress:
    """A count towards ``total`` (``None``: unknown); :meth:`update` adds to it."""

    def __init__(self, total: float | None, *, desc: str, unit: str, stream: TextIO, bar: bool,
                 every_seconds: float) -> None:
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n = 0.0
        self.note = ""
        self._every = every_seconds
        self._started = self._last = time.monotonic()
        self._next_share = 0.1
        self._printed: tuple[float, str] = (0.0, "")
        self._bar = None
        if bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True,
                             unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000)

    def update(self, n: float, note: str = "") -> None:
        """Add ``n`` done; ``note`` (e.g. the window just run) is shown beside the count."""
        self.n += n
        self.note = note
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(n)
            return
        now = time.monotonic()
        share = self.n / self.total if self.total else None
        if (share is not None and share >= self._next_share) or now - self._last >= self._every:
            self._line(now)
            if share is not None:
                while self._next_share <= share:
                    self._next_share += 0.1

    def update_to(self, n: float, note: str = "") -> None:
        """Set the count done to ``n``."""
        self.update(n - self.n, note)

    def restart(self) -> None:
        """Back to zero (a file read again from its start)."""
        self.n, self._printed = 0.0, (0.0, "")
        self._next_share = 0.1
        if self._bar is not None:
            self._bar.reset(total=self.total)

    def _line(self, now: float) -> None:
        self._last, self._printed = now, (self.n, self.note)
        elapsed = now - self._started
        text = f"{self.desc}: {_amount(self.n, self.unit)}"
        if self.total:
            text += f" of {_amount(self.total, self.unit)} {self.unit if self.unit != 'B' else ''}".rstrip()
            text += f" ({100 * self.n / self.total:.0f}%)"
        else:
            text += f" {self.unit}" if self.unit != "B" else ""
        text += f", elapsed {_clock(elapsed)}"
        if self.total and 0 < self.n < self.total:
            text += f", ETA {_clock(elapsed * (self.total - self.n) / self.n)}"
        if self.note:
            text += f"  {self.note}"
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.n and (self.n, self.note) != self._printed:
            self._line(time.monotonic())


@contextlib.contextmanager
def progress(total: float | None, *, desc: str, unit: str, stream: TextIO, bar: bool | None = None,
             every_seconds: float = 10.0) -> Iterator[Progress]:
    """A :class:`Progress` on ``stream``: a tqdm bar when ``bar`` (default: ``stream`` is a terminal), else lines."""
    if bar is None:
        bar = stream.isatty()
    p = Progress(total, desc=desc, unit=unit, stream=stream, bar=bar, every_seconds=every_seconds)
    try:
        if bar:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm():
                yield p
        else:
            yield p
    finally:
        p.close()
