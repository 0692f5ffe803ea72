"""Parquet: row-range parts, read ahead, projection, declared schemas, damaged files, bounded streaming."""

from __future__ import annotations

import os
import threading
import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import FilePart, ReadOptions, _ahead, format_for_path, parquet
from crucible_datasets.formats.parquet import ParquetFormat
from crucible_datasets.pipeline import Tally
from crucible_datasets.runners.base import merge_counts, run_task
from crucible_datasets.sinks import ParquetSink
from tests.sinks.helpers import read_parquet_rows

FMT = ParquetFormat()


def write(path, table, row_group_size):
    pq.write_table(table, str(path), row_group_size=row_group_size)
    return str(path)


def table_of(n):
    return pa.table({"i": pa.array(range(n), pa.int64()), "s": [f"row {i}" for i in range(n)]})


def read(part, options=None, errors=None):
    return list(FMT.read(part, options or ReadOptions(), errors or ErrorPolicy()))


def rows_of(batches):
    return [r for b in batches for r in b.rows]


def test_parts_are_equal_row_ranges_and_split_reads_equal_the_whole(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(1000), 70)
    size = os.path.getsize(path)
    stored = sum(nbytes for _, nbytes in FMT.row_groups(path))
    whole = rows_of(read(FilePart(path)))
    assert [r["i"] for r in whole] == list(range(1000))
    for part_bytes in (1, size // 7, size // 4, size // 3, size, 10 * size):
        parts = FMT.parts(path, size, part_bytes)
        assert len(parts) == min(1000, -(-size // part_bytes))  # as a "bytes" format counts them
        assert parts[0].start == 0 and parts[-1].end == 1000
        assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
        assert max(p.end - p.start for p in parts) - min(p.end - p.start for p in parts) <= 1
        assert sum(p.nbytes for p in parts) == stored  # a shared row group counts once, in shares
        pieces = [read(p, ReadOptions(batch_rows=64)) for p in parts]
        assert [len(rows_of(b)) for b in pieces] == [p.end - p.start for p in parts]
        assert rows_of(b for batches in pieces for b in batches) == whole
    assert FMT.parts(path, size, 10 * size) == [FilePart(path, 0, 1000)]


def test_a_part_inside_row_groups_reads_its_rows_only(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(100), 30)
    for start, end in ((0, 1), (29, 31), (31, 59), (45, 100), (99, 100), (10, 95), (60, 60)):
        assert [r["i"] for r in rows_of(read(FilePart(path, start, end), ReadOptions(batch_rows=7)))] == list(
            range(start, end)
        )
    assert [r["i"] for r in rows_of(read(FilePart(path, 95, None)))] == list(range(95, 100))
    assert read(FilePart(path, 100, 200)) == [] and read(FilePart(path, 150, None)) == []


def test_batches_respect_batch_rows_and_stay_arrow(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(100), 30)
    batches = read(FilePart(path, 30, 90), ReadOptions(batch_rows=7))
    assert all(b.has_arrow and len(b) <= 7 for b in batches)
    assert [r["i"] for r in rows_of(batches)] == list(range(30, 90))


def test_footer_gives_num_rows_and_schema(tmp_path):
    table = table_of(42)
    path = write(tmp_path / "a.parquet", table, 10)
    assert FMT.num_rows(path) == 42
    assert FMT.stored_schema(path).equals(table.schema)


def test_projection_in_asked_order_and_missing_columns_as_nulls(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(5), 2)
    batches = read(FilePart(path), ReadOptions(columns=("s",)))
    assert batches[0].arrow.schema.names == ["s"]
    rows = rows_of(read(FilePart(path), ReadOptions(columns=("s", "nope", "i"))))
    assert rows[3] == {"s": "row 3", "nope": None, "i": 3}


def test_declared_schema_casts_and_rows_that_do_not_fit_are_bad(tmp_path):
    table = pa.table({"n": ["1", "2", "x", "4", "y"], "t": list("abcde")})
    path = write(tmp_path / "typed.parquet", table, 2)
    schema = pa.schema([("n", pa.int32()), ("t", pa.string())])
    errors_path = tmp_path / "errors"
    errors = ErrorPolicy("dead_letter", str(errors_path))
    batches = list(FMT.read(FilePart(path, 2, 5), ReadOptions(schema=schema), errors))
    errors.close()
    assert all(b.arrow.schema == schema for b in batches)
    assert rows_of(batches) == [{"n": 4, "t": "d"}]
    letters = [orjson.loads(line) for f in errors_path.iterdir() for line in f.read_bytes().splitlines()]
    assert [(d["line"], d["offset"]) for d in letters] == [(3, None), (5, None)]  # 1-based row numbers
    assert letters[0]["raw"] == '{"n":"x","t":"c"}' and "declared schema" in letters[0]["reason"]
    with pytest.raises(BadRecordError, match=r"typed.parquet, line 3: does not fit the declared schema"):
        read(FilePart(path), ReadOptions(schema=schema))


def test_declared_schema_adds_missing_columns(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(3), 2)
    schema = pa.schema([("i", pa.float64()), ("extra", pa.string())])
    rows = rows_of(read(FilePart(path), ReadOptions(schema=schema)))
    assert rows == [{"i": 0.0, "extra": None}, {"i": 1.0, "extra": None}, {"i": 2.0, "extra": None}]


@pytest.mark.parametrize("damage", ["truncated", "not parquet", "empty", "corrupt pages"])
def test_damaged_file_raises_data_file_error_naming_it(tmp_path, damage):
    good = write(tmp_path / "good.parquet", table_of(2000), 500)
    data = open(good, "rb").read()
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "not parquet":
        data = b"PAR1 this is not a parquet file at all" * 10
    elif damage == "empty":
        data = b""
    else:  # keep the footer, scramble the column data
        data = data[:4] + bytes(b ^ 0xA5 for b in data[4 : len(data) // 2]) + data[len(data) // 2 :]
    path = tmp_path / "broken.parquet"
    path.write_bytes(data)
    with pytest.raises(DataFileError, match="broken.parquet"):
        size = os.path.getsize(path)
        for part in FMT.parts(str(path), size, 1):
            read(part)


def test_streams_one_row_group_at_a_time(tmp_path):
    """Peak Arrow memory stays near one row group, far below the file's decoded size."""
    n, group = 200_000, 10_000
    payload = pa.array([("x" * 200) + str(i) for i in range(n)])
    table = pa.table({"i": pa.array(range(n), pa.int64()), "payload": payload})
    path = write(tmp_path / "big.parquet", table, group)
    decoded = table.nbytes
    del table, payload
    pool = pa.default_memory_pool()
    base = pool.bytes_allocated()
    peak = 0
    rows = 0
    for batch in FMT.read(FilePart(path), ReadOptions(batch_rows=4096), ErrorPolicy()):
        rows += len(batch)
        peak = max(peak, pool.bytes_allocated() - base)
        del batch
    assert rows == n
    assert peak < decoded / 5, (peak, decoded)


@pytest.mark.parametrize("row_groups", [0, 1])
def test_file_without_rows_reads_one_empty_batch_with_its_columns(tmp_path, row_groups):
    path = str(tmp_path / "empty.parquet")
    if row_groups:
        write(path, table_of(0), 10)  # one row group of 0 rows
    else:
        pq.ParquetWriter(path, table_of(0).schema).close()  # no row group at all
    assert pq.ParquetFile(path).metadata.num_row_groups == row_groups
    size = os.path.getsize(path)
    assert FMT.num_rows(path) == 0
    batches = [b for p in FMT.parts(path, size, 1) for b in read(p)]
    assert [len(b) for b in batches] == [0]
    assert batches[0].arrow.schema == table_of(0).schema
    projected = read(FilePart(path), ReadOptions(columns=("s", "nope")))
    assert projected[0].arrow.schema.names == ["s", "nope"] and len(projected[0]) == 0
    cast = read(FilePart(path), ReadOptions(schema=pa.schema([("i", pa.float64())])))
    assert cast[0].arrow.schema == pa.schema([("i", pa.float64())])


def test_partial_schema_casts_the_named_columns_and_keeps_the_others(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(3), 2)
    schema = schemas.partial(pa.schema([("i", pa.float64())]))
    batches = read(FilePart(path), ReadOptions(schema=schema))
    assert all(b.arrow.schema == pa.schema([("i", pa.float64()), ("s", pa.string())]) for b in batches)
    assert rows_of(batches) == [{"i": float(i), "s": f"row {i}"} for i in range(3)]
    narrowed = read(FilePart(path), ReadOptions(schema=schema, columns=("s",)))
    assert rows_of(narrowed) == [{"s": f"row {i}"} for i in range(3)]


def test_partial_schema_misfits_are_bad_records_with_row_numbers(tmp_path):
    path = write(tmp_path / "n.parquet", pa.table({"n": ["1", "x", "3"], "t": list("abc")}), 2)
    errors = ErrorPolicy("skip")
    schema = schemas.partial(pa.schema([("n", pa.int64())]))
    batches = read(FilePart(path), ReadOptions(schema=schema), errors)
    assert rows_of(batches) == [{"n": 1, "t": "a"}, {"n": 3, "t": "c"}]
    assert errors.bad == 1


def test_partial_schema_naming_a_column_the_file_lacks_is_an_error_naming_both(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(3), 2)
    schema = schemas.partial(pa.schema([("i", pa.float64()), ("score", pa.float64())]))
    with pytest.raises(DataFileError, match=r"a\.parquet: .*\['score'\].*its columns: i, s"):
        read(FilePart(path), ReadOptions(schema=schema))


def test_found_by_extension():
    assert format_for_path("x/train-0001.parquet") is format_for_path("y.PARQUET")
    assert format_for_path("y.parquet").name == "parquet"


# --- read ahead: the next batch decoded on a read-ahead thread -----------------------------------


@pytest.fixture
def decoders(monkeypatch):
    """The threads that decode the batches of Parquet reads, and whether each read's decoder
    was closed (a spy around the module's decoding generator)."""
    seen = {"threads": [], "closed": []}
    decoded = parquet._decoded

    def spy(*args, **kwargs):
        seen["closed"].append(False)
        mine = len(seen["closed"]) - 1
        try:
            for item in decoded(*args, **kwargs):
                seen["threads"].append(threading.current_thread())
                yield item
        finally:
            seen["closed"][mine] = True

    monkeypatch.setattr(parquet, "_decoded", spy)
    return seen


def test_batches_are_decoded_ahead_on_threads_the_process_keeps(tmp_path, decoders):
    path = write(tmp_path / "a.parquet", table_of(2000), 300)
    size = os.path.getsize(path)
    got = rows_of(b for p in FMT.parts(path, size, size // 9) for b in read(p, ReadOptions(batch_rows=50)))
    assert [r["i"] for r in got] == list(range(2000))
    assert decoders["threads"] and threading.main_thread() not in decoders["threads"]
    assert len(set(decoders["threads"])) <= _ahead.THREADS  # no thread a part
    assert all(decoders["closed"])


def test_a_consumer_stopping_early_ends_the_decoding(tmp_path, decoders):
    path = write(tmp_path / "a.parquet", table_of(2000), 300)
    batches = FMT.read(FilePart(path), ReadOptions(batch_rows=10), ErrorPolicy())
    assert [r["i"] for r in next(batches).rows] == list(range(10))
    batches.close()  # take(10), an error downstream
    decoded = len(decoders["threads"])
    assert decoders["closed"] == [True] and decoded <= 2  # the batch given and at most one ahead
    time.sleep(0.2)
    assert len(decoders["threads"]) == decoded


def test_a_corrupt_row_group_read_ahead_fails_where_it_is_with_the_files_name(tmp_path):
    path = write(tmp_path / "a.parquet", table_of(5000), 1000)
    group = pq.ParquetFile(path).metadata.row_group(3)
    data = bytearray(open(path, "rb").read())
    for c in range(group.num_columns):  # scramble the page headers and data of row group 3
        chunk = group.column(c)
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        data[start : start + chunk.total_compressed_size] = bytes(
            b ^ 0x5A for b in data[start : start + chunk.total_compressed_size]
        )
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(bytes(data))
    seen = []
    with pytest.raises(
        DataFileError, match=r"cannot read .*broken\.parquet: corrupt or truncated Parquet data"
    ):
        for batch in FMT.read(FilePart(str(broken)), ReadOptions(batch_rows=100), ErrorPolicy()):
            seen.extend(r["i"] for r in batch.rows)
    assert seen == list(range(3000))  # every row before the corrupt group, in order, then the error


# --- planning: a write's tasks read equal rows, so its shards are their temp files ---------------


def test_tasks_of_a_parquet_write_are_balanced_and_published_without_a_recut(tmp_path):
    path = write(tmp_path / "in.parquet", table_of(10_000), 1000)  # 10 groups for 4 tasks
    pipeline = cd.load(path, split="train", streaming=True).where("i >= 3")._pipeline()
    tasks = pipeline.plan_tasks(4)
    assert [sum(p.end - p.start for p in t.parts) for t in tasks] == [2500] * 4
    sink = ParquetSink(str(tmp_path / "out"))
    reports = [run_task(pipeline, task, sink, Tally()) for task in tasks]
    temp = [s for r in reports for result in r.results for s in result.shards]
    inodes = [os.stat(s.path).st_ino for s in temp]
    counts = merge_counts(reports, len(pipeline.stages))
    summary = sink.finalize(
        [x for r in reports for x in r.results], counts=counts, num_shards=4, task_aligned=True
    )
    assert [os.stat(f).st_ino for f in summary.files] == inodes  # renamed, not read back and rewritten
    assert [r["i"] for r in read_parquet_rows(summary.files)] == list(range(3, 10_000))
    assert counts.rows_read == 10_000 and counts.bytes_read == sum(n for _, n in FMT.row_groups(path))
