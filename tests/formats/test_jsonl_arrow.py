"""JSON Lines straight to Arrow (``ReadOptions(declarative=True)``): the same rows, bad records,
line numbers and counts as the row path, on any input and any split; and it is really taken."""

from __future__ import annotations

import os
import tempfile
import threading

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError
from crucible_datasets.formats import FilePart, ReadOptions, _ahead, _arrow_lines
from crucible_datasets.formats.jsonl import JsonlFormat
from crucible_datasets.operations import collect
from crucible_datasets.pipeline import Tally

FMT = JsonlFormat()
BOM = b"\xef\xbb\xbf"


def turn(who, text):
    return {"from": who, "value": text}


def row(i, text="x", score=0.5):
    return {"id": i, "score": score, "text": text, "turns": [turn("human", text), turn("gpt", text * 2)]}


def line(value) -> bytes:
    return orjson.dumps(value)


TEXT = st.text(alphabet=st.sampled_from(list('ab "\\é€π𝄞\u2028{}NaN')), max_size=8)
GOOD = st.builds(lambda i, t, s: line(row(i, t, s)), st.integers(-5, 10**6), TEXT, st.floats(0, 1))
ODD = st.sampled_from(
    [
        b"",
        b"   ",
        b"\t",
        b"{oops",
        b"[1, 2]",
        b"7",
        b"null",
        b'{"id": 1, "text": "\xff"}',  # invalid UTF-8
        b'{"id": 2, "score": NaN}',  # not JSON, though pyarrow takes it
        b'{"id": 3, "score": Infinity, "text": "x"}',
        b'{"id": 4} {"id": 5}',  # two objects on one line
        b'{"id": 6, "id": 7}',  # a duplicate key
        line({"id": 8, "score": 2}),  # an int where floats were
        line({"id": 9, "score": "high"}),  # a string where floats were: JSON text
        line({"id": 10, "turns": [{"from": "gpt"}]}),  # an object lacking a key
        line({"id": 11, "turns": [turn("gpt", None)]}),  # a null in an object
        line({"id": 12, "extra": [1, 2]}),  # a new column
        line({"id": 13, "text": None, "turns": None}),
        line({"id": 14, "when": "2020-01-01"}),  # a string pyarrow would take for a timestamp
    ]
)
LINE = st.one_of(GOOD, GOOD, GOOD, ODD)


def read(path, parts, declarative, errors, batch_rows=3):
    options = ReadOptions(batch_rows=batch_rows, declarative=declarative)
    return [b for p in parts for b in FMT.read(p, options, errors)]


def table_of(batches):
    """The batches as the sink sees them: one table, the schemas unified."""
    table = collect(batches)
    return table.schema, schemas.to_pylist(table)


def dead_letters(folder):
    letters = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                letters.extend(orjson.loads(text) for text in f)
    return sorted(letters, key=lambda d: d["line"])


def parts_at(path, points):
    bounds = [0, *points]
    return [FilePart(path, s, e) for s, e in zip(bounds, [*points, None], strict=True)]


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few lines, so a small file has many of them (the sizes are the module's knobs)."""
    monkeypatch.setattr(_arrow_lines, "SAMPLE_BYTES", 150)
    monkeypatch.setattr(_arrow_lines, "BLOCK_BYTES", 300)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(LINE, max_size=40),
    crlf=st.booleans(),
    bom=st.booleans(),
    cuts=st.lists(st.floats(0, 1, exclude_min=True, exclude_max=True), max_size=4),
    block=st.sampled_from([120, 300, 1 << 20]),
)
def test_arrow_path_gives_the_row_paths_rows_and_bad_records(lines, crlf, bom, cuts, block):
    content = (BOM if bom else b"") + b"".join(x + (b"\r\n" if crlf else b"\n") for x in lines)
    points = sorted({max(1, int(c * len(content))) for c in cuts if len(content) > 1})
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_arrow_lines, "SAMPLE_BYTES", 100)
        patch.setattr(_arrow_lines, "BLOCK_BYTES", block)
        path = os.path.join(tmp, "data.jsonl")
        with open(path, "wb") as f:
            f.write(content)
        results = {}
        for name, declarative, parts in [
            ("rows", False, [FilePart(path)]),
            ("arrow", True, [FilePart(path)]),
            ("arrow-split", True, parts_at(path, points)),
        ]:
            errors = ErrorPolicy("dead_letter", os.path.join(tmp, name))
            batches = read(path, parts, declarative, errors)
            errors.close()
            results[name] = (table_of(batches), dead_letters(os.path.join(tmp, name)), errors.bad)
    assert results["arrow"] == results["rows"]
    assert results["arrow-split"] == results["rows"]


def test_clean_blocks_are_parsed_to_arrow_without_python_rows(tmp_path, small_blocks):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(line(row(i, "é" * (i % 5))) + b"\n" for i in range(200)))
    batches = read(str(path), [FilePart(str(path))], True, ErrorPolicy(), batch_rows=50)
    from_arrow = [b for b in batches if b.has_arrow and b._rows is None]
    assert sum(map(len, from_arrow)) > 150  # all but the sample's rows
    assert max(map(len, batches)) <= 50
    assert table_of(batches) == table_of(read(str(path), [FilePart(str(path))], False, ErrorPolicy()))
    assert from_arrow[0].arrow.schema.field("turns").type == pa.list_(
        pa.struct([("from", pa.string()), ("value", pa.string())])
    )


def test_a_bad_line_deep_in_an_arrow_block_is_reported_as_by_the_row_path(tmp_path, small_blocks):
    lines = [line(row(i)) for i in range(100)]
    lines[77] = b'{"id": 77, "score": oops}'
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    offset = sum(len(x) + 1 for x in lines[:77])
    with pytest.raises(BadRecordError) as raised:
        read(str(path), [FilePart(str(path), 500, None)], True, ErrorPolicy())
    assert raised.value.record.line == 78 and raised.value.record.offset == offset


def test_drifting_types_widen_the_schema_and_later_blocks_go_back_to_arrow(tmp_path, small_blocks):
    rows = [{"id": i, "v": None} for i in range(20)] + [{"id": i, "v": f"s{i}"} for i in range(20, 120)]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(line(r) + b"\n" for r in rows))
    batches = read(str(path), [FilePart(str(path))], True, ErrorPolicy(), batch_rows=10)
    assert [r["v"] for r in table_of(batches)[1]] == [r["v"] for r in rows]
    assert batches[-1].has_arrow and batches[-1]._rows is None  # the last block: Arrow again
    assert batches[-1].arrow.schema.field("v").type == pa.string()


def test_a_declared_schema_is_the_parse_schema_and_misfits_are_bad_records(tmp_path, small_blocks):
    schema = pa.schema([("id", pa.int64()), ("score", pa.float64())])
    lines = [line({"id": i, "score": i / 10}) for i in range(60)]
    lines[40] = line({"id": "forty", "score": 1.0})
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines))
    for declarative in (True, False):
        errors = ErrorPolicy("skip")
        options = ReadOptions(schema=schema, declarative=declarative, batch_rows=7)
        batches = list(FMT.read(FilePart(str(path)), options, errors))
        assert errors.bad == 1
        assert [b.arrow.schema for b in batches] == [schema] * len(batches)
        assert sum(map(len, batches)) == 59


def test_where_and_sql_pipeline_counts_rows_and_bad_records_as_the_row_path(tmp_path, small_blocks):
    lines = [line(row(i, "ab" * (i % 4), score=(i % 10) / 10)) for i in range(300)]
    lines[5], lines[150] = b"{broken", b'{"id": 150, "score": NaN}'
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    def run(ds):
        pipe = ds._pipeline()
        tally = Tally()
        out = table_of(list(pipe.run_parts(pipe.source.parts(part_bytes=4000), tally)))
        counts = [(c.rows_in, c.rows_out) for c in tally.stages]
        return out[1], tally.rows_read, tally.errors.bad, counts

    ds = cd.load(str(path), split="train", streaming=True, on_error="skip")
    sql = 'SELECT id, list_filter(turns, lambda t: t."from" = \'gpt\')[1]."value" AS response FROM batch'
    declarative = run(ds.where("score > 0.5").sql(sql))
    by_rows = run(ds.filter(lambda r: r["score"] is not None and r["score"] > 0.5).sql(sql))
    assert declarative == by_rows
    assert declarative[1] == 298 and declarative[2] == 2


def test_blocks_are_parsed_ahead_on_threads_the_process_keeps(tmp_path, small_blocks, monkeypatch):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(line(row(i)) + b"\n" for i in range(200)))
    parsers = []  # the threads that parsed (kept: no two are the same object)
    parse = _arrow_lines.parse_block
    monkeypatch.setattr(
        _arrow_lines,
        "parse_block",
        lambda *a, **k: parsers.append(threading.current_thread()) or parse(*a, **k),
    )
    for part in FMT.parts(str(path), path.stat().st_size, part_bytes=2000):  # 10 parts
        batches = FMT.read(part, ReadOptions(declarative=True, batch_rows=5), ErrorPolicy())
        while next(batches)._rows is not None:  # past the sample (row path): to an Arrow block
            pass
        batches.close()  # a consumer stopping early (take, an error downstream)
    assert parsers and threading.main_thread() not in parsers
    assert len(set(parsers)) <= _ahead.THREADS  # a thread a part made memory grow
    whole = list(FMT.read(FilePart(str(path)), ReadOptions(declarative=True), ErrorPolicy()))
    assert [r["id"] for b in whole for r in b.rows] == list(range(200))


def test_a_read_error_in_the_thread_ahead_is_raised_in_order(tmp_path, small_blocks):
    lines = [line(row(i)) for i in range(100)]
    lines[90] = b'{"id": 90, "score": oops}'
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    seen = []
    with pytest.raises(BadRecordError) as raised:
        for batch in FMT.read(FilePart(str(path)), ReadOptions(declarative=True), ErrorPolicy()):
            seen.extend(r["id"] for r in batch.rows)
    assert seen == list(range(seen[-1] + 1)) and seen[-1] < 90  # every row before the bad one, in order
    assert raised.value.record.line == 91
