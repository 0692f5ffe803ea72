"""Consecutive row stages run as one loop per batch (``RowRun`` in transforms/base.py): the same
rows, positions, per-stage counts and errors as running the stages one after the other."""

from __future__ import annotations

import pyarrow as pa
import pytest

import crucible_datasets as cd
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError, UserFunctionError
from crucible_datasets.transforms.base import RowRun, StageCounter, apply_stages
from crucible_datasets.transforms.columns import SelectColumns
from crucible_datasets.transforms.rows import FlatMap, RowFilter, RowMap


def batches():
    return iter(
        [
            Batch.from_rows([{"x": i, "t": f"r{i}"} for i in range(s, s + 5)], position=(0.0, s))
            for s in (0, 5, 10)
        ]
    )


def repeat(row):
    return [dict(row, copy=k) for k in range(row["x"] % 3)]  # 0, 1 or 2 rows


def stages():
    return [
        RowFilter(lambda r: r["x"] != 4),
        RowMap(lambda r: {"y": r["x"] * 10}, remove_columns=["t"]),
        FlatMap(repeat),
        SelectColumns(["x", "y", "copy"]),  # not a row stage: ends the first run
        RowFilter(lambda r: r["copy"] == 0),
        RowMap(lambda r: {"z": -r["y"]}),
    ]


def one_by_one(stream, stage_list):
    """The reference: every stage on its own, each making whole batches (``Stage.apply``)."""
    counters = []
    for stage in stage_list:
        counter = StageCounter()
        counters.append(counter)
        stream = stage.apply(stream, counter)
    return list(stream), counters


def test_fused_stages_give_the_rows_positions_and_counts_of_unfused_ones():
    expected, expected_counters = one_by_one(batches(), stages())
    counters: list[StageCounter] = []
    fused = list(apply_stages(batches(), stages(), counters))
    assert [b.rows for b in fused] == [b.rows for b in expected]
    assert [b.position for b in fused] == [b.position for b in expected] == [(0.0, 0), (0.0, 5), (0.0, 10)]
    assert [(c.rows_in, c.rows_out) for c in counters] == [(c.rows_in, c.rows_out) for c in expected_counters]
    assert [(c.rows_in, c.rows_out) for c in counters] == [
        (15, 14),
        (14, 14),
        (14, 14),
        (14, 14),
        (14, 9),
        (9, 9),
    ]
    assert fused[0].rows[:2] == [
        {"x": 1, "y": 10, "copy": 0, "z": -10},
        {"x": 2, "y": 20, "copy": 0, "z": -20},
    ]


def test_each_row_goes_through_the_whole_run_before_the_next_row():
    calls = []
    run = [
        RowFilter(lambda r: calls.append(("filter", r["x"])) or True),
        RowMap(lambda r: calls.append(("map", r["x"]))),
    ]
    list(apply_stages(iter([Batch.from_rows([{"x": 0}, {"x": 1}])]), run, []))
    assert calls == [("filter", 0), ("map", 0), ("filter", 1), ("map", 1)]  # no list between the stages
    calls.clear()
    one_by_one(iter([Batch.from_rows([{"x": 0}, {"x": 1}])]), run)
    assert calls == [("filter", 0), ("filter", 1), ("map", 0), ("map", 1)]


def test_a_filter_that_keeps_every_row_passes_the_batch_with_its_arrow():
    batch = Batch.from_arrow(pa.table({"x": [1, 2]}))
    assert RowRun((RowFilter(lambda r: True),)).batch(batch) is batch
    assert RowRun((RowFilter(lambda r: False),)).batch(batch) is None
    assert RowRun((RowFilter(lambda r: r["x"] > 1),)).batch(batch).rows == [{"x": 2}]


def boom_at_3(row):
    if row["n"] == 3:
        raise ValueError("no threes")
    return {"m": row["n"]}


def odd(row):
    return row["n"] % 2 == 1


def test_an_error_in_a_fused_run_names_its_stage_the_file_and_the_rows_in(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"n": {i}}}\n' for i in range(8)))
    ds = cd.load(str(path), split="train", streaming=True).filter(odd).map(boom_at_3)
    with pytest.raises(UserFunctionError) as info:
        ds.write_parquet(str(tmp_path / "out"))
    says = str(info.value)
    assert "function boom_at_3 (stage RowMap) raised ValueError: no threes" in says
    assert f"reading {path}" in says
    assert "2 rows had entered the stage" in says  # rows 1 and 3 passed the filter
    assert isinstance(info.value, ValueError) and isinstance(info.value.__cause__, ValueError)
    assert not (tmp_path / "out" / "data").exists()


def test_the_failing_stage_of_a_run_is_named_not_its_neighbours():
    def bad_filter(row):
        return row["missing"]

    run = [RowMap(lambda r: {"y": 1}), RowFilter(bad_filter), RowMap(lambda r: {"z": 2})]
    with pytest.raises(KeyError, match=r"function .*bad_filter \(stage RowFilter\).*1 rows had entered"):
        list(apply_stages(iter([Batch.from_rows([{"x": 1}])]), run, []))


def test_a_package_error_in_a_run_passes_as_it_is():
    def strict(row):
        raise ColumnNotFoundError("my check", ["q"], ["x"])

    with pytest.raises(ColumnNotFoundError) as info:
        list(apply_stages(iter([Batch.from_rows([{"x": 1}])]), [RowFilter(strict)], []))
    assert not isinstance(info.value, UserFunctionError)


def test_a_fused_run_writes_the_same_rows_and_counts_on_every_runner(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"x": {i}}}\n' for i in range(30)))
    ds = (
        cd.load(str(path), split="train", streaming=True)
        .filter(lambda r: r["x"] % 5 != 0)
        .flat_map(repeat)
        .map(lambda r: {"y": r["x"] + r["copy"]})
    )
    expected = [dict(r, y=r["x"] + r["copy"]) for i in range(30) if i % 5 for r in repeat({"x": i})]
    counts = {}
    for runner in ("local", "direct"):
        summary = ds.write_parquet(str(tmp_path / runner), num_shards=2, runner=runner)
        assert cd.load(str(tmp_path / runner), split="train").to_list() == expected
        counts[runner] = summary.counts
    c = counts["local"]
    assert counts["direct"] == c
    assert (c.rows_read, c.rows_written) == (30, len(expected))
    assert c.rows_filtered - c.rows_added == 30 - len(expected)
    assert c.rows_filtered >= 6  # the filter's own, counted apart from flat_map's
