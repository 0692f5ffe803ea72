"""What is wrong with a spec: :class:`Problem` (where, which line, what) and :class:`SpecError`.

>>> error = SpecError("spec.yaml", [Problem(("sink", "num_shards"), 9, "0 is less than the minimum of 1"),
...                                 Problem(("stages", 1, "op"), 5, "'mapp' is not a known op")])
>>> print(error)
spec.yaml has 2 problems:
  spec.yaml:5: stages[1].op: 'mapp' is not a known op
  spec.yaml:9: sink.num_shards: 0 is less than the minimum of 1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crucible_datasets.errors import CrucibleError

Path = tuple[str | int, ...]


def describe_path(path: Path) -> str:
    """``("stages", 1, "function")`` -> ``stages[1].function``; the empty path is the spec itself.

    >>> describe_path(("stages", 1, "function")), describe_path(())
    ('stages[1].function', 'the spec')
    """
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "the spec"


@dataclass(frozen=True)
class Problem:
    """One problem: the place in the spec (``path``), its line (None: not from a file), the message."""

    path: Path
    line: int | None
    message: str

    def describe(self, name: str) -> str:
        where = f"{name}:{self.line}" if self.line is not None else name
        return f"{where}: {describe_path(self.path)}: {self.message}"


class SpecError(CrucibleError, ValueError):
    """A spec that cannot be used: every problem found, each with its place and line."""

    def __init__(self, name: str, problems: Sequence[Problem]) -> None:
        self.name = name
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0, describe_path(p.path)))
        count = f"{len(self.problems)} problem{'' if len(self.problems) == 1 else 's'}"
        lines = [f"  {p.describe(name)}" for p in self.problems]
        super().__init__("\n".join([f"{name} has {count}:", *lines]))
