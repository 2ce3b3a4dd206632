"""pydantic's validation errors of ``driftline.yaml`` in Driftline's words, each at its key's line.

pydantic says "Input should be a valid dictionary or instance of Window" and "Extra inputs are
not permitted"; a user needs "expected a mapping like {last: 1h}" and "unknown key 'alpah' (did
you mean 'alpha'?)". Each error's location is followed through the models (a field by its key,
a list item by its index, a discriminated union by its tag), which gives the model whose keys
are allowed there, the field's bounds and the valid choices; the union tags pydantic inserts
into locations are dropped, so the path is the file's own (``monitors.0.features.age.alpah``).

Values under :data:`monitor._env.SECRET_KEYS` (URLs) are never echoed: they may hold a
substituted secret.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from monitor._env import SECRET_KEYS

__all__ = ["format_errors", "message"]

#: What a mapping of each model looks like, for "expected a mapping like ..." (by model name).
_EXAMPLES = {
    "DriftlineConfig": "{monitors: [...], webhooks: [...]}",
    "MonitorConfig": "{name: churn, model: churn-v3, schema: {...}, every: 15m}",
    "Schema": "{numerical: [age, income], categorical: [plan]}",
    "Window": "{last: 1h} or {rows: 10000}",
    "PerformanceConfig": "{alpha: 0.05, min_labels: 30}",
    "PValueOptions": "{method: ks, alpha: 0.01}",
    "DistanceOptions": "{method: psi, threshold: 0.2}",
    "StoreSource": "{type: store}",
    "SqlSource": "{type: sql, url: ..., table: predictions}",
    "FileSource": "{type: files, path: /data/*.parquet}",
    "FileReference": "{type: file, path: reference.parquet}",
    "StoreReference": "{type: store, from: 2025-01-01, to: 2025-02-01}",
    "UploadReference": "{type: upload}",
    "AlertRule": "{name: drift, when: dataset_drift, webhooks: [ops]}",
    "WebhookTarget": "{name: ops, url: https://hooks.example.com/x}",
    "RetrainPolicy": "{on: [drift], action: {type: http, webhook: retrainer}}",
    "HttpAction": "{type: http, webhook: retrainer}",
    "CommandAction": "{type: command, argv: [retrain, --full]}",
}
#: Examples of a union by the key it sits under (its members share one example).
_UNION_EXAMPLES = {"source": "{type: store}", "reference": "{type: upload}", "action": "{type: http, webhook: retrainer}"}
#: Examples of the mappings that are not models, by key.
_DICT_EXAMPLES = {"features": "{age: {method: ks, alpha: 0.01}}", "columns": "{timestamp: scored_at}"}
#: What a union's tag names, by the key the union sits under (a feature's key is its name: "method").
_KINDS = {"source": "source type", "reference": "reference type", "action": "retraining action type"}
_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_NAME_RULE = ("lower-case letters, digits, '_' and '-', starting with a letter or a digit, at most 63 characters")
#: Method -> parameter: keys of one option family written on the other (``threshold`` on ``ks``).
_OTHER_FAMILY = {
    ("PValueOptions", "threshold"): ("{method} is a p-value test: it takes alpha (a distance takes threshold)", "alpha"),
    ("DistanceOptions", "effect_floor"): ("{method} is a distance: its threshold is the effect floor", "threshold"),
}


@dataclass
class _Where:
    """An error's location followed through the models."""

    path: list[Any] = field(default_factory=list)  # the file's key path (union tags dropped)
    model: type[BaseModel] | None = None  # the innermost model reached
    info: FieldInfo | None = None  # the last field reached
    annotation: Any = None  # the type at the end of the location
    tag: str | None = None  # the last union tag passed (a feature's method, a source's type)
    complete: bool = True  # every item of the location was followed


def _strip(tp: Any) -> Any:
    """``tp`` without ``Annotated`` and without ``None`` in a union (``X | None`` -> ``X``)."""
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1:
            return _strip(members[0])
    return tp


def _members(tp: Any) -> list[type[BaseModel]]:
    """The models of a (discriminated) union type, else ``[]``."""
    tp = _strip(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [m for m in (_strip(a) for a in get_args(tp)) if isinstance(m, type) and issubclass(m, BaseModel)]
    return []


def _tags(model: type[BaseModel], key: str | None = None) -> tuple[str, ...]:
    """The values of ``model``'s ``Literal`` field ``key`` (any ``Literal`` field when ``key`` is None)."""
    for name, info in model.model_fields.items():
        if key is not None and (info.alias or name) != key:
            continue
        ann = _strip(info.annotation)
        if get_origin(ann) is Literal:
            return tuple(str(a) for a in get_args(ann))
    return ()


def _field(model: type[BaseModel], key: Any) -> FieldInfo | None:
    return next((info for name, info in model.model_fields.items() if (info.alias or name) == key), None)


def _follow(root: type[BaseModel], loc: Sequence[Any]) -> _Where:
    where = _Where(model=root, annotation=root)
    tp: Any = root
    for item in loc:
        if isinstance(item, str) and "[" in item:  # a validator's name pydantic puts into locations
            continue
        tp = _strip(tp)
        members = _members(tp)
        if members:
            chosen = next((m for m in members if item in _tags(m)), None)
            if chosen is not None:  # a union tag, not a key of the file
                where.tag, tp = str(item), chosen
                continue
        where.path.append(item)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = _field(tp, item)
            where.model = tp
            if info is None:
                where.complete, where.info = False, None
                return where
            where.info, tp = info, info.annotation
        elif get_origin(tp) in (tuple, list) and isinstance(item, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            where.complete = False
            return where
    where.annotation = tp
    return where


def _show(value: Any) -> str:
    """A value as it reads in YAML, shortened."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, date):
        return value.isoformat()
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _got(value: Any, secret: bool) -> str:
    return "" if secret else f", got {_show(value)}"


def _suggest(word: Any, choices: Sequence[str]) -> str:
    # 0.75: 'alpah' -> 'alpha' (0.8), 'uplod' -> 'upload' (0.91), but not 'postgres' -> 'store' (0.62).
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _quoted(text: str) -> list[str]:
    return re.findall(r"'([^']*)'", text)


def _bounds(info: FieldInfo | None) -> str | None:
    """The range a field's ``gt``/``ge``/``lt``/``le`` allow, in words (``in the open interval (0, 1)``)."""
    if info is None:
        return None
    lo: Any = None
    hi: Any = None
    lo_open = hi_open = False
    for m in info.metadata:
        if isinstance(m, at.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, at.Ge):
            lo = m.ge
        elif isinstance(m, at.Lt):
            hi, hi_open = m.lt, True
        elif isinstance(m, at.Le):
            hi = m.le
    if lo is not None and hi is not None:
        if lo_open and hi_open:
            return f"in the open interval ({lo}, {hi})"
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"greater than {lo}" if lo_open else f"at least {lo}"
    if hi is not None:
        return f"less than {hi}" if hi_open else f"at most {hi}"
    return None


def _mapping_example(where: _Where, key: Any) -> str:
    ann = _strip(where.annotation)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return _EXAMPLES.get(ann.__name__, "{key: value}")
    members = _members(ann)
    if members:
        return _UNION_EXAMPLES.get(str(key)) or _EXAMPLES.get(members[0].__name__, "{type: ...}")
    return _DICT_EXAMPLES.get(str(key), "{key: value}")


def message(err: ErrorDetails, root: type[BaseModel]) -> tuple[tuple[Any, ...], str]:
    """One pydantic error as (the file's key path, Driftline's message)."""
    kind, loc, value, ctx = err["type"], err["loc"], err.get("input"), err.get("ctx") or {}
    where = _follow(root, loc)
    path = tuple(where.path)
    key = path[-1] if path else None
    secret = key in SECRET_KEYS
    if kind == "extra_forbidden":
        allowed = [info.alias or name for name, info in where.model.model_fields.items()] if where.model else []
        model = where.model.__name__ if where.model else ""
        rule = _OTHER_FAMILY.get((model, str(key)))
        if rule is not None:
            text, use = rule
            return path, f"unknown key {key!r}: {text.format(method=where.tag)} (did you mean {use!r}?)"
        hint = _suggest(key, allowed) or (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        return path, f"unknown key {key!r}{hint}"
    if kind == "missing":
        return path[:-1], f"missing required key {key!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if not path:
            return path, f"the file must be a mapping with a 'monitors' list{_got(value, False)}"
        return path, f"expected a mapping like {_mapping_example(where, key)}{_got(value, secret)}"
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return path, f"expected a list (such as [a, b], or one '- item' per line){_got(value, secret)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = (_quoted(str(ctx.get("discriminator", ""))) or ["type"])[0]
        choices = [t for m in _members(where.annotation) for t in _tags(m, disc)]
        listed = ", ".join(choices)
        if kind == "union_tag_not_found":
            return path, f"missing key {disc!r} (one of: {listed})"
        tag = value.get(disc) if isinstance(value, Mapping) else ctx.get("tag")
        noun = _KINDS.get(str(key), disc)
        return (*path, disc), f"{_show(tag)} is not a {noun}; use one of: {listed}{_alias(disc, tag, choices)}"
    if kind in ("literal_error", "enum"):
        choices = _quoted(str(ctx.get("expected", "")))
        return path, f"{_show(value)} is not one of: {', '.join(choices)}{_suggest(value, choices)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return path, f"expected a whole number{_got(value, secret)}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return path, f"expected a number{_got(value, secret)}"
    if kind in ("bool_parsing", "bool_type"):
        return path, f"expected true or false{_got(value, secret)}"
    if kind == "string_type":
        return path, f"expected text{_got(value, secret)}{_quote_hint(value)}"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == _NAME_PATTERN:
            return path, f"{_show(value)} is not a valid name: {_NAME_RULE}"
        return path, f"does not match the pattern {ctx.get('pattern')}{_got(value, secret)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bounds = _bounds(where.info) or _bound_from_ctx(kind, ctx)
        return path, f"must be {bounds}{_got(value, secret)}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return path, f"needs at {'least' if kind == 'too_short' else 'most'} {n} item{'s' if n != 1 else ''}"
    if kind in ("value_error", "assertion_error"):
        return path, str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return path, _fallback(str(err["msg"]))


def _alias(disc: str, tag: Any, choices: Sequence[str]) -> str:
    """For a method: an Evidently spelling named as such, else the closest valid name."""
    if disc == "method" and isinstance(tag, str):
        from monitor.aliases import EVIDENTLY_ALIASES

        if tag in EVIDENTLY_ALIASES:
            return f" ({tag!r} is Evidently's name; Driftline's is {EVIDENTLY_ALIASES[tag].value!r})"
    return _suggest(tag, choices)


def _quote_hint(value: Any) -> str:
    if isinstance(value, bool):
        return " (YAML reads yes, no, on, off, true and false as booleans: quote the text)"
    if isinstance(value, date):
        return " (YAML reads an unquoted date as a date: quote it)"
    if isinstance(value, int | float):
        return " (quote a name made of digits)"
    return ""


def _bound_from_ctx(kind: str, ctx: Mapping[str, Any]) -> str:
    words = {"greater_than": ("greater than", "gt"), "greater_than_equal": ("at least", "ge"),
             "less_than": ("less than", "lt"), "less_than_equal": ("at most", "le")}
    text, key = words[kind]
    return f"{text} {ctx.get(key)}"


def _fallback(msg: str) -> str:
    """An error type not translated above, without pydantic's phrasing."""
    msg = re.sub(r"^Input should be (a valid )?", "expected ", msg)
    return msg.replace("instance of ", "").split("\n")[0]


_KEY_PATH = re.compile(r"^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*): (.*)$", re.DOTALL)


def _relative_key(path: tuple[Any, ...], msg: str, lines: Mapping[tuple[Any, ...], int]) -> tuple[tuple[Any, ...], str]:
    """A cross-field message led by a key path below ``path`` (``features.plan.method: ...``), located there.

    Model validators can only fail as a whole, at the model's location; a message that names
    the offending key by its path is moved to that key, so the error carries the key's line.
    """
    m = _KEY_PATH.match(msg)
    if m:
        sub = tuple(int(x) if x.isdigit() else x for x in m[1].split("."))
        if path + sub in lines or path + sub[:-1] in lines:
            return path + sub, m[2]
    return path, msg


def format_errors(exc: ValidationError, root: type[BaseModel], source: str,
                  lines: Mapping[tuple[Any, ...], int]) -> list[str]:
    """Every error of ``exc`` as ``FILE:LINE key.path: message``, in the file's order (a model validator's lines split)."""
    out: list[tuple[int, str]] = []
    for err in exc.errors():
        path, text = message(err, root)
        for msg in text.split("\n"):
            at_path, msg = _relative_key(path, msg, lines)
            line = next((lines[at_path[:k]] for k in range(len(at_path), -1, -1) if at_path[:k] in lines), 1)
            where = ".".join(str(x) for x in at_path)
            out.append((line, f"{source}:{line} {where}: {msg}" if where else f"{source}:{line} {msg}"))
    return [text for _, text in sorted(out, key=lambda item: item[0])]
