"""Plain text: lines, paragraphs, documents, byte-range parts, bad UTF-8, compression, schemas."""

from __future__ import annotations

import bz2
import gzip
import os

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError
from crucible_datasets.formats import FilePart, ReadOptions, format_for_path, get_format
from crucible_datasets.formats.text import TextFormat

FMT = TextFormat()


def texts(path, part=None, errors=None, **options):
    part = part or FilePart(str(path))
    batches = FMT.read(part, ReadOptions(**options), errors or ErrorPolicy())
    return [r["text"] for b in batches for r in b.rows]


def write(tmp_path, data: bytes, name="a.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_lines_as_datasets_reads_them(tmp_path):
    path = write(tmp_path, b"one\r\ntwo\n\nthree\rfour\n")
    assert texts(path) == ["one", "two", "", "three", "four"]
    assert texts(path, keep_linebreaks=True) == ["one\n", "two\n", "\n", "three\n", "four\n"]
    last = write(tmp_path, b"a\nb", "b.txt")
    assert texts(last) == ["a", "b"] and texts(last, keep_linebreaks=True) == ["a\n", "b"]
    assert texts(write(tmp_path, b"", "empty.txt")) == []


def test_paragraphs_and_documents(tmp_path):
    path = write(tmp_path, b"a\nb\n\nc\r\n\r\n\r\nd\n\n\n\ne\n")
    # as datasets: split on "\n\n", empty pieces dropped, the last keeps its "\n"
    assert texts(path, sample_by="paragraph") == ["a\nb", "c", "\nd", "e\n"]
    assert texts(path, sample_by="document") == ["a\nb\n\nc\n\n\nd\n\n\n\ne\n"]
    empty = write(tmp_path, b"", "empty.txt")
    assert texts(empty, sample_by="document") == [""] and texts(empty, sample_by="paragraph") == []


def test_a_bom_is_dropped(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbfhello\nworld\n")
    assert texts(path) == ["hello", "world"]
    assert texts(path, sample_by="document") == ["hello\nworld\n"]


LINES = st.lists(st.text(alphabet=st.sampled_from(list("ab \r\né€𝄞")), max_size=8), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=LINES, points=st.lists(st.integers(1, 80), max_size=5))
def test_parts_read_every_line_once(tmp_path, lines, points):
    data = "\n".join(lines).encode()
    path = write(tmp_path, data)
    whole = texts(path)
    expected = data.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if expected[-1] == "":
        expected.pop()
    assert whole == expected
    bounds = sorted({p for p in points if p < len(data)})
    parts = [FilePart(str(path), s, e) for s, e in zip([0, *bounds], [*bounds, None], strict=True)]
    assert [t for p in parts for t in texts(path, p)] == whole
    planned = FMT.parts(str(path), len(data), part_bytes=7)
    assert [t for p in planned for t in texts(path, p, batch_rows=2)] == whole


def test_split_only_by_lines_of_uncompressed_files(tmp_path):
    path = write(tmp_path, b"x\n" * 100)
    size = os.path.getsize(path)
    assert len(FMT.file_parts(str(path), size, 20)) > 1
    assert len(FMT.file_parts(str(path), size, 20, ReadOptions(sample_by="paragraph"))) == 1
    assert FMT.split_unit_of("a.txt.gz") == "whole"
    with pytest.raises(ValueError, match="sample_by='document' is read whole"):
        list(FMT.read(FilePart(str(path), 10, 20), ReadOptions(sample_by="document"), ErrorPolicy()))


@pytest.mark.parametrize(("name", "compress"), [("a.txt.gz", gzip.compress), ("a.txt.bz2", bz2.compress)])
def test_compressed_text(tmp_path, name, compress):
    path = write(tmp_path, compress(b"p1 l1\np1 l2\n\np2\n"), name)
    assert format_for_path(str(path)) is get_format("text")
    assert texts(path) == ["p1 l1", "p1 l2", "", "p2"]
    assert texts(path, sample_by="paragraph") == ["p1 l1\np1 l2", "p2\n"]


def test_bad_utf8_is_a_bad_record(tmp_path):
    path = write(tmp_path, b"good\nba\xffd\nfine\n")
    with pytest.raises(BadRecordError, match=r"line 2, byte offset 5: invalid UTF-8 \(byte 0xff"):
        texts(path)
    errors = ErrorPolicy("skip")
    assert texts(path, errors=errors) == ["good", "fine"] and errors.bad == 1
    # in the second part, the line number still counts the whole file
    errors = ErrorPolicy("skip")
    assert texts(path, FilePart(str(path), 3), errors=errors) == ["fine"] and errors.bad == 1
    with pytest.raises(BadRecordError, match="line 1: invalid UTF-8"):
        texts(path, sample_by="document")
    para = write(tmp_path, b"ok\n\nno \xff\n\nyes", "p.txt")
    errors = ErrorPolicy("skip")
    assert texts(para, errors=errors, sample_by="paragraph") == ["ok", "yes"] and errors.bad == 1


def test_columns_and_declared_schemas(tmp_path):
    path = write(tmp_path, b"1\n2\nx\n")
    assert FMT.stored_schema(str(path)) == pa.schema([("text", pa.string())])
    rows = [r for b in FMT.read(FilePart(str(path)), ReadOptions(columns=("text", "id")), ErrorPolicy())
            for r in b.rows]
    assert rows == [{"text": "1", "id": None}, {"text": "2", "id": None}, {"text": "x", "id": None}]
    declared = schemas.partial(pa.schema([("text", pa.int64())]))
    errors = ErrorPolicy("skip")
    batches = list(FMT.read(FilePart(str(path)), ReadOptions(schema=declared), errors))
    assert [r["text"] for b in batches for r in b.rows] == [1, 2] and errors.bad == 1
    assert batches[0].arrow.schema.field("text").type == pa.int64()
    with pytest.raises(Exception, match="does not have"):
        list(FMT.read(FilePart(str(path)), ReadOptions(schema=schemas.partial(pa.schema([("x", pa.int8())]))),
                      ErrorPolicy()))


def test_read_options_check_the_text_options():
    with pytest.raises(ValueError, match="sample_by must be one of line, paragraph, document"):
        ReadOptions(sample_by="sentence")
    with pytest.raises(ValueError, match="keep_linebreaks must be True or False"):
        ReadOptions(keep_linebreaks="yes")


def test_load_text_folders_and_options(tmp_path):
    import crucible_datasets as cd

    (tmp_path / "train.txt").write_text("a\nb\n\nc\n")
    (tmp_path / "LICENSE.txt").write_text("MIT\n")
    (tmp_path / "notes.txt").write_text("todo\n")
    assert cd.load(str(tmp_path), split="train")["text"] == ["a", "b", "", "c"]
    assert cd.load(str(tmp_path), split="train", sample_by="paragraph")["text"] == ["a\nb", "c\n"]
    assert cd.load(str(tmp_path), split="train", keep_linebreaks=True)["text"] == ["a\n", "b\n", "\n", "c\n"]
    (tmp_path / "train.jsonl").write_text('{"q": 1}\n')
    assert cd.load(str(tmp_path), split="train")["q"] == [1]  # .txt beside other data: notes
    assert cd.load(str(tmp_path), split="train", format="text")["text"] == ["a", "b", "", "c"]
