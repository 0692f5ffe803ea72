"""``runners/base.py``: one task run and one count merge for every runner."""

from __future__ import annotations

import orjson

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.pipeline import Pipeline, Tally
from crucible_datasets.runners.base import TaskReport, merge_counts, run_task
from crucible_datasets.sinks import JsonlSink
from crucible_datasets.sources import FileSource
from crucible_datasets.transforms.rows import RowFilter


def is_even(row: dict) -> bool:
    return row["i"] % 2 == 0


def test_merge_counts_per_task_and_per_stage():
    a = TaskReport(rows_read=10, stages=[(0, 10, 4), (1, 4, 8)])
    b = TaskReport(rows_read=10, stages=[(0, 10, 10), (1, 10, 6)])
    per_task = merge_counts([a, b], per_stage=False)
    per_stage = merge_counts([a, b], per_stage=True)
    assert (per_task.rows_filtered, per_task.rows_added) == (6 + 4, 4)
    assert (per_stage.rows_filtered, per_stage.rows_added) == (6, 0)


def test_run_task_reports_its_own_bad_records_with_a_shared_policy(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [orjson.dumps({"i": i}) if i % 5 else b"{broken" for i in range(40)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    pipe = Pipeline(FileSource((str(path),), on_error="skip")).then(RowFilter(is_even))
    tasks = pipe.plan_tasks(2)
    assert len(tasks) == 2
    errors = ErrorPolicy("skip")  # one policy for the run, as the local runner has
    sink = JsonlSink(str(tmp_path / "out"))
    reports = [run_task(pipe, t, sink, Tally(errors=errors)) for t in tasks]
    assert sum(r.rows_bad for r in reports) == errors.bad == 8
    counts = merge_counts(reports, per_stage=False)
    assert counts.rows_read == 40 and counts.rows_bad == 8
    assert counts.rows_written == sum(r.results[0].rows for r in reports) == 16
    assert counts.reconciles()
