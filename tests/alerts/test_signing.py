"""Webhook signatures against independent oracles.

- the ``standardwebhooks`` package (the Standard Webhooks reference library for Python) verifies
  the ``webhook-*`` headers the deliverer sends, and refuses them tampered or out of its window;
- the test vector published with the Standard Webhooks specification;
- the ``verify_driftline`` snippet of docs/alerting.md, executed from the page itself, verifies
  ``X-Driftline-Signature`` as before (the compatibility promise);
- our receiving helpers (``verify``, ``verify_standard``) keep a 5-minute replay window both ways.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from alerts.delivery import Deliverer
from alerts.outbox import DeliveryStatus, OutboxMessage
from alerts.signing import (
    SIGNATURE_HEADER,
    TOLERANCE_SECONDS,
    sign,
    sign_standard,
    signed_headers,
    signing_key,
    verify,
    verify_standard,
)
from monitor import domain
from monitor.errors import ConfigError
from tests.alerts.test_alerts_units import MemoryOutbox

ALERTING_MD = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
#: The secret and test vector of the Standard Webhooks specification (its "Signature scheme" section).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

TARGET = domain.WebhookTarget(name="ops", url="http://ops.test/hook", secret_env="DL_SIGNING_TEST_SECRET",
                              max_attempts=3, backoff=timedelta(seconds=1), backoff_max=timedelta(seconds=10))
BODY = '{"monitor":"churn","type":"driftline.alert"}'


def _documented_snippet() -> Callable[..., bool]:
    """``verify_driftline`` exactly as docs/alerting.md prints it."""
    blocks = re.findall(r"```python\n(.*?)```", ALERTING_MD.read_text(), flags=re.DOTALL)
    source = next(b for b in blocks if "def verify_driftline(" in b)
    namespace: dict[str, Any] = {}
    exec(compile(source, str(ALERTING_MD), "exec"), namespace)  # our own documentation
    snippet: Callable[..., bool] = namespace["verify_driftline"]
    return snippet


async def _deliver(secret: str, monkeypatch: pytest.MonkeyPatch, *, attempts: int = 1,
                   start: datetime | None = None) -> list[httpx.Request]:
    """What the deliverer sends for one message to a receiver that answers 503 (so it retries)."""
    monkeypatch.setenv("DL_SIGNING_TEST_SECRET", secret)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    clock = {"now": start or datetime.now(UTC)}
    outbox = MemoryOutbox([OutboxMessage(target="ops", idempotency_key="churn:drift:6b66cb8e", kind="alert",
                                         payload=BODY)])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        deliverer = Deliverer(outbox, client, {"ops": TARGET}, now=lambda: clock["now"], rng=np.random.default_rng(0))
        for _ in range(attempts):
            await deliverer.deliver_due()
            clock["now"] += timedelta(seconds=20)
    assert len(seen) == attempts and outbox.messages[0].status is not DeliveryStatus.DELIVERED
    return seen


# --- the reference library as the oracle ---------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("secret", [SPEC_SECRET, "plain-s3cret-value"])
async def test_the_standardwebhooks_library_verifies_our_deliveries(secret: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    request = (await _deliver(secret, monkeypatch))[0]
    # The library's own reading of a secret: whsec_ base64 as a string, anything else as raw bytes.
    library = Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())
    headers = dict(request.headers)
    assert library.verify(request.content, headers) == json.loads(BODY)
    assert headers["webhook-id"] == request.headers["Idempotency-Key"] == "churn:drift:6b66cb8e"
    for tampered_body, tampered in [(request.content + b" ", headers),
                                    (request.content, {**headers, "webhook-id": "churn:drift:other"}),
                                    (request.content, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 30)})]:
        with pytest.raises(WebhookVerificationError):
            library.verify(tampered_body, tampered)
    with pytest.raises(WebhookVerificationError):  # another key
        Webhook(base64.b64encode(b"another key").decode()).verify(request.content, headers)


@pytest.mark.anyio
async def test_a_replayed_delivery_is_refused_by_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    # Signed 10 minutes ago: outside the library's 5-minute window, however valid the signature.
    request = (await _deliver(SPEC_SECRET, monkeypatch, start=datetime.now(UTC) - timedelta(minutes=10)))[0]
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SPEC_SECRET).verify(request.content, dict(request.headers))
    assert verify_standard(signing_key(SPEC_SECRET), dict(request.headers), request.content,
                           now=int(time.time())) is False


@pytest.mark.anyio
async def test_every_attempt_keeps_the_id_and_signs_its_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime.now(UTC) - timedelta(seconds=60)
    first, second = await _deliver(SPEC_SECRET, monkeypatch, attempts=2, start=start)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) == 20
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.content == second.content
    for request in (first, second):
        Webhook(SPEC_SECRET).verify(request.content, dict(request.headers))


def test_the_published_test_vector() -> None:
    key = signing_key(SPEC_SECRET)
    assert sign_standard(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TIMESTAMP), "webhook-signature": SPEC_SIGNATURE}
    assert verify_standard(key, headers, SPEC_BODY, now=SPEC_TIMESTAMP)
    # The library agrees on the same vector (it checks the window against its own clock: sign anew).
    now = int(time.time())
    fresh = signed_headers(key, SPEC_ID, now, SPEC_BODY)
    Webhook(SPEC_SECRET).verify(SPEC_BODY, fresh)


def test_our_verifier_agrees_with_the_library_on_signatures_it_made() -> None:
    rng = np.random.default_rng(20251201)
    now = int(time.time())
    for _ in range(50):
        raw = rng.bytes(int(rng.integers(1, 64)))
        secret = "whsec_" + base64.b64encode(raw).decode()
        body = json.dumps({"v": rng.normal(), "s": "é\u2603"}).encode()
        message_id = f"msg_{rng.integers(1 << 40)}"
        made = Webhook(secret).sign(message_id, datetime.fromtimestamp(now, tz=UTC), body.decode())
        headers = {"Webhook-Id": message_id, "Webhook-Timestamp": str(now), "Webhook-Signature": made}
        assert made == sign_standard(raw, message_id, now, body)
        assert verify_standard(signing_key(secret), headers, body, now=now)
        assert not verify_standard(signing_key(secret), headers, body + b"x", now=now)


# --- the replay window of our receiving helpers -----------------------------------------------------------

@pytest.mark.parametrize("skew", [-TOLERANCE_SECONDS - 1, TOLERANCE_SECONDS + 1, -3600, 86_400])
def test_the_window_refuses_stale_and_future_signatures(skew: int) -> None:
    key, now = b"k" * 32, 1_800_000_000
    headers = signed_headers(key, "m-1", now + skew, b"{}")
    assert not verify_standard(key, headers, b"{}", now=now)
    assert not verify(key, headers[SIGNATURE_HEADER], b"{}", now=now)


@pytest.mark.parametrize("skew", [-TOLERANCE_SECONDS, 0, TOLERANCE_SECONDS])
def test_the_window_accepts_its_edges(skew: int) -> None:
    key, now = b"k" * 32, 1_800_000_000
    headers = signed_headers(key, "m-1", now + skew, b"{}")
    assert verify_standard(key, headers, b"{}", now=now)
    assert verify(key, headers[SIGNATURE_HEADER], b"{}", now=now)


def test_key_rotation_and_malformed_headers() -> None:
    key, now = b"new key", 1_800_000_000
    headers = signed_headers(key, "m-1", now, b"{}")
    old = sign_standard(b"old key", "m-1", now, b"{}")
    assert verify_standard(key, {**headers, "webhook-signature": f"{old} {headers['webhook-signature']}"}, b"{}", now=now)
    assert not verify_standard(key, {**headers, "webhook-signature": old}, b"{}", now=now)
    for broken in ({"webhook-timestamp": "soon"}, {"webhook-id": ""}, {"webhook-signature": "v2," + "A" * 44}):
        assert not verify_standard(key, {**headers, **broken}, b"{}", now=now)
    assert not verify_standard(key, {}, b"{}", now=now)


# --- compatibility: X-Driftline-Signature and the documented snippet -----------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("secret", ["plain-s3cret-value", SPEC_SECRET])
async def test_the_documented_snippet_still_verifies(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = _documented_snippet()
    request = (await _deliver(secret, monkeypatch))[0]
    # As the page says: the secret's bytes, or a whsec_ secret's decoded bytes.
    key = base64.b64decode(secret.removeprefix("whsec_")) if secret.startswith("whsec_") else secret.encode()
    header = request.headers[SIGNATURE_HEADER]
    assert snippet(key, header, request.content)
    assert not snippet(key, header, request.content + b" ")
    assert not snippet(b"wrong", header, request.content)
    assert not snippet(key, None, request.content)
    # A valid signature made 10 minutes ago: refused for its age alone.
    stale = sign(key, request.content, int(time.time()) - 600)
    assert verify(key, stale, request.content, now=int(time.time()) - 600)
    assert not snippet(key, stale, request.content)


# --- secrets ----------------------------------------------------------------------------------------------

def test_signing_key_reads_both_forms() -> None:
    assert signing_key("s3cret") == b"s3cret"
    assert signing_key(SPEC_SECRET) == base64.b64decode(SPEC_SECRET.removeprefix("whsec_"))
    assert signing_key("whsec_YWJj") == b"abc"  # unpadded base64, as the library accepts it
    for bad in ("whsec_not base64!", "whsec_"):
        with pytest.raises(ValueError, match="whsec_"):
            signing_key(bad)


def test_a_malformed_whsec_secret_stops_the_deliverer_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DL_SIGNING_TEST_SECRET", "whsec_hunter2!!")
    with pytest.raises(ConfigError) as caught:
        Deliverer(MemoryOutbox([]), httpx.AsyncClient(), {"ops": TARGET}, now=lambda: datetime.now(UTC))
    assert "DL_SIGNING_TEST_SECRET" in str(caught.value) and "'ops'" in str(caught.value)
    assert "hunter2" not in str(caught.value) and caught.value.path == "webhooks.ops.secret_env"


@pytest.mark.anyio
async def test_an_unsigned_target_sends_no_signature_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DL_SIGNING_TEST_SECRET", raising=False)
    seen: list[httpx.Request] = []
    outbox = MemoryOutbox([OutboxMessage(target="ops", idempotency_key="k", kind="alert", payload="{}")])
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))) as c:
        assert await Deliverer(outbox, c, {"ops": TARGET}, now=lambda: datetime.now(UTC)).deliver_due() == 1
    names = {n.lower() for n in seen[0].headers}
    assert not names & {"webhook-id", "webhook-timestamp", "webhook-signature", SIGNATURE_HEADER.lower()}
