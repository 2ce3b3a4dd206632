"""Reports in a real browser: headless Chromium renders the page from ``driftline report`` and from a
running service, with a screenshot that is not blank, the verdict and rows in the DOM, and a
silent console.

Without Chromium these tests skip; under ``CI=true`` they fail (scripts/install-monitoring.sh
installs it). ``DRIFTLINE_WRITE_SCREENSHOT=1`` also writes the served report's screenshot to
docs/report-screenshot.png, the one the README shows.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.reports._chromium import Page, chromium_binary, console_errors, open_page, png_pixels
from tests.reports._data import EVIL, Elements, make_frame

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "report-screenshot.png"
API_KEY = "k-report-7c1e5b0a93d24f86"


@pytest.fixture(scope="module")
def chromium() -> str:
    return chromium_binary()


def assert_not_blank(png: Path) -> None:
    """The screenshot exists, is the window's size, and shows more than a few colours."""
    assert png.is_file() and png.stat().st_size > 0, f"no screenshot at {png}"
    pixels = png_pixels(png)
    assert pixels.shape[:2] == (900, 1280)
    colours = np.unique(pixels[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"only {len(colours)} distinct colours: a blank page?"


def assert_rendered_report(page: Page, features: list[str], *, dataset_drift: bool) -> None:
    assert_not_blank(page.screenshot)
    dom = Elements(page.dom)
    assert dom.by_id("dataset-verdict")["data-dataset-drift"] == str(dataset_drift).lower()
    assert sorted(r["data-feature"] for r in dom.with_class("feature-row", "tr")) == sorted(features)
    assert len(dom.with_class("dist-chart", "svg")) == len(features)
    assert not console_errors(page.log), console_errors(page.log)


def test_the_console_check_sees_a_script_error(chromium: str, tmp_path: Path) -> None:
    """A control: a page that throws is caught, so a silent console below means something."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><p>x</p><script>console.error('boom'); missing_function();</script>")
    errors = console_errors(open_page(chromium, bad.as_uri(), tmp_path).log)
    assert any("Uncaught" in line for line in errors), errors


def test_the_cli_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    # Only the schema's columns in the files: a schema no longer drops the columns it leaves out.
    keep = ["age", "income", EVIL, "plan", "prediction"]
    make_frame(800, start=start, seed=1)[keep].to_csv(tmp_path / "reference.csv", index=False)
    make_frame(600, start=start, shift=12, seed=2, new_plans=True)[keep].to_csv(tmp_path / "current.csv", index=False)
    columns = {"age": "numerical", "income": "numerical", EVIL: "numerical", "plan": "categorical",
               "prediction": "categorical"}
    (tmp_path / "schema.json").write_text(json.dumps({"columns": columns}))
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "monitor.cli", "report", str(tmp_path / "reference.csv"),
                           str(tmp_path / "current.csv"), "-o", str(out), "--schema", str(tmp_path / "schema.json")],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: ")
    page = open_page(chromium, out.as_uri(), tmp_path)
    assert_rendered_report(page, list(columns), dataset_drift=": dataset drift" in done.stdout)
    # The hostile column name is text in the browser's DOM, not an element.
    # (The one <script> element is the report's own.)
    assert EVIL in _text(page.dom) and page.dom.lower().replace("&lt;script", "").count("<script") == 1


def _text(dom: str) -> str:
    parser = _TextOf()
    parser.feed(dom)
    return "".join(parser.chunks)


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


# --- a running service -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[str]:
    """The app as ``driftline serve`` builds it (SQLite, scheduler off), served by uvicorn on a thread."""
    config = DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "15m", "window": {"last": "1h"}, "min_rows": 50,
        "schema": {"numerical": ["age", "income", "tenure_days"], "categorical": ["plan"],
                   "prediction": "prediction", "target": "label"},
        "performance": {"min_labels": 20, "bucket": "10m"},
    }]})
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'driftline.db'}", api_keys=SecretStr(API_KEY),
                        scheduler=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, config), host="127.0.0.1", port=port,
                                           log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "uvicorn did not stop"


def _rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    out = frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat()))
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in out.to_dict(orient="records")]


def _service_frame(n: int, *, start: datetime, shift: float, seed: int, new_plans: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = make_frame(n, start=start, shift=shift, seed=seed, new_plans=new_plans).drop(columns=[EVIL])
    frame["tenure_days"] = rng.gamma(2.0, 200.0 + 40 * shift, n).round()
    frame["timestamp"] = pd.date_range(start, periods=n, freq="4s", tz="UTC")
    return frame


def test_the_served_report_and_index_render_in_chromium(chromium: str, served: str, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    now = datetime.now(UTC)
    with httpx.Client(base_url=served, timeout=30) as client:
        reference = _service_frame(1500, start=now - timedelta(days=3), shift=0, seed=1)
        r = client.post("/v1/monitors/churn/reference", json=_rows(reference), headers=auth)
        assert r.status_code == 201, r.text
        window = _service_frame(700, start=now - timedelta(minutes=50), shift=10, seed=2, new_plans=True)
        r = client.post("/v1/models/churn-v3/predictions", json=_rows(window), headers=auth)
        assert r.status_code in (200, 201, 202), r.text
        r = client.post("/v1/monitors/churn/runs", headers=auth)
        assert r.status_code == 201, r.text
        run_id = r.json()["run_id"]
        stored = client.get(f"/v1/runs/{run_id}").json()
        features = [f["column"] for f in stored["features"]]
        dataset_drift = stored["dataset"]["dataset_drift"]
        report = client.get(f"/v1/runs/{run_id}/report")
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert client.get("/v1/monitors/churn/report").text == report.text  # the cached page
        assert client.get("/metrics").status_code == 200  # linked from the index

    page = open_page(chromium, f"{served}/v1/runs/{run_id}/report", tmp_path / "run")
    assert_rendered_report(page, features, dataset_drift=dataset_drift)
    assert Elements(page.dom).with_class("perf-row", "tr"), "labels came with the predictions: performance shown"
    if os.environ.get("DRIFTLINE_WRITE_SCREENSHOT"):
        shutil.copyfile(page.screenshot, SCREENSHOT)

    latest = open_page(chromium, f"{served}/v1/monitors/churn/report", tmp_path / "latest")
    assert_rendered_report(latest, features, dataset_drift=dataset_drift)

    index = open_page(chromium, f"{served}/", tmp_path / "index")
    assert_not_blank(index.screenshot)
    dom = Elements(index.dom)
    assert [a["data-run"] for a in dom.with_class("run-row", "tr")] == [run_id]
    hrefs = {a["href"] for t, a in dom.tags if t == "a"}
    assert {f"/v1/runs/{run_id}/report", f"/v1/runs/{run_id}", "/docs", "/metrics"} <= hrefs
    assert not console_errors(index.log), console_errors(index.log)
