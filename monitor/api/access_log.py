"""Access-log hygiene: secrets sent in a query string never reach the log.

Keys belong in ``Authorization``; a client that sends ``?api_key=...`` is refused (401), but
uvicorn's access log prints the request target with its query, so the key would be written to
disk and shipped to the log store. :class:`MaskQuerySecrets` rewrites the path of each
``uvicorn.access`` record, replacing the value of every secret-looking parameter with ``***``;
:func:`uvicorn_log_config` is uvicorn's own logging configuration with that filter installed.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Final
from urllib.parse import unquote_plus

__all__ = ["MASK", "SECRET_PARAMETERS", "MaskQuerySecrets", "mask_query_secrets", "uvicorn_log_config"]

#: Query parameters whose value is masked (compared case-insensitively, after percent-decoding).
SECRET_PARAMETERS: Final[frozenset[str]] = frozenset({
    "key", "api_key", "apikey", "api-key", "token", "access_token", "refresh_token", "id_token", "auth",
    "authorization", "password", "secret", "client_secret", "signature", "sig",
})
MASK: Final = "***"


def _masked(pair: str) -> str:
    name, sep, _value = pair.partition("=")
    return f"{name}={MASK}" if sep and unquote_plus(name).strip().lower() in SECRET_PARAMETERS else pair


def mask_query_secrets(target: str) -> str:
    """``target`` (a path with its query) with the value of every secret parameter replaced by ``***``.

    >>> mask_query_secrets("/v1/monitors?api_key=k-123&limit=5")
    '/v1/monitors?api_key=***&limit=5'
    """
    path, sep, query = target.partition("?")
    if not sep:
        return target
    return f"{path}?" + "&".join(_masked(pair) for pair in query.split("&"))


class MaskQuerySecrets(logging.Filter):
    """Masks query secrets in uvicorn's access records (``args`` = client, method, target, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], mask_query_secrets(args[2]), *args[3:])
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with :class:`MaskQuerySecrets` on ``uvicorn.access``."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_query_secrets"] = {"()": MaskQuerySecrets}
    config["loggers"]["uvicorn.access"]["filters"] = ["mask_query_secrets"]
    return config
