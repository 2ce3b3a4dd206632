"""Reading a YAML file that may be hostile: bounded in depth and in alias expansion, strict on keys.

PyYAML's composer recurses once per nesting level (a few thousand levels end in RecursionError)
and its scanner is quadratic in flow nesting; aliases let 421 bytes expand to a billion nodes
("billion laughs"); a recursive alias has no end; and a mapping that repeats a key silently keeps
the last value. Here the parser's events are checked for depth before anything is composed, the
composed graph is turned into plain data with a budget of nodes (aliases included, so expansion
is counted) and a check for cycles, and a repeated key is an error naming both lines. Every
problem is one line, ``path:line: what is wrong``, raised as :class:`ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from monitor.errors import ConfigError

__all__ = ["MAX_DEPTH", "MAX_NODES", "compose_file", "plain"]

#: The deepest nesting of mappings and sequences a file may have.
MAX_DEPTH = 64
#: At most this many nodes once aliases are expanded (a real driftline.yaml has a few hundred).
MAX_NODES = 100_000

#: libyaml's parser when PyYAML was built with it (the pure-Python one is ten times slower); the same events and marks.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STARTS = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_ENDS = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def _error(source: str, line: int | None, message: str) -> ConfigError:
    where = f"{source}:{line}" if line is not None else source
    return ConfigError(f"{where}: {message}", path=source, line=line)


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}", path=str(path)) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _error(str(path), line, f"not UTF-8 text (byte {exc.start}); is this a binary file?") from None


def _check_depth(text: str, source: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, _STARTS):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise _error(source, mark.line + 1 if mark else None, f"nests deeper than {MAX_DEPTH} levels")
        elif isinstance(event, _ENDS):
            depth -= 1


def compose_file(path: str | Path) -> tuple[yaml.Node | None, str]:
    """The composed root node of a YAML file (None when empty) and the file's name for messages."""
    p = Path(path)
    text, source = _read(p), str(p)
    try:
        _check_depth(text, source)
        return yaml.compose(text, Loader=_LOADER), source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        problem = (exc.problem or str(exc)).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's own limit (1000 levels), met before ours is counted
            raise _error(source, mark.line + 1 if mark else None, f"nests deeper than {MAX_DEPTH} levels") from None
        raise _error(source, mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    except yaml.YAMLError as exc:  # the reader's errors (a control character) carry no mark
        raise _error(source, None, f"not valid YAML: {str(exc).splitlines()[0]}") from None


class _Budget:
    def __init__(self, source: str) -> None:
        self.source = source
        self.left = MAX_NODES

    def spend(self, node: yaml.Node) -> None:
        self.left -= 1
        if self.left < 0:
            raise _error(self.source, node.start_mark.line + 1,
                         f"expands to more than {MAX_NODES} values (aliases included)")


def plain(node: yaml.Node, source: str, lines: dict[tuple[Any, ...], int] | None = None) -> Any:
    """A composed node as plain Python data, recording each path's line (1-based) in ``lines``."""
    return _plain(node, (), {} if lines is None else lines, _Budget(source), set(), SafeConstructor())


def _plain(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], budget: _Budget,
           open_nodes: set[int], scalars: SafeConstructor) -> Any:
    budget.spend(node)
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode):
        if node.tag == "tag:yaml.org,2002:str":
            return node.value
        # The safe loader's own constructor (an empty value is null, `1e3` a float, a date a date).
        return scalars.construct_object(node)
    if id(node) in open_nodes:
        raise _error(budget.source, node.start_mark.line + 1, "an alias refers to a node that contains it")
    open_nodes.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_plain(v, (*path, i), lines, budget, open_nodes, scalars) for i, v in enumerate(node.value)]
        out: dict[Any, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            budget.spend(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise _error(budget.source, line, "a key must be a plain value, not a mapping or a list")
            key = key_node.value  # as written: a key `on` stays the text "on"
            if key in seen:
                raise _error(budget.source, line, f"key {key!r} repeats the key of line {seen[key]}")
            seen[key] = line
            lines.setdefault((*path, key), line)
            out[key] = _plain(value_node, (*path, key), lines, budget, open_nodes, scalars)
        return out
    finally:
        open_nodes.discard(id(node))
