"""API keys for writes: ``Authorization: Bearer <key>``, keys from ``DRIFTLINE_API_KEYS``.

The presented key is compared with every configured key by ``hmac.compare_digest`` over their
SHA-256 digests (no early exit and one length, so the time taken says nothing about which key
came close, or how long the keys are). With no key configured every
write is refused: set ``DRIFTLINE_API_KEYS`` (comma-separated) to allow them. Keys are never
logged or echoed; a refusal always reads ``missing or invalid API key``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from monitor.api.deps import SettingsDep
from monitor.api.errors import Unauthorized

__all__ = ["require_api_key"]

#: Declares the scheme in the OpenAPI document; our own check decides (auto_error=False).
_bearer = HTTPBearer(auto_error=False, scheme_name="apiKey", description="An API key from DRIFTLINE_API_KEYS.")


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def _matches(presented: bytes, keys: list[bytes]) -> bool:
    # Digests have one length, so compare_digest does not reveal a key's length either; every
    # key is compared, whatever the outcome of the others.
    mine = _digest(presented)
    ok = False
    for key in keys:
        ok |= hmac.compare_digest(mine, _digest(key))
    return ok


async def require_api_key(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Raise :class:`Unauthorized` unless the request carries one of the configured keys."""
    keys = settings.api_key_list()
    if credentials is None or not keys or not _matches(credentials.credentials.encode(), keys):
        raise Unauthorized
