"""What a finished write produced: :class:`WriteSummary`.

>>> import pyarrow as pa
>>> s = WriteSummary(path="out", split="train", config=None, format="parquet",
...                  files=["out/data/train-00000-of-00001.parquet"], file_rows=[1200], file_bytes=[5120],
...                  schema=pa.schema([("a", pa.int64())]), wall_seconds=2.5,
...                  counts=RunCounts(rows_read=1300, rows_written=1200, rows_filtered=100))
>>> print(s)
train: 1,200 rows in 1 shard (5.0 KiB) at out/data/train-*.parquet; read 1,300, filtered 100, bad 0; 2.5 s
>>> s.as_dict()["rows"]
1200
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from crucible_datasets.counts import RunCounts


@dataclass
class WriteSummary:
    """One split written: the final shard paths, their rows and sizes, the run's counts."""

    path: str
    split: str
    config: str | None
    format: str
    files: list[str]
    file_rows: list[int]
    file_bytes: list[int]
    schema: pa.Schema
    counts: RunCounts
    source: str = ""
    created: str = ""  # ISO 8601, UTC
    wall_seconds: float | None = None
    run_id: str = ""
    warnings: list[str] = field(default_factory=list)
    runner: str = ""  # the runner that wrote it; ``auto``'s choice and why ("local (auto: 1 task)")

    @property
    def rows(self) -> int:
        return sum(self.file_rows)

    @property
    def bytes(self) -> int:
        return sum(self.file_bytes)

    def __str__(self) -> str:
        where = self.path
        if self.files:
            folder = self.files[0].rsplit("/", 1)[0]
            where = f"{folder}/{self.split}-*{_ending(self.files[0])}"
        name = self.split if self.config is None else f"{self.config}/{self.split}"
        shards = f"{len(self.files)} shard{'' if len(self.files) == 1 else 's'}"
        c = self.counts
        text = (
            f"{name}: {self.rows:,} rows in {shards} ({human_bytes(self.bytes)}) at {where}; "
            f"read {c.rows_read:,}, filtered {c.rows_filtered:,}, bad {c.rows_bad:,}"
        )
        if c.bytes_read:
            files = f"{c.files_read:,} file{'' if c.files_read == 1 else 's'}"
            text += f"; {human_bytes(c.bytes_read)} from {files}"
        if c.rows_added:
            text += f", added {c.rows_added:,}"
        if c.tasks_reused:
            tasks = f"{c.tasks_reused:,} task{'' if c.tasks_reused == 1 else 's'}"
            text += f"; reused {tasks} finished by a killed run"
        if self.wall_seconds is not None:
            text += f"; {self.wall_seconds:.1f} s"
        if self.runner:
            text += f" on {self.runner}"
        for warning in self.warnings:
            text += f"\n  warning: {warning}"
        return text

    def as_dict(self) -> dict:
        """JSON-ready: the schema as text, counts as a dict."""
        return {
            "path": self.path,
            "split": self.split,
            "config": self.config,
            "format": self.format,
            "files": list(self.files),
            "file_rows": list(self.file_rows),
            "file_bytes": list(self.file_bytes),
            "rows": self.rows,
            "bytes": self.bytes,
            "schema": self.schema.to_string(show_field_metadata=False, show_schema_metadata=False),
            "counts": self.counts.as_dict(),
            "source": self.source,
            "created": self.created,
            "wall_seconds": self.wall_seconds,
            "run_id": self.run_id,
            "warnings": list(self.warnings),
            "runner": self.runner,
        }


def _ending(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name[name.index(".") :] if "." in name else ""


def human_bytes(n: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
