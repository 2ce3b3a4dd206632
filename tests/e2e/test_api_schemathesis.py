"""The OpenAPI document against a real ``driftline serve``: schemathesis, and the access log.

Schemathesis (its CLI, v4) reads ``/openapi.json`` from the running process and sends generated
requests to every operation: the coverage phase (boundary and invalid values of every parameter),
fuzzing, and the stateful phase (chains of calls following the responses). Every response must be
no server error, with a declared status, a declared content type and a body of the declared
schema. Seeded and bounded (30 examples per operation), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import API_KEY, ServeProcess

SEED = 20251201
MAX_EXAMPLES = 30
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def _schemathesis() -> str:
    found = Path(sys.executable).with_name("schemathesis")
    if not found.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'", pytrace=False)
    return str(found)


def _config(tmp_path: Path) -> Path:
    """One monitor with a file reference, so runs, reports and references all have something to show."""
    rng = np.random.default_rng(SEED)
    n = 300
    reference = tmp_path / "reference.parquet"
    pd.DataFrame({"x1": rng.normal(size=n), "plan": rng.choice(["a", "b"], n),
                  "prediction": rng.choice(["0", "1"], n), "label": rng.choice(["0", "1"], n)}).to_parquet(reference)
    path = tmp_path / "driftline.yaml"
    path.write_text(f"""\
monitors:
  - name: churn
    model: churn-model
    every: 1h
    window: {{last: 1h}}
    min_rows: 10
    reference: {{type: file, path: {reference}}}
    schema:
      target: label
      numerical: [x1]
      categorical: [plan]
""")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftline.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_the_api_conforms_to_its_openapi_document(serve: Callable[..., ServeProcess], database_url: str,
                                                  tmp_path: Path) -> None:
    process = serve(database_url, _config(tmp_path))
    process.wait_ready()
    operations = sum(len(ops) for ops in httpx.get(f"{process.url}/openapi.json", timeout=10).json()["paths"].values())
    # A stored run, so the run, report and list operations answer 200 with bodies as well as errors.
    assert httpx.post(f"{process.url}/v1/monitors/churn/runs", headers=process.auth, timeout=30).status_code == 201
    done = subprocess.run(
        [_schemathesis(), "run", f"{process.url}/openapi.json", "--checks", CHECKS,
         "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--header", f"Authorization: Bearer {API_KEY}",
         "--phases", "coverage,fuzzing,stateful", "--generation-database", "none", "--no-color",
         "--request-timeout", "30"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"schemathesis found failures:\n{out[-12000:]}"
    tested = re.search(r"Tested: (\d+)", out)
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    assert tested and counts, out[-4000:]
    assert int(tested.group(1)) == operations, out[-4000:]
    assert int(counts.group(1)) == int(counts.group(2)) >= operations * 10, out[-4000:]
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ {phase}", out), f"{phase} phase did not pass:\n{out[-4000:]}"
    log = process.text()
    assert "Traceback" not in log and not re.search(r'" 5\d\d ', log), log[-4000:]
    process.stop()


def test_a_key_in_the_query_string_is_refused_and_never_logged(serve: Callable[..., ServeProcess],
                                                              tmp_path: Path) -> None:
    process = serve(f"sqlite:///{tmp_path / 'driftline.db'}", _config(tmp_path))
    process.wait_ready()
    base = process.url
    refused = httpx.post(f"{base}/v1/monitors/churn/runs?api_key={API_KEY}", timeout=10)
    read = httpx.get(f"{base}/v1/monitors/churn/runs", params={"limit": "5", "access_token": API_KEY,
                                                               "Token": API_KEY, "key": API_KEY}, timeout=10)
    assert refused.status_code == 401 and read.status_code == 200
    process.wait_for_log(r'"GET /v1/monitors/churn/runs\?\S+ HTTP/1\.1" 200')
    process.stop()
    log = process.text()
    assert API_KEY not in log
    assert '"POST /v1/monitors/churn/runs?api_key=*** HTTP/1.1" 401' in log
    assert '"GET /v1/monitors/churn/runs?limit=5&access_token=***&Token=***&key=*** HTTP/1.1" 200' in log
