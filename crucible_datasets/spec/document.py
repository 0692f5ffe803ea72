"""A spec as data with the line of every value: :class:`Document`; and ``--set`` overrides.

YAML (and JSON, which the same reader takes) is read with PyYAML's safe loader: plain data
only, never an object or a tag that runs code. The composed nodes give each key's line, so a
problem names the line it is on; a key given twice is a problem, not a silent last-one-wins.

>>> doc = read_document("source:\\n  path: data/\\nsink:\\n  path: out\\n", "spec.yaml")
>>> doc.data["sink"], doc.line_of(("sink", "path")), doc.line_of(("sink", "path", "deeper"))
({'path': 'out'}, 4, 4)
>>> doc = doc.with_overrides(["sink.path=gs://bucket/out", "sink.num_shards=4"])
>>> doc.data["sink"], doc.line_of(("sink", "num_shards"))
({'path': 'gs://bucket/out', 'num_shards': 4}, None)
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from crucible_datasets.spec.problems import Path, Problem, SpecError


@dataclass(frozen=True)
class Document:
    """The spec's data, where it came from (``name``), and the line of each path in it."""

    data: Any
    name: str = "<spec>"
    lines: Mapping[Path, int] = field(default_factory=dict)
    overridden: frozenset[Path] = frozenset()  # the paths ``--set`` gave (they have no line)

    def set_by_override(self, path: Path) -> bool:
        return any(path[: len(p)] == p for p in self.overridden)

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of the nearest enclosing value that has one; None when
        ``--set`` gave it."""
        if self.set_by_override(path):
            return None
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def problem(self, path: Path, message: str) -> Problem:
        path = tuple(path)
        return Problem(
            path, self.line_of(path), message + (" (given by --set)" if self.set_by_override(path) else "")
        )

    def with_overrides(self, overrides: Sequence[str]) -> Document:
        """A copy with each ``a.b.c=value`` set (``value`` read as a YAML scalar, ``stages.0.n=5``
        indexes a list); overridden values have no line. Raises :class:`SpecError` listing every
        malformed override."""
        data = copy.deepcopy(self.data)
        lines = dict(self.lines)
        overridden = set(self.overridden)
        problems = []
        for override in overrides:
            path, value, message = _parse_override(override)
            if message is None:
                message = _set(data, path, value)
            if message is not None:
                problems.append(Problem(path, None, f"--set {override}: {message}"))
                continue
            overridden.add(path)
        if problems:
            raise SpecError(self.name, problems)
        return Document(data, self.name, lines, frozenset(overridden))


def read_document(text: str, name: str) -> Document:
    """The document in ``text`` (YAML or JSON), with its lines; :class:`SpecError` if it is not."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError(name, [Problem((), line, f"not valid YAML or JSON: {reason}")]) from None
    if node is None:
        raise SpecError(name, [Problem((), 1, "the file is empty; a spec needs at least a source")])
    lines: dict[Path, int] = {(): node.start_mark.line + 1}
    problems: list[Problem] = []
    _record_lines(node, (), lines, problems)
    if problems:
        raise SpecError(name, problems)
    try:
        data = yaml.SafeLoader("").construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        message = f"not plain data ({reason}); a spec holds only mappings, lists and scalars"
        raise SpecError(name, [Problem((), line, message)]) from None
    return Document(data, name, lines)


def read_file(path: str) -> Document:
    """The spec file at ``path`` (a local path or any path ``storage.filesystem`` reads)."""
    from crucible_datasets.storage import filesystem

    if not filesystem.exists(path):
        raise FileNotFoundError(f"spec file not found: {path}")
    with filesystem.open_input(path) as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(path, [Problem((), None, f"not UTF-8 text ({exc})")]) from None
    return read_document(text, path)


def _record_lines(node: yaml.Node, path: Path, lines: dict[Path, int], problems: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem((*path, key), line, f"given twice (first on line {seen[key]})"))
            seen[key] = line
            lines[(*path, key)] = line
            _record_lines(value_node, (*path, key), lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _record_lines(item, (*path, index), lines, problems)


def _parse_override(text: str) -> tuple[Path, Any, str | None]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        return (), None, "an override is KEY=VALUE, e.g. sink.path=gs://bucket/out"
    path = tuple(int(part) if part.isdigit() else part for part in name.strip().split("."))
    try:
        return path, yaml.safe_load(value) if value.strip() else None, None
    except yaml.YAMLError as exc:
        return path, None, f"the value is not a YAML scalar ({getattr(exc, 'problem', exc)})"


def _set(data: Any, path: Path, value: Any) -> str | None:
    """Set ``path`` in ``data`` to ``value`` (making mappings on the way); a message if it cannot."""
    node = data
    for depth, key in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(map(str, path[:depth])) or "the spec"
        if isinstance(node, list):
            if not isinstance(key, int) or key >= len(node):
                return f"{where} is a list of {len(node)}; give an index below {len(node)}"
        elif isinstance(node, dict):
            if isinstance(key, int):
                key = str(key)
            if not last and key not in node:
                node[key] = {}
        else:
            return f"{where} is {type(node).__name__} {node!r}, not a mapping or a list"
        if last:
            node[key] = value
        else:
            node = node[key]
    return None
