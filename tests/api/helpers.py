"""Helpers shared by the API tests: keys, headers, batch encoders and the app served on a real store."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings

API_KEY = "k-9f2c71e4d0b84a55a7c1"
OTHER_KEY = "k-second-3b8e0a7c61d4"

JSON = "application/json"
NDJSON = "application/x-ndjson"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"


def auth(key: str = API_KEY, content_type: str | None = None) -> dict[str, str]:
    """Headers with a bearer key and, if given, a Content-Type."""
    headers = {"Authorization": f"Bearer {key}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def encode(rows: list[dict[str, Any]], content_type: str) -> bytes:
    """``rows`` in the encoding of ``content_type`` (CSV and Parquet through pandas)."""
    if content_type == JSON:
        return json.dumps(rows).encode()
    if content_type == NDJSON:
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    frame = pd.DataFrame(rows)
    if content_type == CSV:
        return frame.to_csv(index=False).encode()
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def prediction_rows(n: int = 3, **overrides: Any) -> list[dict[str, Any]]:
    """``n`` valid rows for model ``churn`` (timestamps given), with ``overrides`` in every row."""
    start = datetime(2025, 3, 1, 10, tzinfo=UTC)
    return [{"prediction_id": f"p-{i}", "timestamp": (start + timedelta(seconds=i)).isoformat(), "age": 30.5 + i,
             "income": 1000.0 * i, "plan": ["basic", "gold"][i % 2], "region": "eu", "prediction": "stay",
             "score": 0.1 * i, **overrides} for i in range(n)]


def values(series: pd.Series) -> list[Any]:
    """A column's values with None for missing (text columns hold NaN for missing)."""
    return [None if pd.isna(v) else v for v in series]


@asynccontextmanager
async def served(database_url: str, config: DriftlineConfig) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The app as ``driftline serve`` builds it (scheduler off, key :data:`API_KEY`), through its lifespan,
    and a client on it; the app's ``state.store`` is the store its lifespan opened."""
    settings = Settings(database_url=database_url, api_keys=SecretStr(API_KEY), scheduler=False)
    app = create_app(settings, config)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            yield c, app
