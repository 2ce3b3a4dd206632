"""Headless Chromium for the report tests: a screenshot, the rendered DOM and the console, per URL.

The flags are the ones measured in shared/notes/stack.md (without the background-networking flags
Chromium keeps trying to reach the internet). Console messages are read from Chromium's own log
(``--enable-logging=stderr --v=0``): Chromium 156 logs every console message, errors included,
as ``INFO:CONSOLE``, so any console line at all counts (the report's one script logs nothing, so
a healthy page logs none). PNGs are decoded with zlib and NumPy: no imaging dependency for one check.

:class:`Browser` drives a page the way a person does, for the tests that type, click and measure:
the DevTools protocol over ``--remote-debugging-pipe``, so no port, no websocket client and no
browser-automation package.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tests.conftest import service_unavailable

__all__ = ["Browser", "DevToolsError", "Page", "Tab", "chromium_binary", "console_errors", "open_page", "png_pixels"]

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


# --- a driven page: the DevTools protocol over a pipe ------------------------------------------------

class DevToolsError(RuntimeError):
    """A DevTools command failed, or a script evaluated in the page threw."""


def _high(fd: int) -> int:
    """``fd`` moved to a number of at least 10 (close-on-exec, as ``os.pipe`` gives it)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium driven over ``--remote-debugging-pipe`` (DevTools protocol, no extra package).

    The pipe is fd 3 (commands in) and fd 4 (replies and events out) of the Chromium process,
    NUL-separated JSON; a bash ``exec`` puts the two pipe ends at those numbers. Use as a
    context manager; :meth:`open` gives a :class:`Tab` at a URL.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # The child's ends above fd 4, so the shell's redirections never close what they copy.
        to_chrome_r, from_chrome_w = (_high(to_chrome_r), _high(from_chrome_w))
        profile = workdir / "profile-devtools"
        profile.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "chromium-devtools.log"
        flags = [f for f in _FLAGS if not f.startswith("--virtual-time-budget")]
        shell = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                ["bash", "-c", shell, "bash", binary, *flags, "--remote-debugging-pipe", f"--user-data-dir={profile}",
                 "about:blank"],
                pass_fds=(to_chrome_r, from_chrome_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = to_chrome_w
        self._in = from_chrome_r
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit, then make sure it has (by its own process id)."""
        try:
            self.send("Browser.close", timeout=10)
        except (DevToolsError, OSError, TimeoutError):
            pass
        try:
            self._proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=20)
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("no DevTools message from Chromium in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise DevToolsError(f"Chromium closed the DevTools pipe (log: {self.log_path})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are kept in :attr:`events`."""
        self._next_id += 1
        ident = self._next_id
        command: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        os.write(self._out, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == ident:
                if "error" in message:
                    raise DevToolsError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, *, session: str, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
        """The first event ``method`` of ``session`` not yet waited for."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self.events[i]
                    return event
            self.events.append(self._message(deadline))

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Tab:
        """A new tab at ``url``, loaded (its load event fired), with a ``width`` x ``height`` viewport."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session=session)
        return Tab(self, session)


class Tab:
    """A loaded page: evaluate script, click, type, measure and screenshot, as a user's browser would."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._browser.send(method, params, session=self._session)

    def eval(self, expression: str) -> Any:
        """The JSON value of ``expression`` evaluated in the page (DevTools runs it, so the page's CSP does not apply)."""
        reply = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in reply:
            raise DevToolsError(f"{expression[:80]}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def _mouse(self, kind: str, x: float, y: float) -> None:
        self._send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the middle of the first element matching ``selector``."""
        box = self.eval(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
                        "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect(); "
                        "return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; })()")
        x, y, w, h = box
        assert w > 0 and h > 0, f"{selector} is not visible: {box}"
        self._mouse("mouseMoved", x, y)
        self._mouse("mousePressed", x, y)
        self._mouse("mouseReleased", x, y)

    def type(self, selector: str, text: str) -> None:
        """Click into ``selector`` and type ``text`` (as an input method commits it: ``input`` events fire)."""
        self.click(selector)
        for char in text:
            self._send("Input.insertText", {"text": char})

    def height(self) -> int:
        """The page's full height in CSS pixels."""
        return int(self.eval("document.documentElement.scrollHeight"))

    def screenshot(self, path: Path, *, full_page: bool = False, height: int | None = None) -> Path:
        """A PNG of the viewport, of the whole page, or of its top ``height`` pixels."""
        params: dict[str, Any] = {"format": "png"}
        if full_page or height is not None:
            width = int(self.eval("document.documentElement.scrollWidth"))
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width,
                                                            "height": height or self.height(), "scale": 1})
        path.write_bytes(base64.b64decode(self._send("Page.captureScreenshot", params)["data"]))
        return path

    def problems(self) -> list[str]:
        """Console messages, uncaught exceptions and browser log entries (CSP violations) seen so far."""
        out = []
        for event in self._browser.events:
            if event.get("sessionId") != self._session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                out.append(f"console.{params.get('type')}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                out.append(f"log: {params['entry'].get('text')}")
        return out
