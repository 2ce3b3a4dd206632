"""Headless Chromium for the report tests: a screenshot, the rendered DOM and the console, per URL.

The flags are the ones measured in shared/notes/stack.md (without the background-networking flags
Chromium keeps trying to reach the internet). Console messages are read from Chromium's own log
(``--enable-logging=stderr --v=0``): Chromium 156 logs every console message, errors included,
as ``INFO:CONSOLE``, so any console line at all counts (the report runs no script, so a healthy
page logs none). PNGs are decoded with zlib and NumPy: no imaging dependency for one check.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tests.conftest import service_unavailable

__all__ = ["Page", "chromium_binary", "console_errors", "open_page", "png_pixels"]

_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
          "--virtual-time-budget=5000")
_CONSOLE = re.compile(r":CONSOLE[:(]|Uncaught")
TIMEOUT_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Page:
    """What Chromium made of a URL."""

    screenshot: Path
    dom: str
    log: str


def chromium_binary() -> str:
    """Chromium's path; skips without it (fails under CI=true: scripts/install-monitoring.sh installs it)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    service_unavailable("Chromium is not installed (scripts/install-monitoring.sh installs Debian's chromium)")


def _run(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([binary, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False)


def open_page(binary: str, url: str, workdir: Path) -> Page:
    """Screenshot ``url`` into ``workdir``, then load it again for its DOM and console log."""
    shot = workdir / "page.png"
    taken = _run(binary, workdir / "profile-shot", f"--screenshot={shot}", url)
    assert taken.returncode == 0, f"chromium --screenshot exited {taken.returncode}: {taken.stderr[-2000:]}"
    dumped = _run(binary, workdir / "profile-dom", "--dump-dom", "--enable-logging=stderr", "--v=0", url)
    assert dumped.returncode == 0, f"chromium --dump-dom exited {dumped.returncode}: {dumped.stderr[-2000:]}"
    return Page(screenshot=shot, dom=dumped.stdout, log=dumped.stderr)


def console_errors(log: str) -> list[str]:
    """The console lines of a Chromium log (messages, uncaught exceptions, CSP violations, failed loads)."""
    return [line for line in log.splitlines() if _CONSOLE.search(line)]


def _unfilter(raw: bytes, width: int, height: int, bpp: int) -> NDArray[np.uint8]:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth)."""
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1)
        if kind == 0:
            cur = row.copy()
        elif kind == 1:  # Sub: a running sum per channel
            cur = (np.cumsum(row.reshape(width, bpp), axis=0, dtype=np.int64) % 256).astype(np.uint8).ravel()
        elif kind == 2:  # Up
            cur = row + prev
        elif kind in (3, 4):  # Average and Paeth depend on the byte just decoded: one at a time
            f, b, line = row.tolist(), prev.tolist(), [0] * stride
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                if kind == 3:
                    pred = (a + b[i]) // 2
                else:
                    c = b[i - bpp] if i >= bpp else 0
                    p = a + b[i] - c
                    pa, pb, pc = abs(p - a), abs(p - b[i]), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b[i] if pb <= pc else c)
                line[i] = (f[i] + pred) & 0xFF
            cur = np.array(line, dtype=np.uint8)
        else:
            raise ValueError(f"PNG row {y} has an unknown filter type {kind}")
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def png_pixels(path: Path) -> NDArray[np.uint8]:
    """The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes), as ``(h, w, c)``."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, chunks, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    assert header is not None, "no IHDR chunk"
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace != 0:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    return _unfilter(zlib.decompress(b"".join(chunks)), width, height, 3 if colour == 2 else 4)
