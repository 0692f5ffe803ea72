"""JSON Lines: byte-range parts, bad lines, compression, projection, declared schemas."""

from __future__ import annotations

import gc
import gzip
import os
import tempfile

import orjson
import pyarrow as pa
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import FilePart, ReadOptions, get_format
from crucible_datasets.formats._lines import READ_BUFFER_BYTES
from crucible_datasets.formats.jsonl import JsonlFormat

FMT = JsonlFormat()
BOM = b"\xef\xbb\xbf"


def read_rows(path, part=None, options=None, errors=None):
    part = part or FilePart(str(path))
    return [row for b in FMT.read(part, options or ReadOptions(), errors or ErrorPolicy()) for row in b.rows]


def read_parts(path, parts, options=None, errors=None):
    return [row for p in parts for row in read_rows(path, p, options, errors)]


def parts_at(path, points):
    """Parts [0, p1), [p1, p2), ..., [pk, end) for split points ``points``."""
    bounds = [0, *points]
    return [FilePart(str(path), s, e) for s, e in zip(bounds, [*points, None], strict=True)]


def dead_letters(folder):
    letters = []
    if os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                letters.extend(orjson.loads(line) for line in f)
    return letters


# -- the split property --------------------------------------------------------------------

TEXT = st.text(alphabet=st.sampled_from(list("ab \n\"\\é€π𝄞\u2028")), max_size=12)
GOOD = st.builds(lambda k, v: orjson.dumps({"k": k, "v": v}), st.integers(-5, 10**6), TEXT)
LINE = st.one_of(
    GOOD,
    GOOD,
    GOOD,
    st.sampled_from([b"", b"   ", b"\t \t", b"{oops", b"[1, 2]", b"7", b'"s"', b"null", b'{"a": "\xff"}']),
)


def oracle(content: bytes):
    """Rows and bad (line, offset) pairs, computed the obvious way from the whole file."""
    body = content[len(BOM) :] if content.startswith(BOM) else content
    pos = len(content) - len(body)
    rows, bad = [], []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if line.strip():
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = None
                bad.append((number, pos))
            else:
                if isinstance(value, dict):
                    rows.append(value)
                else:
                    bad.append((number, pos))
        pos += len(line) + 1
    return rows, bad


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(LINE, max_size=25),
    crlf=st.lists(st.booleans(), min_size=25, max_size=25),
    final_newline=st.booleans(),
    bom=st.booleans(),
    cuts=st.lists(st.floats(0, 1, exclude_min=True, exclude_max=True), max_size=6),
    batch_rows=st.integers(1, 4),
)
def test_parts_read_every_line_once_for_any_split_points(lines, crlf, final_newline, bom, cuts, batch_rows):
    content = b"".join(line + (b"\r\n" if crlf[i] else b"\n") for i, line in enumerate(lines))
    if not final_newline and content.endswith(b"\n"):
        content = content[:-2] if content.endswith(b"\r\n") else content[:-1]
    if bom:
        content = BOM + content
    points = sorted({max(1, int(c * len(content))) for c in cuts if len(content) > 1})
    options = ReadOptions(batch_rows=batch_rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.jsonl")
        with open(path, "wb") as f:
            f.write(content)
        whole = ErrorPolicy("dead_letter", os.path.join(tmp, "whole"))
        split = ErrorPolicy("dead_letter", os.path.join(tmp, "split"))
        whole_rows = read_rows(path, options=options, errors=whole)
        split_rows = read_parts(path, parts_at(path, points), options=options, errors=split)
        whole.close()
        split.close()
        whole_bad = sorted((d["line"], d["offset"]) for d in dead_letters(os.path.join(tmp, "whole")))
        split_bad = sorted((d["line"], d["offset"]) for d in dead_letters(os.path.join(tmp, "split")))
    expected_rows, expected_bad = oracle(content)
    assert whole_rows == expected_rows
    assert split_rows == expected_rows
    assert whole_bad == expected_bad
    assert split_bad == expected_bad


def test_parts_cover_the_file_and_compressed_files_are_one_part(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(1000)))
    size = path.stat().st_size
    parts = FMT.parts(str(path), size, 1000)
    assert parts[0].start == 0 and parts[-1].end is None
    assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
    assert all(0 < (p.end or size) - p.start <= 1000 for p in parts)
    assert [r["i"] for r in read_parts(path, parts)] == list(range(1000))
    assert FMT.parts(str(path), size, size) == [FilePart(str(path))]
    assert FMT.parts(str(path) + ".gz", size, 10) == [FilePart(str(path) + ".gz")]
    assert FMT.parts(str(path) + ".zst", size, 10) == [FilePart(str(path) + ".zst")]


def test_lines_longer_than_the_read_buffer(tmp_path):
    long = "x" * (READ_BUFFER_BYTES * 2 + 123)
    rows = [{"i": 0}, {"i": 1, "t": long}, {"i": 2}, {"i": 3, "t": long}]
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows))
    size = path.stat().st_size
    for points in ([5], [READ_BUFFER_BYTES], [20, size // 2, size - 3], list(range(1, size, 700_001))):
        assert read_parts(path, parts_at(path, points)) == rows


def test_offsets_and_line_numbers_deep_into_the_file(tmp_path):
    """Bad lines megabytes in, in the whole file and in every part, across read buffers."""
    lines = [orjson.dumps({"i": i, "pad": "p" * 3000}) for i in range(2000)]
    for at in (400, 1234, 1999):
        lines[at] = b"{bad %d" % at
    content = b"\r\n".join(lines)
    path = tmp_path / "deep.jsonl"
    path.write_bytes(content)
    expected = [(at + 1, content.index(b"{bad %d" % at)) for at in (400, 1234, 1999)]
    for parts in ([FilePart(str(path))], FMT.parts(str(path), len(content), 1_000_000)):
        errors = ErrorPolicy("dead_letter", str(tmp_path / f"e{len(parts)}"))
        assert len(read_parts(path, parts, errors=errors)) == 1997
        errors.close()
        assert sorted((d["line"], d["offset"]) for d in dead_letters(tmp_path / f"e{len(parts)}")) == expected


def test_part_past_the_end_and_part_without_a_line_start(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2, "pad": "' + b"p" * 100 + b'"}\n')
    assert read_rows(path, FilePart(str(path), 12, 40)) == []  # inside line 2, which starts at 9
    assert read_rows(path, FilePart(str(path), 500, None)) == []
    assert read_rows(path, FilePart(str(path), 9, 10)) == [{"a": 2, "pad": "p" * 100}]


# -- batches ---------------------------------------------------------------------------------


def test_batches_are_dict_rows_of_at_most_batch_rows(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(10)))
    batches = list(FMT.read(FilePart(str(path)), ReadOptions(batch_rows=4), ErrorPolicy()))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert not any(b.has_arrow for b in batches)
    assert batches[2].rows == [{"i": 8}, {"i": 9}]


def test_empty_and_blank_files(tmp_path):
    for content in (b"", b"\n\n", b"   \r\n\t\n", BOM, BOM + b"\n"):
        path = tmp_path / "e.jsonl"
        path.write_bytes(content)
        assert list(FMT.read(FilePart(str(path)), ReadOptions(), ErrorPolicy())) == []


def test_projection_keeps_asked_columns_missing_ones_as_none(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1, "b": 2, "c": 3}\n{"b": 5}\n')
    rows = read_rows(path, options=ReadOptions(columns=("c", "a")))
    assert rows == [{"c": 3, "a": 1}, {"c": None, "a": None}]
    assert [list(r) for r in rows] == [["c", "a"], ["c", "a"]]


def test_declared_schema_gives_arrow_batches(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1, "b": "x", "extra": true}\n{"a": 2}\n')
    schema = pa.schema([("a", pa.int32()), ("b", pa.string())])
    batches = list(FMT.read(FilePart(str(path)), ReadOptions(schema=schema), ErrorPolicy()))
    assert len(batches) == 1 and batches[0].has_arrow
    assert batches[0].arrow.schema == schema
    assert batches[0].rows == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    narrowed = list(FMT.read(FilePart(str(path)), ReadOptions(schema=schema, columns=("b",)), ErrorPolicy()))
    assert narrowed[0].arrow.schema.names == ["b"]
    with pytest.raises(ValueError, match="not in the declared schema"):
        list(FMT.read(FilePart(str(path)), ReadOptions(schema=schema, columns=("zzz",)), ErrorPolicy()))


# -- bad lines -------------------------------------------------------------------------------

BAD_CASES = [
    (b"{oops", "not valid JSON"),
    (b'{"a": 1} trailing', "not valid JSON"),
    (b"[1, 2]", "not a JSON object (got an array)"),
    (b"42", "not a JSON object (got a number)"),
    (b'"text"', "not a JSON object (got a string)"),
    (b"null", "not a JSON object (got null)"),
    (b"true", "not a JSON object (got a boolean)"),
    (b'{"a": "caf\xe9"}', "invalid UTF-8"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_CASES)
def test_bad_line_raises_naming_file_line_offset_and_reason(tmp_path, bad, reason):
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n' + bad + b"\r\n" + b'{"a": 2}\n')
    with pytest.raises(BadRecordError) as info:
        read_rows(path)
    message = str(info.value)
    assert "dirty.jsonl" in message and "line 3" in message and "byte offset 11" in message
    assert reason in message
    record = info.value.record
    assert (record.line, record.offset, record.raw) == (3, 11, bad)


def test_skip_counts_bad_lines_and_keeps_the_rest(tmp_path):
    path = tmp_path / "dirty.jsonl"
    lines = [b'{"x": 1}', b"not json", b'{"x": 2}', b"[1]", b"", b'{"x": "\xff"}', b"  ", b'{"x": 3}']
    path.write_bytes(b"\n".join(lines))
    errors = ErrorPolicy("skip")
    assert read_rows(path, errors=errors) == [{"x": 1}, {"x": 2}, {"x": 3}]
    assert errors.bad == 3  # blank lines are not bad records


def test_dead_letter_writes_file_line_offset_reason_raw(tmp_path):
    path = tmp_path / "dirty.jsonl"
    content = b'{"x": 1}\nnot json\n{"x": 2}\n{"x": "\xff"}\n[3]\n'
    path.write_bytes(content)
    errors_path = tmp_path / "errors"
    errors = ErrorPolicy("dead_letter", str(errors_path))
    assert read_rows(path, errors=errors) == [{"x": 1}, {"x": 2}]
    errors.close()
    letters = dead_letters(errors_path)
    assert [(d["file"], d["line"], d["offset"]) for d in letters] == [
        (str(path), 2, 9),
        (str(path), 4, content.index(b'{"x": "\xff"}')),
        (str(path), 5, content.index(b"[3]")),
    ]
    assert letters[0]["raw"] == "not json" and letters[0]["reason"].startswith("not valid JSON")
    assert "invalid UTF-8" in letters[1]["reason"] and letters[1]["raw"] == '{"x": "\ufffd"}'
    assert letters[2]["reason"] == "not a JSON object (got an array)"
    assert set(letters[0]) == {"file", "line", "offset", "reason", "raw"}


def test_bad_line_in_a_later_part_has_its_whole_file_line_number(tmp_path):
    path = tmp_path / "a.jsonl"
    lines = [orjson.dumps({"i": i}) for i in range(500)]
    lines[321] = b"{broken"
    content = b"\n".join(lines) + b"\n"
    path.write_bytes(content)
    offset = content.index(b"{broken")
    parts = FMT.parts(str(path), len(content), 1000)
    owner = next(p for p in parts if p.start <= offset < (p.end or len(content)))
    assert owner.start > 0
    with pytest.raises(BadRecordError) as info:
        read_rows(path, owner)
    assert (info.value.record.line, info.value.record.offset) == (322, offset)


def test_rows_that_do_not_fit_the_declared_schema(tmp_path):
    path = tmp_path / "typed.jsonl"
    content = b'{"a": 1}\n{"a": "one"}\n\n{"a": 3}\n{"a": [4]}\n'
    path.write_bytes(content)
    schema = pa.schema([("a", pa.int64())])
    errors = ErrorPolicy("dead_letter", str(tmp_path / "errors"))
    batches = list(FMT.read(FilePart(str(path)), ReadOptions(schema=schema, batch_rows=2), errors))
    errors.close()
    assert [r for b in batches for r in b.rows] == [{"a": 1}, {"a": 3}]
    letters = dead_letters(tmp_path / "errors")
    assert [(d["line"], d["offset"]) for d in letters] == [(2, 9), (5, content.index(b'{"a": [4]}'))]
    assert all("declared schema" in d["reason"] for d in letters)
    assert letters[0]["raw"] == '{"a":"one"}'
    with pytest.raises(BadRecordError, match=r"typed.jsonl, line 2, byte offset 9: does not fit"):
        read_rows(path, options=ReadOptions(schema=schema))


def test_a_batch_whose_rows_are_all_bad_is_not_yielded(tmp_path):
    path = tmp_path / "typed.jsonl"
    path.write_bytes(b'{"a": "x"}\n{"a": "y"}\n{"a": 1}\n')
    schema = pa.schema([("a", pa.int64())])
    errors = ErrorPolicy("skip")
    batches = list(FMT.read(FilePart(str(path)), ReadOptions(schema=schema, batch_rows=2), errors))
    assert [len(b) for b in batches] == [1] and errors.bad == 2


# -- compression -----------------------------------------------------------------------------

ROWS = [{"i": i, "text": f"row {i} é"} for i in range(3000)]
CONTENT = b"".join(orjson.dumps(r) + b"\n" for r in ROWS)


def test_gzip_round_trip_with_several_members(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    half = len(CONTENT) // 2
    cut = CONTENT.index(b"\n", half) + 1
    path.write_bytes(gzip.compress(BOM + CONTENT[:cut]) + gzip.compress(CONTENT[cut:]))
    assert read_rows(path, options=ReadOptions(batch_rows=1000)) == ROWS


def test_zstd_round_trip_with_several_frames(tmp_path):
    path = tmp_path / "a.jsonl.zst"
    cctx = zstandard.ZstdCompressor()
    path.write_bytes(cctx.compress(CONTENT[:1000]) + cctx.compress(CONTENT[1000:]))
    assert read_rows(path) == ROWS


def test_bad_line_in_compressed_file_has_line_and_offset(tmp_path):
    path = tmp_path / "a.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'{"a": 1}\n{bad\n'))
    with pytest.raises(BadRecordError, match=r"a.jsonl.zst, line 2, byte offset 9"):
        read_rows(path)


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
@pytest.mark.parametrize("damage", ["truncated", "corrupt", "trailing garbage"])
def test_damaged_compressed_file_raises_data_file_error_naming_it(tmp_path, suffix, damage):
    data = gzip.compress(CONTENT) if suffix == ".gz" else zstandard.ZstdCompressor().compress(CONTENT)
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "corrupt":
        data = data[:20] + bytes(b ^ 0x5A for b in data[20:60]) + data[60:]
    else:
        data = data + b"this is not compressed"
    path = tmp_path / f"broken.jsonl{suffix}"
    path.write_bytes(data)
    with pytest.raises(DataFileError, match="broken.jsonl" + suffix.replace(".", r"\.")):
        read_rows(path, errors=ErrorPolicy("skip"))


def test_missing_file_raises_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="nowhere.jsonl"):
        read_rows(tmp_path / "nowhere.jsonl")


def test_registered_under_jsonl():
    assert isinstance(get_format("jsonl"), JsonlFormat)


def test_garbage_collector_state_is_left_as_found(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3}\nbad\n')
    assert gc.isenabled()
    batches = FMT.read(FilePart(str(path)), ReadOptions(batch_rows=1), ErrorPolicy())
    next(batches)
    assert gc.isenabled()  # paused only while parsing, never while the caller holds a batch
    with pytest.raises(BadRecordError):
        list(batches)
    assert gc.isenabled()
    gc.disable()
    try:
        assert len(read_rows(path, errors=ErrorPolicy("skip"))) == 3
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_read_options_refuse_a_batch_size_below_one():
    from crucible_datasets.formats.base import ReadOptions

    for bad in ({"batch_rows": 0}, {"batch_bytes": -1}, {"batch_rows": 1.5}):
        with pytest.raises(ValueError, match="must be a positive integer"):
            ReadOptions(**bad)
