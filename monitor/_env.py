"""``${VAR}`` in the secret-bearing values of ``driftline.yaml``: substituted after parsing, never shown.

A ``sql`` source's URL and a webhook target's URL may carry credentials (a database password,
the token in a chat webhook's path). They may be written with references to environment
variables, ``postgresql+psycopg://reader:${PGPASSWORD}@warehouse/analytics``:

- ``${VAR}`` is the variable's value (an empty value stays empty);
- ``${VAR:-default}`` is the value, or ``default`` when the variable is unset or empty;
- ``$${`` is a literal ``${`` (any other ``$`` is kept as it is, so ``pa$word`` needs no escape);
- an unset variable without a default is an error naming the variable, never a value.

The substitution runs on the parsed scalar (a pydantic ``BeforeValidator``), after YAML has
been composed: a variable's value is never YAML, so it cannot add keys, lists or anchors. The
environment comes from the validation context (``{"env": mapping}``; ``os.environ`` when absent),
so a test hands in its own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationInfo

__all__ = ["SECRET_KEYS", "substitute", "substitute_env"]

#: Keys whose values may carry credentials: substituted here, never echoed in an error message.
SECRET_KEYS = frozenset({"url"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")


def substitute(text: str, env: Mapping[str, str]) -> str:
    """``text`` with every ``${VAR}`` and ``${VAR:-default}`` replaced from ``env``; ``$${`` is ``${``.

    Raises ``ValueError`` naming the variable (or the malformed reference), never a value.

    Examples
    --------
    >>> substitute("postgresql://reader:${PW}@db/x", {"PW": "s3cret"})
    'postgresql://reader:s3cret@db/x'
    >>> substitute("${HOST:-localhost}:$${literal}", {})
    'localhost:${literal}'
    """

    def replace(m: re.Match[str]) -> str:
        token = m[0]
        if token == "$${":
            return "${"
        if m[1] is None:
            raise ValueError("'${' is not closed by '}' (write $${ for a literal ${)")
        name, sep, default = m[1].partition(":-")
        if not _NAME.match(name):  # not echoed: the text may be part of a password written in the file
            raise ValueError("a '${' starts a reference that is not ${NAME} or ${NAME:-default} (NAME: letters, "
                             "digits and _, not starting with a digit); write $${ for a literal ${")
        value = env.get(name)
        if value is None or (sep and value == ""):
            if sep:
                return default
            raise ValueError(f"environment variable {name} is not set (referenced as ${{{name}}}); set it, or give "
                             f"a default: ${{{name}:-value}}")
        return value

    return _TOKEN.sub(replace, text)


def substitute_env(value: Any, info: ValidationInfo) -> Any:
    """A pydantic ``BeforeValidator``: substitute a string value from the context's ``env`` (else ``os.environ``)."""
    if not isinstance(value, str) or "${" not in value:
        return value
    context = info.context if isinstance(info.context, Mapping) else {}
    env = context.get("env")
    return substitute(value, env if isinstance(env, Mapping) else os.environ)
