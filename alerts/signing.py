"""HMAC-SHA256 signatures on webhook deliveries, so a receiver can trust what it gets.

Header ``X-Driftline-Signature: t=<unix seconds>,v1=<hex>`` where the hex digest is
HMAC-SHA256(secret, f"{t}.{body}"). The timestamp is signed too, so a receiver can refuse
replays older than its tolerance. Verification, in any Python receiver::

    import hashlib, hmac, time

    def verify(secret: bytes, header: str, body: bytes, tolerance: int = 300) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(","))
        if abs(time.time() - int(parts["t"])) > tolerance:
            return False
        expected = hmac.new(secret, parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Driftline-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds).

    Examples
    --------
    >>> sign(b"k", b"{}", 1700000000)[:40]
    't=1700000000,v1=c6ef4734033cee2367414a09'
    """
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, *, now: int, tolerance_seconds: int = 300) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within the tolerance of ``now``."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)
