"""Arrow IPC: file and stream forms, record-batch parts, projection, schemas, corrupt files."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import FilePart, ReadOptions, format_for_path, get_format
from crucible_datasets.formats.arrow import ArrowFormat
from crucible_datasets.formats.parquet import ParquetFormat

FMT = ArrowFormat()
SCHEMA = pa.schema([("id", pa.int64()), ("text", pa.string())])


def write(path, batches, form="stream", schema=SCHEMA):
    opener = pa.ipc.new_stream if form == "stream" else pa.ipc.new_file
    with opener(str(path), schema) as writer:
        for rows in batches:
            writer.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
    return str(path)


def rows_of(n, start=0):
    return [{"id": i, "text": f"t{i}"} for i in range(start, start + n)]


def read(path, part=None, errors=None, **options):
    part = part or FilePart(path)
    return [r for b in FMT.read(part, ReadOptions(**options), errors or ErrorPolicy()) for r in b.rows]


@pytest.mark.parametrize("form", ["stream", "file"])
def test_both_forms_split_by_record_batch(tmp_path, form):
    path = write(tmp_path / "a.arrow", [rows_of(3), rows_of(2, 3), rows_of(4, 5)], form)
    assert format_for_path(path) is get_format("arrow")
    assert FMT.num_rows(path) == 9 and FMT.stored_schema(path) == SCHEMA
    assert [rows for rows, _ in FMT.row_groups(path)] == [3, 2, 4]
    assert read(path) == rows_of(9)
    parts = FMT.parts(path, os.path.getsize(path), part_bytes=1)
    assert [(p.start, p.end) for p in parts] == [(0, 1), (1, 2), (2, 3)]
    assert [r for p in parts for r in read(path, p, batch_rows=2)] == rows_of(9)
    assert read(path, FilePart(path, 1, 2)) == rows_of(2, 3)


def test_projection_and_a_missing_column(tmp_path):
    path = write(tmp_path / "a.arrow", [rows_of(2)])
    assert read(path, columns=("text",)) == [{"text": "t0"}, {"text": "t1"}]
    expected = [{"text": "t0", "gone": None}, {"text": "t1", "gone": None}]
    assert read(path, columns=("text", "gone")) == expected


def test_declared_schema_casts_and_sets_aside_rows(tmp_path):
    schema = pa.schema([("v", pa.string())])
    path = write(tmp_path / "a.arrow", [[{"v": "1"}, {"v": "x"}, {"v": "3"}]], schema=schema)
    declared = schemas.partial(pa.schema([("v", pa.int64())]))
    with pytest.raises(BadRecordError, match="line 2"):
        read(path, schema=declared)
    errors = ErrorPolicy("skip")
    assert read(path, errors=errors, schema=declared) == [{"v": 1}, {"v": 3}] and errors.bad == 1
    with pytest.raises(DataFileError, match="does not have"):
        read(path, schema=schemas.partial(pa.schema([("w", pa.int64())])))


@pytest.mark.parametrize("form", ["stream", "file"])
def test_a_file_without_rows_keeps_its_columns(tmp_path, form):
    path = write(tmp_path / "a.arrow", [], form)
    assert FMT.parts(path, os.path.getsize(path), 1) == [FilePart(path, 0, 0)]
    batches = list(FMT.read(FilePart(path), ReadOptions(), ErrorPolicy()))
    assert len(batches) == 1 and len(batches[0]) == 0 and batches[0].arrow.schema == SCHEMA


def test_corrupt_and_foreign_files_name_the_file(tmp_path):
    path = write(tmp_path / "a.arrow", [rows_of(50), rows_of(50)])
    data = open(path, "rb").read()
    cut = tmp_path / "cut.arrow"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="cut.arrow"):
        read(str(cut))
    text = tmp_path / "text.arrow"
    text.write_bytes(b"hello, not arrow at all")
    with pytest.raises(DataFileError, match=r"text.arrow: not a valid Arrow IPC stream"):
        FMT.row_groups(str(text))


def test_row_groups_is_the_one_planning_hook(tmp_path):
    path = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({"a": list(range(5))}), path, row_group_size=2)
    assert [rows for rows, _ in ParquetFormat().row_groups(path)] == [2, 2, 1]
    with pytest.raises(TypeError, match="jsonl files have no row groups"):
        get_format("jsonl").row_groups("a.jsonl")


def test_load_an_arrow_file_and_beam_splits_it(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    import crucible_datasets as cd
    from crucible_datasets.sources import FileSource
    from crucible_datasets.transforms.beam import SplitSource

    path = write(tmp_path / "data.arrow", [rows_of(3), rows_of(3, 3), rows_of(3, 6)])
    assert cd.load(path, split="train").to_list() == rows_of(9)
    source = SplitSource(FileSource((path,)), rows=True)
    bundles = list(source.split(1))
    assert len(bundles) == 3
    with beam.Pipeline() as p:
        assert_that(p | beam.io.Read(source), equal_to(rows_of(9)))
