"""An example retraining service for Driftline's ``http`` retraining action.

Driftline POSTs a signed ``driftline.retrain`` trigger (docs/alerting.md, "Retraining") when a
monitor's retraining policy fires. This service is the other end, small but complete, and shows
what every real one must do:

1. **Trust nothing unsigned.** With ``RETRAIN_WEBHOOK_SECRET`` set (the value of the webhook
   target's ``secret_env``), a request whose ``X-Driftline-Signature`` does not verify against
   the raw body, or is older than the tolerance, gets 401 before the body is even parsed.
2. **Deduplicate.** Driftline delivers at least once: a repeat carries the same
   ``Idempotency-Key`` (``retrain:<job id>``). The first delivery starts a job; every repeat gets
   a 200 ``duplicate`` so Driftline stops retrying, and starts nothing. Keys are kept in memory
   and, with ``RETRAIN_STATE_FILE``, appended to a file before the answer, so a restarted
   service still recognises a repeat. (One process only: the file is not locked.)
3. **Answer at once.** 202 right away; training runs after the response (Driftline's delivery
   timeout is seconds, training may take longer). The 202 is Driftline's delivery: if this
   process dies while training, nothing is resent and the job stays ``triggered`` in
   ``GET /v1/retrain-jobs`` (a production service would queue the job durably first).
4. **Always call back.** When the job ends, ``POST /v1/retrain-jobs/{id}/complete`` with
   ``{"status": "succeeded", "detail", "reference": rows}`` (Driftline promotes the rows as the
   monitor's new reference) or, on any failure, ``{"status": "failed", "detail"}``, so no job
   stays ``triggered`` forever.

The "training" is the model of ``driftline demo``: a least-squares linear regression of the
TrumpApproval polling average on five pollsters' estimates, refitted on the most recent labelled
rows. Driftline's API has no endpoint that returns a window's rows, so the rows come from a file:
``RETRAIN_DATA``, a CSV or Parquet path, where ``{monitor}`` is replaced by the trigger's monitor
name (the compose stack ships the later TrumpApproval days, ``examples/current.csv``).

Environment:

=========================== ==========================================================
``DRIFTLINE_URL``           Driftline as this service reaches it (``http://driftline:8000``).
                            The callback goes to ``{DRIFTLINE_URL}/v1/retrain-jobs/{id}/complete``;
                            without it, to the trigger's ``callback_url`` (only if signed).
``DRIFTLINE_API_KEY``       An API key of Driftline (in ``DRIFTLINE_API_KEYS``) for the callback.
``RETRAIN_WEBHOOK_SECRET``  The HMAC secret shared with Driftline; unset: unsigned triggers pass.
``RETRAIN_DATA``            CSV or Parquet of labelled rows; ``{monitor}`` is substituted.
``RETRAIN_ROWS``            Train on the last N rows only (default: all).
``RETRAIN_FEATURES``        Comma-separated feature columns (default: the demo's five pollsters).
``RETRAIN_TARGET``          Label column (default ``approval``).
``RETRAIN_PREDICTION``      Prediction column written into the reference (default ``prediction``).
``RETRAIN_STATE_FILE``      File keeping the idempotency keys seen, across restarts.
=========================== ==========================================================

Run it: ``uvicorn examples.retrain_service.app:app --port 8080`` from the repository root.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
import httpx
import numpy as np
import pandas as pd
from fastapi import BackgroundTasks, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.signing import SIGNATURE_HEADER, verify
from monitor.demo import FEATURES

__all__ = [
    "DEFAULT_TARGET",
    "JobRecord",
    "KeyStore",
    "LinearModel",
    "RetrainSettings",
    "RetrainTrigger",
    "app",
    "build_reference",
    "callback_target",
    "create_app",
    "load_rows",
    "retrain",
    "train",
]

logger = logging.getLogger("retrain_service")

#: The demo model's label: the polling average.
DEFAULT_TARGET = "approval"
#: Driftline refuses a completion ``detail`` longer than this.
MAX_DETAIL = 2000

ClientFactory = Callable[[], httpx.AsyncClient]


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainSettings:
    """What the service needs from its deployment (normally from the environment)."""

    driftline_url: str | None = None
    api_key: str | None = None
    webhook_secret: bytes | None = None
    data_path: str | None = None
    max_rows: int | None = None
    features: tuple[str, ...] = tuple(FEATURES)
    target: str = DEFAULT_TARGET
    prediction: str = "prediction"
    state_file: Path | None = None
    #: A signature older (or newer) than this is refused: a captured request cannot be replayed.
    tolerance_seconds: int = 300
    #: Callback attempts on connection errors and 5xx answers, with exponential backoff.
    callback_attempts: int = 5
    callback_backoff_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetrainSettings:
        """Read the variables listed in the module docstring; empty counts as unset.

        A malformed number raises ``ValueError`` at start-up rather than at the first trigger.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        rows = get("RETRAIN_ROWS")
        if rows is not None and int(rows) <= 0:
            raise ValueError(f"RETRAIN_ROWS must be a positive number of rows, not {rows!r}")
        features = get("RETRAIN_FEATURES")
        secret = get("RETRAIN_WEBHOOK_SECRET")
        state = get("RETRAIN_STATE_FILE")
        return cls(
            driftline_url=get("DRIFTLINE_URL"),
            api_key=get("DRIFTLINE_API_KEY"),
            webhook_secret=secret.encode() if secret else None,
            data_path=get("RETRAIN_DATA"),
            max_rows=int(rows) if rows else None,
            features=tuple(f.strip() for f in features.split(",") if f.strip()) if features else tuple(FEATURES),
            target=get("RETRAIN_TARGET") or DEFAULT_TARGET,
            prediction=get("RETRAIN_PREDICTION") or "prediction",
            state_file=Path(state) if state else None,
        )


# --- the trigger -----------------------------------------------------------------------------

_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # Driftline's names; also keeps `{monitor}` out of other folders


class RetrainTrigger(BaseModel):
    """The body of Driftline's retraining trigger; keys this service does not use are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["driftline.retrain"]
    #: Driftline's job ids are hex; the pattern keeps the callback path to one segment.
    job_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    monitor: str = Field(pattern=_NAME)
    model: str = Field(pattern=_NAME)
    callback_url: str = Field(pattern=r"^https?://")
    reason: str | None = None
    idempotency_key: str | None = None
    report_url: str | None = None
    trigger: dict[str, Any] | None = None


class TriggerAck(BaseModel):
    """The answer to a trigger: ``accepted`` (202), ``duplicate`` or ``ignored`` (200)."""

    status: Literal["accepted", "duplicate", "ignored"]
    job_id: str | None = None
    idempotency_key: str | None = None


# --- training: pure functions over frames ----------------------------------------------------


@dataclass(frozen=True)
class LinearModel:
    """A least-squares linear model: ``prediction = features @ weights + intercept``."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float
    #: Complete rows it was fitted on.
    rows: int

    @property
    def coefficients(self) -> np.ndarray:
        """The weights then the intercept: the layout of ``np.linalg.lstsq`` on ``[X, 1]``."""
        return np.array([*self.weights, self.intercept])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions for the rows of ``frame`` (which must hold every feature)."""
        x = frame[list(self.features)].to_numpy(dtype=np.float64)
        return np.asarray(x @ np.array(self.weights) + self.intercept, dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """Feature name to weight, plus ``intercept``: what ``GET /jobs`` shows."""
        return {**dict(zip(self.features, self.weights, strict=True)), "intercept": self.intercept}


def load_rows(path: str | Path, *, max_rows: int | None = None) -> pd.DataFrame:
    """The labelled rows of a CSV or Parquet file, the last ``max_rows`` only if given.

    "Last" is the most recent: by the ``timestamp`` column when there is one, else file order
    (a prediction log is appended in time order).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(p)
    elif suffix == ".csv":
        frame = pd.read_csv(p)
    else:
        raise ValueError(f"{p}: not a .csv or .parquet file")
    if "timestamp" in frame.columns:
        frame = frame.sort_values("timestamp", kind="stable")
    if max_rows is not None:
        frame = frame.tail(max_rows)
    return frame.reset_index(drop=True)


def _complete_rows(frame: pd.DataFrame, features: tuple[str, ...], target: str) -> pd.DataFrame:
    """Features and label as floats, rows with any of them missing (or not a number) dropped.

    Training and the reference use the same rows, so the reference is exactly what the new
    model was fitted on.
    """
    missing = [c for c in (*features, target) if c not in frame.columns]
    if missing:
        columns = ", ".join(map(str, frame.columns))
        raise ValueError(f"the training data has no column {missing[0]!r} (columns: {columns})")
    data = frame[[*features, target]].apply(pd.to_numeric, errors="coerce")
    kept: pd.DataFrame = data[np.isfinite(data.to_numpy(dtype=np.float64)).all(axis=1)].reset_index(drop=True)
    return kept


def train(frame: pd.DataFrame, features: tuple[str, ...] = tuple(FEATURES),
          target: str = DEFAULT_TARGET) -> LinearModel:
    """Fit ``target ~ features + intercept`` by least squares (``np.linalg.lstsq``).

    Refuses fewer than two complete rows per coefficient: a fit that interpolates a handful of
    rows would be promoted as a reference nobody should trust.
    """
    if not features:
        raise ValueError("no feature columns to train on")
    data = _complete_rows(frame, features, target)
    needed = 2 * (len(features) + 1)
    if len(data) < needed:
        raise ValueError(f"{len(data)} complete labelled rows are too few to fit {len(features) + 1} "
                         f"coefficients (at least {needed} are needed)")
    x = np.c_[data[list(features)].to_numpy(dtype=np.float64), np.ones(len(data))]
    coef, *_ = np.linalg.lstsq(x, data[target].to_numpy(dtype=np.float64), rcond=None)
    return LinearModel(features=tuple(features), weights=tuple(float(c) for c in coef[:-1]),
                       intercept=float(coef[-1]), rows=len(data))


def build_reference(frame: pd.DataFrame, model: LinearModel, *, target: str = DEFAULT_TARGET,
                    prediction: str = "prediction") -> list[dict[str, float]]:
    """The new reference for Driftline: each complete row's features, the new model's prediction
    and the label, as plain JSON numbers.

    With the label in it, Driftline can compare later performance against the new model's own.
    """
    if prediction in model.features or prediction == target:
        raise ValueError(f"the prediction column {prediction!r} is also a feature or the label")
    data = _complete_rows(frame, model.features, target)
    predicted = model.predict(data)
    columns = [*model.features, prediction, target]
    rows = []
    for values, pred in zip(data[[*model.features, target]].itertuples(index=False), predicted, strict=True):
        record = dict(zip([*model.features, target], (float(v) for v in values), strict=True))
        record[prediction] = float(pred)
        rows.append({c: record[c] for c in columns})
    return rows


def data_path_for(template: str | None, monitor: str) -> str:
    """``RETRAIN_DATA`` for one monitor (``{monitor}`` replaced; the name is already validated)."""
    if not template:
        raise ValueError("RETRAIN_DATA is not set: there are no rows to train on")
    return template.replace("{monitor}", monitor)


def retrain(trigger: RetrainTrigger, settings: RetrainSettings) -> tuple[LinearModel, list[dict[str, float]]]:
    """The whole job, synchronous: read the monitor's rows, refit, build the new reference."""
    frame = load_rows(data_path_for(settings.data_path, trigger.monitor), max_rows=settings.max_rows)
    model = train(frame, settings.features, settings.target)
    return model, build_reference(frame, model, target=settings.target, prediction=settings.prediction)


def describe(model: LinearModel, reference: list[dict[str, float]], target: str, prediction: str) -> str:
    """The completion's ``detail``: what was fitted, on how much, and how well (in-sample MAE)."""
    mae = float(np.mean([abs(r[target] - r[prediction]) for r in reference])) if reference else math.nan
    weights = ", ".join(f"{k}={v:.4g}" for k, v in model.as_dict().items())
    return f"linear model refitted on {model.rows} labelled rows: {weights}; in-sample MAE {mae:.4g}"[:MAX_DETAIL]


# --- the callback ----------------------------------------------------------------------------


def callback_target(trigger: RetrainTrigger, settings: RetrainSettings) -> str:
    """Where the completion goes.

    ``DRIFTLINE_URL`` first: inside a compose network Driftline is ``http://driftline:8000``,
    while ``callback_url`` is built from ``DRIFTLINE_PUBLIC_URL``, the address people use. The
    trigger's own ``callback_url`` is used only if the trigger was signed: the callback carries
    an API key, which must never go to a URL an unauthenticated caller chose.
    """
    if settings.driftline_url:
        return f"{settings.driftline_url.rstrip('/')}/v1/retrain-jobs/{trigger.job_id}/complete"
    if settings.webhook_secret is None:
        raise ValueError("neither DRIFTLINE_URL nor RETRAIN_WEBHOOK_SECRET is set: the API key is not "
                         "sent to the callback_url of an unsigned trigger")
    return trigger.callback_url


async def post_completion(client: httpx.AsyncClient, url: str, completion: dict[str, Any],
                          settings: RetrainSettings) -> httpx.Response | None:
    """POST the completion, retrying connection errors, 429 and 5xx with exponential backoff.

    Returns the last answer (``None`` if Driftline was never reached). A 4xx other than 429 is
    final: sending the same body again cannot change it.
    """
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    response: httpx.Response | None = None
    for attempt in range(settings.callback_attempts):
        if attempt:
            await asyncio.sleep(settings.callback_backoff_seconds * 2 ** (attempt - 1))
        try:
            response = await client.post(url, json=completion, headers=headers)
        except httpx.TransportError as exc:
            logger.warning("callback to Driftline failed (attempt %d): %s", attempt + 1, type(exc).__name__)
            continue
        if response.status_code != 429 and response.status_code < 500:
            return response
        logger.warning("callback to Driftline answered HTTP %d (attempt %d)", response.status_code, attempt + 1)
    return response


# --- state -----------------------------------------------------------------------------------


class KeyStore:
    """Idempotency keys already accepted: in memory, and appended to ``path`` when given.

    A key is written (and flushed to disk) before the 202 is sent, so a repeat that arrives after
    a restart is still a duplicate. One JSON string per line; a torn last line is skipped.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._keys: set[str] = set()
        if path is not None and path.exists():
            for line in path.read_text().splitlines():
                try:
                    self._keys.add(json.loads(line))
                except ValueError:
                    continue

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str) -> bool:
        """Record ``key``; ``False`` if it was already there (a duplicate delivery)."""
        if key in self._keys:
            return False
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a") as f:
                f.write(json.dumps(key) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._keys.add(key)
        return True


@dataclass
class JobRecord:
    """A trigger this process accepted, and what became of it (``GET /jobs``)."""

    idempotency_key: str
    job_id: str
    monitor: str
    model: str
    reason: str | None
    received_at: str
    #: accepted -> running -> succeeded | failed; callback_failed when Driftline could not be told.
    status: str = "accepted"
    detail: str | None = None
    coefficients: dict[str, float] | None = None
    reference_rows: int | None = None
    callback_url: str | None = None
    callback_status: int | None = None
    duplicates: int = 0


@dataclass
class _State:
    keys: KeyStore
    jobs: dict[str, JobRecord] = field(default_factory=dict)


async def run_job(trigger: RetrainTrigger, record: JobRecord, settings: RetrainSettings,
                  client_factory: ClientFactory) -> None:
    """Retrain (in a worker thread) and report the outcome to Driftline, whatever it is."""
    record.status = "running"
    try:
        url = callback_target(trigger, settings)
    except ValueError as exc:
        record.status, record.detail = "callback_failed", str(exc)
        logger.error("job %s: %s", trigger.job_id, exc)
        return
    record.callback_url = url
    completion: dict[str, Any]
    try:
        model, reference = await anyio.to_thread.run_sync(retrain, trigger, settings)
        record.coefficients, record.reference_rows = model.as_dict(), len(reference)
        completion = {"status": "succeeded", "reference": reference,
                      "detail": describe(model, reference, settings.target, settings.prediction)}
    except Exception as exc:  # any failure at all must reach Driftline as `failed`
        logger.exception("job %s of monitor %s failed", trigger.job_id, trigger.monitor)
        completion = {"status": "failed", "detail": f"retraining failed: {type(exc).__name__}: {exc}"[:MAX_DETAIL]}
    async with client_factory() as client:
        response = await post_completion(client, url, completion, settings)
        if (completion["status"] == "succeeded" and response is not None
                and 400 <= response.status_code < 500 and response.status_code not in (401, 403, 404, 429)):
            # Driftline refused the new reference (it does not fit the monitor's schema): say so,
            # or the job would stay `triggered` for ever.
            completion = {"status": "failed", "detail": (f"Driftline refused the new reference: HTTP "
                                                         f"{response.status_code}: {response.text}")[:MAX_DETAIL]}
            response = await post_completion(client, url, completion, settings)
    record.detail = completion["detail"]
    record.callback_status = None if response is None else response.status_code
    if response is not None and response.is_success:
        record.status = completion["status"]
        logger.info("job %s: %s, reported to Driftline", trigger.job_id, completion["status"])
    else:
        record.status = "callback_failed"
        logger.error("job %s: %s, but Driftline was not told (HTTP %s)", trigger.job_id,
                     completion["status"], record.callback_status)


# --- the app ---------------------------------------------------------------------------------


def _default_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0))


def create_app(settings: RetrainSettings | None = None, *, client_factory: ClientFactory = _default_client,
               clock: Callable[[], float] = time.time) -> FastAPI:
    """The service. ``client_factory`` and ``clock`` are seams for tests (a fake Driftline, a
    fixed time); everything else comes from ``settings`` (default: the environment)."""
    settings = RetrainSettings.from_env() if settings is None else settings
    state = _State(keys=KeyStore(settings.state_file))
    if settings.webhook_secret is None:
        logger.warning("RETRAIN_WEBHOOK_SECRET is not set: unsigned triggers are accepted")
    if settings.api_key is None:
        logger.warning("DRIFTLINE_API_KEY is not set: Driftline will refuse the completion callbacks")

    app = FastAPI(title="Driftline example retraining service", version="1")
    app.state.retrain = state

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/jobs", summary="Triggers accepted by this process, newest first")
    async def jobs() -> list[dict[str, Any]]:
        return [asdict(j) for j in reversed(state.jobs.values())]

    @app.post("/retrain", status_code=202, response_model=TriggerAck,
              summary="Receive Driftline's retraining trigger",
              responses={200: {"model": TriggerAck, "description": "a duplicate or an ignored alert"},
                         401: {"description": "missing or invalid X-Driftline-Signature"},
                         422: {"description": "not a retraining trigger"}})
    async def receive(request: Request, response: Response, background: BackgroundTasks) -> TriggerAck:
        body = await request.body()  # the raw bytes: they are what is signed
        if settings.webhook_secret is not None:
            header = request.headers.get(SIGNATURE_HEADER)
            if not header or not verify(settings.webhook_secret, header, body, now=int(clock()),
                                        tolerance_seconds=settings.tolerance_seconds):
                raise HTTPException(status_code=401, detail=f"missing or invalid {SIGNATURE_HEADER}")
        try:
            payload = json.loads(body)
        except ValueError:
            raise HTTPException(status_code=422, detail="the body is not JSON") from None
        if isinstance(payload, dict) and payload.get("type") == "driftline.alert":
            # An alert webhook pointed here: acknowledge it (so it is not retried) and do nothing.
            response.status_code = 200
            return TriggerAck(status="ignored", idempotency_key=request.headers.get("Idempotency-Key"))
        try:
            trigger = RetrainTrigger.model_validate(payload)
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=exc.errors(include_url=False, include_context=False)) from None
        key = request.headers.get("Idempotency-Key") or trigger.idempotency_key or f"retrain:{trigger.job_id}"
        if not state.keys.add(key):
            if key in state.jobs:
                state.jobs[key].duplicates += 1
            logger.info("duplicate delivery %s ignored", key)
            response.status_code = 200
            return TriggerAck(status="duplicate", job_id=trigger.job_id, idempotency_key=key)
        record = JobRecord(idempotency_key=key, job_id=trigger.job_id, monitor=trigger.monitor,
                           model=trigger.model, reason=trigger.reason,
                           received_at=datetime.now(UTC).isoformat())
        state.jobs[key] = record
        background.add_task(run_job, trigger, record, settings, client_factory)
        logger.info("job %s of monitor %s accepted (%s)", trigger.job_id, trigger.monitor, trigger.reason)
        return TriggerAck(status="accepted", job_id=trigger.job_id, idempotency_key=key)

    return app


def _log_to_stderr() -> None:
    """uvicorn configures only its own loggers: without a handler, this service's INFO lines
    (accepted, duplicate, reported) would never reach ``docker-compose logs retrain``."""
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     retrain: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


_log_to_stderr()
#: What ``uvicorn examples.retrain_service.app:app`` serves, configured from the environment.
app = create_app()
