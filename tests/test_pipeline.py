"""Pipeline planning: how the input is cut into shard tasks."""

from __future__ import annotations

import pytest

from crucible_datasets import pipeline as pipelines
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.sources import FileSource


@pytest.mark.parametrize("num_shards", [1, 3, 4, 7])
def test_tasks_of_one_splittable_file_read_equal_bytes(tmp_path, monkeypatch, num_shards):
    monkeypatch.setattr(pipelines, "DEFAULT_PART_BYTES", 1000)  # parts of at most 1000 bytes
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(b'{"i": %d}\n' % i for i in range(2000)))  # ~20 kB: many parts a task
    tasks = Pipeline(FileSource((str(path),))).plan_tasks(num_shards)
    sizes = [sum(p.nbytes for p in t.parts) for t in tasks]
    assert len(tasks) == num_shards and sum(sizes) == path.stat().st_size
    assert max(sizes) - min(sizes) <= len(tasks) * len(tasks[0].parts)  # equal but for rounding up
    assert max(p.nbytes for t in tasks for p in t.parts) <= 1000
