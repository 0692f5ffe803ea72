"""Row counts that reconcile: rows read = rows written + rows filtered + rows bad.

``rows_added`` counts rows that a stage produced beyond its input (``flat_map``, a batched
``map`` that returns more rows), so the identity stays exact for every pipeline:
``rows_read + rows_added == rows_written + rows_filtered + rows_bad``.

Besides the totals, ``bad_by_file`` counts the bad records of each input file, and ``stages``
holds ``(rows in, rows out)`` for each stage of the pipeline, in order.

>>> c = RunCounts(rows_read=10, rows_written=7, rows_filtered=2, rows_bad=1, bad_by_file={"a.jsonl": 1})
>>> c.reconciles()
True
>>> total = c + RunCounts(rows_read=1, rows_written=1, rows_bad=2, bad_by_file={"a.jsonl": 2})
>>> total.rows_read, total.bad_by_file, sorted(total.totals())[:2]
(11, {'a.jsonl': 3}, ['bytes_read', 'files_read'])
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

TOTALS = (
    "rows_read", "rows_written", "rows_filtered", "rows_bad", "rows_added", "files_read", "bytes_read",
    "tasks_reused",
)  # fmt: skip


@dataclass
class RunCounts:
    rows_read: int = 0
    rows_written: int = 0
    rows_filtered: int = 0
    rows_bad: int = 0
    rows_added: int = 0
    files_read: int = 0
    bytes_read: int = 0
    # tasks a resumed run took from an earlier, killed attempt instead of running them again (their
    # rows are counted as if they had run: the other counts equal an uninterrupted run's)
    tasks_reused: int = 0
    bad_by_file: dict[str, int] = field(default_factory=dict)  # bad records per input file
    stages: tuple[tuple[int, int], ...] = ()  # (rows in, rows out) of each pipeline stage, in order

    def __post_init__(self) -> None:
        self.stages = tuple((int(i), int(o)) for i, o in self.stages)  # lists, after a JSON round trip

    def __add__(self, other: RunCounts) -> RunCounts:
        summed = {name: getattr(self, name) + getattr(other, name) for name in TOTALS}
        bad = dict(self.bad_by_file)
        for path, n in other.bad_by_file.items():
            bad[path] = bad.get(path, 0) + n
        longest = max(len(self.stages), len(other.stages))
        pad = ((0, 0),) * longest
        stages = tuple(
            (a[0] + b[0], a[1] + b[1])
            for a, b in zip((*self.stages, *pad)[:longest], (*other.stages, *pad)[:longest], strict=True)
        )
        return RunCounts(**summed, bad_by_file=bad, stages=stages)

    def reconciles(self) -> bool:
        return self.rows_read + self.rows_added == self.rows_written + self.rows_filtered + self.rows_bad

    def totals(self) -> dict[str, int]:
        """The totals only (what the manifest and Beam's metrics report)."""
        return {name: getattr(self, name) for name in TOTALS}

    def worst_files(self, n: int = 5) -> list[tuple[str, int]]:
        """The ``n`` files with the most bad records, most first (ties by name).

        >>> RunCounts(bad_by_file={"b": 1, "a": 1, "c": 4}).worst_files(2)
        [('c', 4), ('a', 1)]
        """
        return sorted(self.bad_by_file.items(), key=lambda item: (-item[1], item[0]))[:n]

    def as_dict(self) -> dict:
        """Everything, JSON-ready (``RunCounts(**counts.as_dict())`` gives it back)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["bad_by_file"] = dict(self.bad_by_file)
        out["stages"] = [list(s) for s in self.stages]
        return out
