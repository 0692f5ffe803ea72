"""Row counts that reconcile: rows read = rows written + rows filtered + rows bad.

``rows_added`` counts rows that a stage produced beyond its input (``flat_map``, a batched
``map`` that returns more rows), so the identity stays exact for every pipeline:
``rows_read + rows_added == rows_written + rows_filtered + rows_bad``.

>>> c = RunCounts(rows_read=10, rows_written=7, rows_filtered=2, rows_bad=1)
>>> c.reconciles()
True
>>> (c + RunCounts(rows_read=1, rows_written=1)).rows_read
11
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class RunCounts:
    rows_read: int = 0
    rows_written: int = 0
    rows_filtered: int = 0
    rows_bad: int = 0
    rows_added: int = 0
    files_read: int = 0
    bytes_read: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def reconciles(self) -> bool:
        return self.rows_read + self.rows_added == self.rows_written + self.rows_filtered + self.rows_bad

    def as_dict(self) -> dict:
        return asdict(self)
