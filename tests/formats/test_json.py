"""JSON documents: arrays, field=, JSON Lines in a .json file, bad items, syntax errors, memory."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import FilePart, ReadOptions, format_for_path
from crucible_datasets.formats.json import MAX_DEPTH, JsonFormat, _Nesting

FMT = JsonFormat()
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def read(path, options=None, errors=None):
    return list(FMT.read(FilePart(str(path)), options or ReadOptions(), errors or ErrorPolicy()))


def rows(path, options=None, errors=None):
    return [r for b in read(path, options, errors) for r in b.rows]


def test_top_level_array(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'\xef\xbb\xbf \n[{"a": 1, "f": 1.5}, {"a": 2, "nested": {"x": [1, 2]}}, {}]\n')
    assert rows(path) == [{"a": 1, "f": 1.5}, {"a": 2, "nested": {"x": [1, 2]}}, {}]
    assert type(rows(path)[0]["f"]) is float


def test_field_names_the_list_of_records(tmp_path):
    path = tmp_path / "squad.json"
    path.write_bytes(b'{"version": "1.1", "data": [{"q": 1}, {"q": 2}, {"q": 3}], "after": [0]}')
    batches = read(path, ReadOptions(field="data", batch_rows=2))
    assert [b.rows for b in batches] == [[{"q": 1}, {"q": 2}], [{"q": 3}]]
    nested = tmp_path / "nested.json"
    nested.write_bytes(b'{"meta": {}, "data": {"rows": [{"q": 1}]}}')
    assert rows(nested, ReadOptions(field="data.rows")) == [{"q": 1}]


def test_missing_or_misplaced_field(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"version": 1, "rows": [{"a": 1}], "empty": [], "obj": {"a": 1}}')
    keys = r"\(its top-level keys: 'version', 'rows'"
    with pytest.raises(DataFileError, match=r"a.json has no field 'data' " + keys):
        rows(path, ReadOptions(field="data"))
    assert rows(path, ReadOptions(field="empty")) == []
    with pytest.raises(DataFileError, match="field 'obj' holds an object, not a list"):
        rows(path, ReadOptions(field="obj"))
    array = tmp_path / "array.json"
    array.write_bytes(b'[{"a": 1}]')
    with pytest.raises(DataFileError, match="top-level array"):
        rows(array, ReadOptions(field="data"))


def test_json_lines_in_a_json_file(tmp_path):
    path = tmp_path / "lines.json"
    path.write_bytes(b'\n{"a": 1}\n{"a": 2}\r\n\n{"a": 3}')
    assert rows(path) == [{"a": 1}, {"a": 2}, {"a": 3}]
    with pytest.raises(BadRecordError, match=r"lines.json, line 2, byte offset 1: not valid JSON"):
        path.write_bytes(b'\n{"a": \n')
        rows(path)


def test_pretty_printed_object_without_field_says_to_pass_field(tmp_path):
    path = tmp_path / "pretty.json"
    path.write_bytes(b'{\n  "data": [\n    {"a": 1}\n  ]\n}\n')
    with pytest.raises(DataFileError, match="pretty.json holds one JSON object .* pass field="):
        rows(path)
    assert rows(path, ReadOptions(field="data")) == [{"a": 1}]


def test_non_object_items_are_bad_records(tmp_path):
    path = tmp_path / "mixed.json"
    path.write_bytes(b'[{"a": 1}, [1, 2], "s", {"a": 2}, null]')
    errors = ErrorPolicy("skip")
    assert rows(path, errors=errors) == [{"a": 1}, {"a": 2}]
    assert errors.bad == 3
    with pytest.raises(BadRecordError) as info:
        rows(path)
    assert "mixed.json, line 2: record 2 is not a JSON object (got an array)" in str(info.value)
    assert info.value.record.raw == b"[1,2]"


RECORDS = b"[" + (b'{"text": "' + b"x" * 1000 + b'"},\n ') * 500


@pytest.mark.parametrize(
    ("before", "bad", "after", "error"),
    [
        (b'[{"a": 1}, {"a": 2', b"", b"", "premature EOF"),
        (b'[{"a": "', b"\xff", b'"}]', "invalid bytes in UTF8 string"),
        (b'  [{"a": ', b"N", b"aN}]", "invalid char in json text"),
        (b'[{"a": 1} ', b"{", b'"b": 2}]', "after array element"),
        (b"[" + b" " * 300_000, b"x", b"]", "invalid char"),
        (RECORDS + b'{"a": 1,', b",", b' "b": 2}]', "invalid object key"),
    ],
)
def test_syntax_error_names_file_and_byte_offset(tmp_path, before, bad, after, error):
    path = tmp_path / "broken.json"
    path.write_bytes(before + bad + after)
    with pytest.raises(DataFileError) as info:
        rows(path)
    message = str(info.value)
    assert "broken.json is not valid JSON" in message and error in message
    assert f"at byte offset {len(before)} " in message


def test_not_an_array_or_object(tmp_path):
    scalar = tmp_path / "scalar.json"
    scalar.write_bytes(b"42")
    with pytest.raises(DataFileError, match="scalar.json is not a JSON array or object"):
        rows(scalar)


def test_declared_schema_and_projection(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"a": 1, "b": "x"}, {"a": "bad"}, {"a": 3, "c": true}]')
    schema = pa.schema([("a", pa.int64())])
    errors = ErrorPolicy("skip")
    batches = read(path, ReadOptions(schema=schema), errors)
    assert batches[0].arrow.schema == schema and batches[0].rows == [{"a": 1}, {"a": 3}]
    assert errors.bad == 1
    with pytest.raises(BadRecordError, match=r"a.json, line 2: does not fit the declared schema"):
        read(path, ReadOptions(schema=schema))
    assert rows(path, ReadOptions(columns=("c",))) == [{"c": None}, {"c": None}, {"c": True}]


def test_compressed_and_empty(tmp_path):
    path = tmp_path / "a.json.gz"
    path.write_bytes(gzip.compress(b'[{"a": 1}, {"a": 2}]'))
    assert rows(path) == [{"a": 1}, {"a": 2}]
    assert format_for_path(str(path)) is format_for_path("x.json")
    lines = tmp_path / "b.json.gz"
    lines.write_bytes(gzip.compress(b'{"a": 1}\n{"a": 2}\n'))
    assert rows(lines) == [{"a": 1}, {"a": 2}]
    for content in (b"", b"  \n", b"[]"):
        empty = tmp_path / "e.json"
        empty.write_bytes(content)
        assert rows(empty) == []


def test_a_large_array_streams_in_bounded_memory(tmp_path):
    """~120 MB of JSON read in a fresh process: peak RSS grows by a small fraction of that."""
    path = tmp_path / "big.json"
    script = textwrap.dedent(
        """
        import resource, sys
        import orjson
        path, n = sys.argv[1], int(sys.argv[2])
        record = {"id": 0, "text": "x" * 900, "tags": ["a", "b"], "score": 0.5}
        with open(path, "wb") as f:
            f.write(b"[\\n")
            for i in range(n):
                record["id"] = i
                f.write(orjson.dumps(record) + (b",\\n" if i + 1 < n else b"\\n"))
            f.write(b"]\\n")
        from crucible_datasets.bad_records import ErrorPolicy
        from crucible_datasets.formats import FilePart, ReadOptions, get_format
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        count = 0
        for batch in get_format("json").read(FilePart(path), ReadOptions(), ErrorPolicy()):
            count += len(batch)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(count, (after - before) * 1024)
        """
    )
    n = 120_000
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(n)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    size = os.path.getsize(path)
    assert size > 100_000_000
    assert int(out[0]) == n
    assert int(out[1]) < size / 4, f"peak RSS grew by {int(out[1]) / 1e6:.0f} MB reading {size / 1e6:.0f} MB"


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.timeout(60)
@pytest.mark.parametrize("on_error", ["raise", "skip"])
@pytest.mark.parametrize(
    ("before", "field"),
    [
        (b"", None),  # the document itself
        (b'[{"a": 1}, ', None),  # a record of a top-level array
        (b'[{"a": 1}, {"x": ', None),  # a value inside a record
        (b'{"data": [{"a": 1}, {"x": ', "data"),  # inside a record of field=
    ],
    ids=["document", "record", "value", "field"],
)
def test_json_nested_100k_levels_deep_names_the_file_and_the_byte_offset(tmp_path, before, field, on_error):
    """Not a RecursionError, MemoryError, nor minutes of parsing: a clear error, whatever the policy."""
    path = tmp_path / "deep.json"
    path.write_bytes(before + deep(100_000) + b"]}" * 3)
    document_levels = sum(before.count(b) for b in (b"[", b"{")) - sum(before.count(b) for b in (b"]", b"}"))
    with pytest.raises(DataFileError) as info:
        rows(path, ReadOptions(field=field), ErrorPolicy(on_error))
    at = len(before) + MAX_DEPTH - document_levels  # the first bracket past the bound
    assert str(info.value) == (
        f"{path} nests arrays and objects deeper than {MAX_DEPTH} levels at byte offset {at}; "
        "it is not read (a parser needs memory growing with the square of the depth)"
    )


def test_records_nested_up_to_the_bound_are_read_and_deeper_lines_of_json_lines_are_bad(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'[{"x": ' + deep(MAX_DEPTH - 2) + b"}, " + deep(MAX_DEPTH - 1) + b"]")
    errors = ErrorPolicy("skip")
    got = rows(path, errors=errors)
    assert len(got) == 1 and errors.bad == 1  # the deep array is a bad record (not an object)
    path.write_bytes(b'[{"x": ' + deep(MAX_DEPTH - 1) + b"}]")
    with pytest.raises(DataFileError, match=f"at byte offset {7 + MAX_DEPTH - 2}; "):
        rows(path)
    # JSON Lines: orjson's bound is the same; a deeper line is a bad record, named, and the rest is read
    lines = tmp_path / "a.jsonl"
    lines.write_bytes(b'{"a": 1}\n{"x": ' + deep(100_000) + b'}\n{"a": 3}\n')
    errors = ErrorPolicy("skip")
    assert [
        r
        for b in format_for_path(str(lines)).read(FilePart(str(lines)), ReadOptions(), errors)
        for r in b.rows
    ] == [
        {"a": 1},
        {"a": 3},
    ]
    assert errors.bad == 1
    with pytest.raises(BadRecordError, match=r"a.jsonl, line 2"):
        list(format_for_path(str(lines)).read(FilePart(str(lines)), ReadOptions(), ErrorPolicy()))


def test_brackets_quotes_and_backslashes_inside_strings_do_not_nest(tmp_path):
    text = b'"[[[{{ \\\\\\" \\\\\\\\ ' + b"[" * 5000 + b'"'  # a string: brackets, \\\" and \\\\ in it
    document = b'[{"s": ' + text + b', "t": "\\\\", "u": ["]\\""]}, {"s": "{"}]'
    path = tmp_path / "strings.json"
    path.write_bytes(document)
    assert [len(r) for r in rows(path)] == [3, 1]
    for cut in range(1, len(document)):  # every place a chunk can end, a backslash run included
        nesting = _Nesting("strings.json")
        nesting.feed(document[:cut], 0)
        nesting.feed(document[cut:], cut)
        assert (nesting.depth, nesting.in_string) == (0, False), cut
