"""``driftline demo``: the whole local loop on SQLite with no other service.

Run from a checkout, it also starts the example retraining service (examples/retrain_service):
an in-service alert rule fires on persistent dataset drift, the retraining policy posts a
signed trigger through the outbox, the service refits the model on the most recent labelled
days (at most 150) and calls back, and the new reference is promoted. Outside a checkout the
example is not there, and the config has the alert rule but no retraining policy (a trigger
that nothing receives would only be retried and dead-lettered).


A real data set that ships inside River's wheel (TrumpApproval: five pollsters' daily approval
estimates and the polling average, January 2017 to 2019) is split by time: the first 300 days
train a small linear model and become the reference; the remaining days are replayed as live
traffic through the real ingest API, each day's prediction logged as it is made and its label
(the actual average) posted ``label_delay_seconds`` (3) later through the labels API; every
label is sent exactly once (:class:`LabelQueue`). Opinion moved during
those years, so the live window drifts away from the reference as the replay goes on. The
service runs the monitor every few seconds; the demo prints each run as it lands.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

__all__ = ["LabelQueue", "demo_config", "demo_data", "run_demo"]

FEATURES = ["gallup", "ipsos", "morning_consult", "rasmussen", "you_gov"]
TRAIN_DAYS = 300
#: The example retraining service refits on at most this many of the most recent labelled days.
RETRAIN_DAYS = 150

_HEADER = """\
# Written by `driftline demo`: one monitor over the replayed approval-rating stream, an
# in-service alert rule{and_retraining}.
"""
_WEBHOOKS = """\
webhooks:
  - name: retrain
    url: http://127.0.0.1:{retrain_port}/retrain
    secret_env: DRIFTLINE_DEMO_WEBHOOK_SECRET
    backoff: 1s
    backoff_max: 5s
"""
_MONITORS = """\
monitors:
  - name: approval
    model: approval-lr
    schema:
      task: regression
      numerical: [gallup, ipsos, morning_consult, rasmussen, you_gov]
      prediction: prediction
      target: approval
    every: 5s
    window: {last: 30s}
    min_rows: 30
    performance: {bucket: 5s, label_lookback: 5m, min_labels: 20}
    alerts:
      - {name: dataset-drift, when: dataset_drift, runs: 2, of: 3}
"""
_RETRAIN = """\
    retrain:
      on: [dataset-drift]
      cooldown: 40s
      max_per_day: 20
      action: {type: http, webhook: retrain}
"""


def demo_config(retrain_port: int | None) -> str:
    """The demo's ``driftline.yaml``: the retraining policy and its webhook only with a ``retrain_port``
    (the example retraining service runs there); without one the alert rule still fires and shows."""
    if retrain_port is None:
        return _HEADER.replace("{and_retraining}", "") + _MONITORS
    return (_HEADER.replace("{and_retraining}", ", and a retraining policy that calls the example retraining service")
            + _WEBHOOKS.replace("{retrain_port}", str(retrain_port)) + _MONITORS + _RETRAIN)


class LabelQueue:
    """Labels waiting for their time, each taken exactly once by the first :meth:`due` at or after it.

    One ``now`` decides both what is sent and what stays: deciding them with two readings of the
    clock (the demo once did) drops every label that falls due between the two readings.

    >>> q = LabelQueue(delay_seconds=3.0)
    >>> q.add({"prediction_id": "a"}, now=0.0); q.add({"prediction_id": "b"}, now=1.0)
    >>> [x["prediction_id"] for x in q.due(now=3.0)], len(q), [x["prediction_id"] for x in q.rest()]
    (['a'], 1, ['b'])
    """

    def __init__(self, *, delay_seconds: float) -> None:
        self.delay_seconds = delay_seconds
        self._waiting: list[tuple[float, dict[str, Any]]] = []

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, label: dict[str, Any], *, now: float) -> None:
        self._waiting.append((now + self.delay_seconds, label))

    def due(self, *, now: float) -> list[dict[str, Any]]:
        """The labels due at ``now``, removed from the queue (in the order they were added)."""
        taken = [label for t, label in self._waiting if t <= now]
        self._waiting = [(t, label) for t, label in self._waiting if t > now]
        return taken

    def rest(self) -> list[dict[str, Any]]:
        """Every label still waiting, removed from the queue."""
        taken = [label for _, label in self._waiting]
        self._waiting = []
        return taken


def demo_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference (first 300 days, with predictions and labels) and the stream to replay."""
    from river import datasets

    rows = [{**x, "approval": y} for x, y in datasets.TrumpApproval()]  # type: ignore[no-untyped-call]
    frame = pd.DataFrame(rows)
    frame["weekday"] = [date.fromordinal(int(d)).strftime("%a") for d in frame["ordinal_date"]]
    x = np.c_[frame[FEATURES].to_numpy(), np.ones(len(frame))]
    coef, *_ = np.linalg.lstsq(x[:TRAIN_DAYS], frame["approval"].to_numpy()[:TRAIN_DAYS], rcond=None)
    frame["prediction"] = x @ coef
    frame["prediction_id"] = [f"day-{int(d)}" for d in frame["ordinal_date"]]
    frame = frame.drop(columns=["ordinal_date"]).round(4)
    return frame.iloc[:TRAIN_DAYS].reset_index(drop=True), frame.iloc[TRAIN_DAYS:].reset_index(drop=True)


def checkout() -> Path | None:
    """The repository this module runs from, if it is a checkout with the example retraining service
    (examples/retrain_service is not part of the installed package)."""
    repo = Path(__file__).resolve().parents[1]
    return repo if (repo / "examples" / "retrain_service" / "app.py").is_file() else None


def _retrain_service(repo: Path, root: Path, port: int, base: str, key: str, secret: str) -> object:
    """Start the example retraining service (examples/retrain_service of ``repo``) beside the demo."""
    import sys

    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    # The example module also builds an app from the environment at import (for uvicorn);
    # give it the demo's values so it does not warn about missing ones.
    os.environ.setdefault("DRIFTLINE_API_KEY", key)
    os.environ.setdefault("RETRAIN_WEBHOOK_SECRET", secret)
    from examples.retrain_service.app import RetrainSettings, create_app

    settings = RetrainSettings(driftline_url=base, api_key=key, webhook_secret=secret.encode(),
                               data_path=str(root / "logged.csv"), max_rows=RETRAIN_DAYS)
    server, _ = _serve(create_app(settings), port)
    return server


def _send_labels(client: httpx.Client, headers: dict[str, str], due: list[dict[str, Any]], logged: Path) -> None:
    """Post the due labels, then append their rows to ``logged`` (what the retraining service trains on:
    the labelled rows so far)."""
    if not due:
        return
    body = [{"prediction_id": x["prediction_id"], "label": x["label"]} for x in due]
    client.post("/v1/models/approval-lr/labels", headers=headers, json=body).raise_for_status()
    pd.DataFrame([x["row"] for x in due]).to_csv(logged, mode="a", header=not logged.exists(), index=False)


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {text}", flush=True)


def _serve(app: FastAPI, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def _describe(run: dict[str, Any]) -> str:
    ds = run.get("dataset") or {}
    perf = {p["metric"]: p for p in run.get("performance", [])}
    mae = perf.get("mae", {}).get("value")
    text = f"run {str(run['status']):<17} rows={run['rows']:<4}"
    if ds:
        text += f" drifted features {ds['drifted_features']}/{ds['total_features']}"
    if mae is not None:
        text += f"  MAE {mae:.2f} (reference {perf['mae'].get('reference_value') or 0:.2f})"
    if run.get("label_coverage") is not None:
        text += f"  labels {100 * float(run['label_coverage']):.0f}%"
    return text


def run_demo(*, port: int = 8000, seconds: float | None = None, workdir: Path | None = None,
             rows_per_second: float = 10.0, label_delay_seconds: float = 3.0) -> int:
    """Start the service on SQLite in ``./driftline-demo`` and replay the stream through its API."""
    import logging

    from monitor.app import create_app
    from monitor.config import Settings, load_config

    # The demo prints each run itself; the run and request lines would say it twice.
    for noisy in ("httpx", "monitor.api", "monitor.app", "apscheduler", "monitor.service", "monitor.run"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    root = (workdir or Path.cwd() / "driftline-demo").resolve()
    root.mkdir(parents=True, exist_ok=True)
    # Each demo starts from an empty database: a replay into an old one would only post
    # prediction ids it has already seen (ingestion is idempotent), and the windows would be empty.
    for leftover in root.glob("driftline.db*"):
        leftover.unlink()
    retrain_port = port + 1
    repo = checkout()
    (root / "driftline.yaml").write_text(demo_config(retrain_port if repo is not None else None))
    key = secrets.token_urlsafe(24)
    secret = secrets.token_urlsafe(24)
    os.environ["DRIFTLINE_DEMO_WEBHOOK_SECRET"] = secret
    settings = Settings(database_url=f"sqlite:///{root / 'driftline.db'}", config=root / "driftline.yaml",
                        api_keys=key, port=port, public_url=f"http://127.0.0.1:{port}")
    config = load_config(settings.config)
    reference, stream = demo_data()
    reference = reference.drop(columns=["weekday"])
    stream = stream.drop(columns=["weekday"])
    server, thread = _serve(create_app(settings, config), port)
    base = f"http://127.0.0.1:{port}"
    retrainer = _retrain_service(repo, root, retrain_port, base, key, secret) if repo is not None else None
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(200):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise RuntimeError("the service did not become ready")
            _say(f"Driftline is up: {base}   API docs {base}/docs   monitors {base}/v1/monitors")
            _say(f"SQLite database and config in {root}")
            if retrainer is not None:
                _say(f"example retraining service on http://127.0.0.1:{retrain_port}: when the "
                     "'dataset-drift' rule fires twice in three runs, Driftline posts a signed trigger; the "
                     f"service refits the model on the most recent labelled days (at most {RETRAIN_DAYS}) and "
                     "promotes them as the reference")
            ref = client.post("/v1/monitors/approval/reference", headers={**headers, "Content-Type": "text/csv"},
                              content=reference.to_csv(index=False))
            ref.raise_for_status()
            _say(f"reference uploaded: {len(reference)} days of 2017, version {ref.json()['version']}")
            _say(f"replaying {len(stream)} later days at {rows_per_second:g} rows/s; labels follow "
                 f"{label_delay_seconds:g}s later")
            labels = LabelQueue(delay_seconds=label_delay_seconds)
            seen: set[str] = set()
            jobs: dict[str, str] = {}
            logged = root / "logged.csv"
            logged.unlink(missing_ok=True)
            interval = 1.0 / rows_per_second
            next_poll = time.monotonic()
            for _, row in stream.iterrows():
                if seconds is not None and time.monotonic() - started > seconds:
                    break
                record = row.drop(labels=["approval"]).to_dict()
                client.post("/v1/models/approval-lr/predictions", headers=headers, json=[record]).raise_for_status()
                labels.add({"prediction_id": row["prediction_id"], "label": float(row["approval"]), "row": row},
                           now=time.monotonic())
                _send_labels(client, headers, labels.due(now=time.monotonic()), logged)
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + 1.0
                    listed = client.get("/v1/monitors/approval/runs", params={"limit": 5}).json()
                    for run in reversed(listed if isinstance(listed, list) else listed.get("runs", [])):
                        if run["id"] not in seen:
                            seen.add(run["id"])
                            detail = client.get(f"/v1/runs/{run['id']}").json()
                            _say(_describe(detail))
                    for job in client.get("/v1/retrain-jobs").json():
                        if jobs.get(job["id"]) != job["status"]:
                            jobs[job["id"]] = job["status"]
                            extra = f", reference v{job['reference_version']} promoted" \
                                if job.get("reference_version") else ""
                            _say(f"retraining job {job['id'][:8]} {job['status']} ({job['outcome']}){extra}")
                time.sleep(interval)
            _send_labels(client, headers, labels.rest(), logged)
            _say("replay finished; the service keeps running (Ctrl-C to stop)")
            while seconds is None or time.monotonic() - started < seconds:
                time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        if retrainer is not None:
            retrainer.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
    return 0
