"""HMAC-SHA256 signatures on webhook deliveries, so a receiver can trust what it gets.

Every signed delivery carries two signatures over the same key:

- **Standard Webhooks** (https://www.standardwebhooks.com), verifiable with a ready library in any
  language (Python: ``standardwebhooks.Webhook(secret).verify(body, headers)``)::

      webhook-id: <message id>            the idempotency key: the same on every attempt
      webhook-timestamp: <unix seconds>   the time of this attempt
      webhook-signature: v1,<base64 of HMAC-SHA256(key, f"{id}.{timestamp}.{body}")>

- **Driftline's own** header, kept for receivers written against it::

      X-Driftline-Signature: t=<unix seconds>,v1=<hex of HMAC-SHA256(key, f"{t}.{body}")>

  Verification, in any Python receiver::

    import hashlib, hmac, time

    def verify(secret: bytes, header: str, body: bytes, tolerance: int = 300) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(","))
        if abs(time.time() - int(parts["t"])) > tolerance:
            return False
        expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

The key (:func:`signing_key`) is the secret's UTF-8 bytes, or, for a secret in the Standard
Webhooks form ``whsec_<base64>``, the bytes that base64 decodes to. Both signatures sign the
timestamp, so a receiver refuses replays older than its tolerance (:data:`TOLERANCE_SECONDS`, five
minutes, as the Standard Webhooks libraries do); the standard one signs the message id too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

__all__ = [
    "SIGNATURE_HEADER",
    "TOLERANCE_SECONDS",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "sign",
    "sign_standard",
    "signed_headers",
    "signing_key",
    "verify",
    "verify_standard",
]

SIGNATURE_HEADER: Final = "X-Driftline-Signature"
WEBHOOK_ID_HEADER: Final = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER: Final = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER: Final = "webhook-signature"
#: How far a signature's timestamp may be from the receiver's clock, either way.
TOLERANCE_SECONDS: Final = 300

_SECRET_PREFIX: Final = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of a configured secret: ``whsec_<base64>`` decoded, any other secret as UTF-8.

    Raises ``ValueError`` (naming the problem, never the secret) for a ``whsec_`` secret that is
    not base64 or decodes to nothing.

    Examples
    --------
    >>> signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")[:4]
    b'1\\xf2\\x90\\xf6'
    >>> signing_key("s3cret")
    b's3cret'
    """
    if not secret.startswith(_SECRET_PREFIX):
        return secret.encode()
    encoded = secret[len(_SECRET_PREFIX):].strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret starting with whsec_ must be base64 after the prefix") from None
    if not key:
        raise ValueError("a secret starting with whsec_ has no key after the prefix")
    return key


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Driftline-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds).

    Examples
    --------
    >>> sign(b"k", b"{}", 1700000000)[:40]
    't=1700000000,v1=c6ef4734033cee2367414a09'
    """
    digest = _hmac(secret, str(timestamp).encode() + b"." + body).hex()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance_seconds: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` (``X-Driftline-Signature``) signs ``body`` within the tolerance of ``now``."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _hmac(secret, str(timestamp).encode() + b"." + body).hex()
    return hmac.compare_digest(expected, given)


def sign_standard(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``.

    Examples
    --------
    The test vector of the Standard Webhooks specification:

    >>> key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    >>> sign_standard(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
    """
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(_hmac(key, signed)).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The signature headers of one attempt: the three Standard Webhooks headers and ``X-Driftline-Signature``."""
    return {
        WEBHOOK_ID_HEADER: message_id,
        WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
        WEBHOOK_SIGNATURE_HEADER: sign_standard(key, message_id, timestamp, body),
        SIGNATURE_HEADER: sign(key, body, timestamp),
    }


def verify_standard(key: bytes, headers: Mapping[str, str], body: bytes, *, now: int,
                    tolerance_seconds: int = TOLERANCE_SECONDS) -> bool:
    """Whether Standard Webhooks ``headers`` sign ``body`` with ``key`` within the tolerance of ``now``.

    Header names are matched without regard to case; ``webhook-signature`` may list several
    space-separated signatures (key rotation), and one valid ``v1`` is enough.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    message_id = lower.get(WEBHOOK_ID_HEADER)
    stamp = lower.get(WEBHOOK_TIMESTAMP_HEADER, "")
    given = lower.get(WEBHOOK_SIGNATURE_HEADER)
    if not message_id or not given or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign_standard(key, message_id, timestamp, body).encode()
    ok = False
    for candidate in given.split(" "):
        ok |= candidate.startswith("v1,") and hmac.compare_digest(expected, candidate.encode())
    return ok
