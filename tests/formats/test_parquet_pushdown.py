"""Parquet reads what the stages use: a leading ``where`` prunes row groups by their statistics,
only used columns are read; the rows and the counts are those of the unpushed read."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.errors import ColumnNotFoundError, UserFunctionError
from crucible_datasets.formats import get_format
from crucible_datasets.operations import collect
from crucible_datasets.pipeline import Tally

ROWS = 20_000


@pytest.fixture
def sorted_file(tmp_path):
    """Sorted by ``k``, 40 row groups, a wide text column the job does not use."""
    path = str(tmp_path / "sorted.parquet")
    table = pa.table(
        {
            "k": list(range(ROWS)),
            "score": [(i * 7919 % 100) / 100 for i in range(ROWS)],
            "body": [f"row {i} " + "lorem ipsum " * 20 for i in range(ROWS)],
            "tag": [None if i % 3 else f"t{i % 5}" for i in range(ROWS)],
        }
    )
    pq.write_table(table, path, row_group_size=ROWS // 40)
    return path


def run(ds):
    pipe = ds._pipeline()
    tally = Tally()
    table = collect(pipe.run_parts(pipe.source.parts(part_bytes=200_000), tally))
    return table, tally


def test_a_selective_where_on_a_sorted_column_reads_a_fifth_of_the_bytes_or_less(sorted_file):
    ds = cd.load(sorted_file, split="train", streaming=True)
    pushed, tally = run(ds.where("k >= 19000 and score > 0.5").select_columns(["k", "score"]))
    unpushed, plain = run(
        ds.filter(lambda r: r["k"] >= 19000 and r["score"] > 0.5).select_columns(["k", "score"])
    )
    assert pushed.to_pylist() == unpushed.to_pylist() and pushed.num_rows > 0
    assert plain.bytes_read == sum(nbytes for _, nbytes in get_format("parquet").row_groups(sorted_file))
    assert tally.bytes_read <= 0.2 * plain.bytes_read  # measured: about 1 %
    assert (tally.rows_read, [(c.rows_in, c.rows_out) for c in tally.stages]) == (
        plain.rows_read,
        [(c.rows_in, c.rows_out) for c in plain.stages],
    )


def test_only_the_columns_the_stages_use_are_read(sorted_file):
    ds = cd.load(sorted_file, split="train", streaming=True)
    narrow, tally = run(ds.select_columns(["k"]))
    assert narrow.column_names == ["k"] and narrow.num_rows == ROWS
    metadata = pq.ParquetFile(sorted_file).metadata
    k_bytes = sum(
        metadata.row_group(i).column(0).total_compressed_size for i in range(metadata.num_row_groups)
    )
    whole = os.path.getsize(sorted_file)
    assert tally.bytes_read == k_bytes < 0.5 * whole
    _, everything = run(ds.where("k >= 0"))  # every column goes on: every byte is read
    assert everything.bytes_read > 0.9 * whole


def test_nulls_and_renames_keep_the_unpushed_rows(sorted_file):
    ds = cd.load(sorted_file, split="train", streaming=True)
    pushed, _ = run(
        ds.where("tag is not None and k < 500").rename_column("tag", "label").select_columns("label")
    )
    rows = [{"label": f"t{i % 5}"} for i in range(500) if i % 3 == 0]
    assert pushed.to_pylist() == rows


def test_a_where_that_does_not_bind_to_the_file_fails_as_without_pushdown(sorted_file):
    ds = cd.load(sorted_file, split="train", streaming=True)
    with pytest.raises(ColumnNotFoundError, match="'nope' not found"):
        run(ds.where("nope > 1"))
    with pytest.raises(UserFunctionError, match="no kernel matching input types"):
        run(ds.where("body > 1"))


def test_a_where_that_keeps_nothing_reads_no_data_and_counts_every_row_as_dropped(sorted_file):
    pushed, tally = run(cd.load(sorted_file, split="train", streaming=True).where("k < 0"))
    assert pushed.num_rows == 0 and tally.bytes_read == 0
    assert tally.rows_read == ROWS and (tally.stages[0].rows_in, tally.stages[0].rows_out) == (ROWS, 0)


@pytest.mark.parametrize("part_bytes", [10_000, 77_777, 1 << 30])
def test_row_range_parts_give_the_whole_reads_rows_counts_and_bytes(sorted_file, part_bytes):
    """Parts that start and end inside row groups: a pruned group's rows in a part count as
    skipped by that part, a kept group's bytes are shared between its parts by rows."""
    fmt = get_format("parquet")
    size = os.path.getsize(sorted_file)
    parts = fmt.parts(sorted_file, size, part_bytes)
    assert part_bytes > size or any(p.start % (ROWS // 40) for p in parts)  # some start inside a group
    pipe = cd.load(sorted_file, split="train", streaming=True).where("k >= 12345 and score > 0.5")._pipeline()
    tally, whole = Tally(), Tally()
    split = collect(pipe.run_parts(parts, tally))
    one = collect(pipe.run_parts(fmt.parts(sorted_file, size, 1 << 30), whole))
    assert split.to_pylist() == one.to_pylist() and split.num_rows > 0
    assert tally.rows_read == whole.rows_read == ROWS
    assert tally.stages[0].rows_in == ROWS and tally.stages[0].rows_out == split.num_rows
    assert tally.bytes_read == whole.bytes_read < 0.5 * size  # the groups before row 12345 pruned
