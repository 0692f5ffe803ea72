"""CSV/TSV: quoting, CRLF, typed values, drift across blocks, declared schemas, bad records."""

from __future__ import annotations

import gzip

import orjson
import pyarrow as pa
import pytest
import zstandard

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import FilePart, ReadOptions, format_for_path, get_format
from crucible_datasets.formats.csv import BLOCK_BYTES, CsvFormat

FMT = CsvFormat()


def read(path, options=None, errors=None):
    return list(FMT.read(FilePart(str(path)), options or ReadOptions(), errors or ErrorPolicy()))


def rows(path, options=None, errors=None):
    return [r for b in read(path, options, errors) for r in b.rows]


def test_quoted_fields_with_commas_quotes_newlines_and_crlf(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(
        b'id,text,note\r\n1,"a, b","say ""hi"""\r\n2,"line one\r\nline two",plain\r\n3,"",\r\n'
    )
    assert rows(path) == [
        {"id": 1, "text": "a, b", "note": 'say "hi"'},
        {"id": 2, "text": "line one\r\nline two", "note": "plain"},
        {"id": 3, "text": "", "note": None},  # quoted empty: "", unquoted: null
    ]


def test_typed_values_and_bom(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfi,f,b,s,e\n1,1.5,true,x,\n-2,3,false,007,\n")
    batch = read(path)[0]
    types = [f.type for f in batch.arrow.schema]
    assert types == [pa.int64(), pa.float64(), pa.bool_(), pa.string(), pa.null()]
    assert batch.rows == [
        {"i": 1, "f": 1.5, "b": True, "s": "x", "e": None},
        {"i": -2, "f": 3.0, "b": False, "s": "007", "e": None},
    ]


def test_type_drift_across_blocks_does_not_crash(tmp_path):
    """int for the first blocks, then text: later batches widen, earlier ones keep numbers."""
    n = BLOCK_BYTES // 4 + 1000  # well over one block of "123456\n" lines
    body = b"".join(b"%d,%d\n" % (i, i) for i in range(n))
    path = tmp_path / "drift.csv"
    path.write_bytes(b"a,b\n" + body + b"oops,2.5\n" + body[:100])
    batches = read(path, ReadOptions(batch_rows=100_000))
    assert sum(len(b) for b in batches) == n + 1 + body[:100].count(b"\n")
    types = [b.arrow.schema.field("a").type for b in batches]
    assert types[0] == pa.int64() and types[-1] == pa.string()
    assert pa.float64() in [b.arrow.schema.field("b").type for b in batches]
    last = [r for b in batches for r in b.rows][n]
    assert last == {"a": "oops", "b": 2.5}


def test_batch_rows_and_projection(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"a,b,c\n" + b"".join(b"%d,x%d,%d\n" % (i, i, -i) for i in range(10)))
    batches = read(path, ReadOptions(batch_rows=4, columns=("c", "a", "zz")))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert batches[0].arrow.schema.names == ["c", "a", "zz"]
    assert batches[0].rows[1] == {"c": -1, "a": 1, "zz": None}


def test_tsv_uses_a_tab_and_explicit_delimiter_wins(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_bytes(b"a\tb\n1,5\t2\n")
    assert rows(tsv) == [{"a": "1,5", "b": 2}]
    semi = tmp_path / "a.csv"
    semi.write_bytes(b"a;b\n1;2\n")
    assert rows(semi, ReadOptions(delimiter=";")) == [{"a": 1, "b": 2}]
    assert format_for_path(str(tsv) + ".gz") is get_format("csv")


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed(tmp_path, suffix):
    data = b"a,b\n" + b"".join(b'%d,"v\n%d"\n' % (i, i) for i in range(5000))
    packed = gzip.compress(data) if suffix == ".gz" else zstandard.ZstdCompressor().compress(data)
    path = tmp_path / f"c.csv{suffix}"
    path.write_bytes(packed)
    got = rows(path)
    assert len(got) == 5000 and got[4999] == {"a": 4999, "b": "v\n4999"}
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataFileError, match=f"c.csv\\{suffix}"):
        rows(path)


def test_declared_schema_wins_and_misfits_are_bad_records(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes(b"id,score,name\n1,0.5,a\n2,high,b\nx,0.7,c\n4,,d\n")
    schema = pa.schema([("name", pa.string()), ("id", pa.int32()), ("score", pa.float32())])
    errors = ErrorPolicy("dead_letter", str(tmp_path / "errors"))
    batches = read(path, ReadOptions(schema=schema), errors)
    errors.close()
    assert all(b.arrow.schema == schema for b in batches)
    assert [r for b in batches for r in b.rows] == [
        {"name": "a", "id": 1, "score": 0.5},
        {"name": "d", "id": 4, "score": None},
    ]
    letters = [orjson.loads(x) for f in (tmp_path / "errors").iterdir() for x in f.read_bytes().splitlines()]
    assert [d["line"] for d in letters] == [3, 4]  # the header is line 1
    assert "score" in letters[0]["reason"] and "id" in letters[1]["reason"]
    assert orjson.loads(letters[0]["raw"]) == {"name": "b", "id": "2", "score": "high"}
    with pytest.raises(BadRecordError, match=r"s.csv, line 3: does not fit the declared type float"):
        read(path, ReadOptions(schema=schema))


def test_rows_with_the_wrong_number_of_fields(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b\n1,2\n3\n4,5,6\n7,8\n")
    errors = ErrorPolicy("skip")
    assert rows(path, errors=errors) == [{"a": 1, "b": 2}, {"a": 7, "b": 8}]
    assert errors.bad == 2
    with pytest.raises(BadRecordError, match=r"ragged.csv: expected 2 fields, got 1"):
        rows(path)


def test_invalid_utf8_is_a_bad_record(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(b"a,b\n1,caf\xe9\n2,ok\n")
    errors = ErrorPolicy("skip")
    assert rows(path, errors=errors) == [{"a": 2, "b": "ok"}]
    assert errors.bad == 1
    with pytest.raises(BadRecordError, match=r"u.csv, line 2: invalid UTF-8"):
        rows(path)


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert read(empty) == []
    header = tmp_path / "h.csv"
    header.write_bytes(b"a,b\n")
    assert rows(header) == []


def test_one_part_per_file(tmp_path):
    assert FMT.parts("x.csv", 10**10, 1000) == [FilePart("x.csv")]
    with pytest.raises(ValueError, match="read whole"):
        list(FMT.read(FilePart("x.csv", 5, 10), ReadOptions(), ErrorPolicy()))


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="gone.csv"):
        rows(tmp_path / "gone.csv")


# --- dialect: sniffed delimiter, quotechar, header / column_names (issue "Trust") -----------------


def test_semicolon_pipe_and_tab_are_sniffed(tmp_path):
    semi = tmp_path / "semi.csv"
    semi.write_bytes(b'id;price;note\n1;2,5;"a; b"\n2;3,0;x, y\n')
    assert rows(semi) == [
        {"id": 1, "price": "2,5", "note": "a; b"},
        {"id": 2, "price": "3,0", "note": "x, y"},
    ]
    pipe = tmp_path / "pipe.csv.gz"
    pipe.write_bytes(gzip.compress(b"a|b\n1|x,y\n"))
    assert rows(pipe) == [{"a": 1, "b": "x,y"}]
    tab = tmp_path / "tab.csv"
    tab.write_bytes(b"a\tb\n1;2\t3\n")
    assert rows(tab) == [{"a": "1;2", "b": 3}]
    comma = tmp_path / "comma.csv"  # delimiters inside quotes do not count
    comma.write_bytes(b'q,a\n"x; y; z",1\n"p|q",2\n')
    assert rows(comma) == [{"q": "x; y; z", "a": 1}, {"q": "p|q", "a": 2}]
    single = tmp_path / "single.csv"
    single.write_bytes(b"text\nhello; world\n")
    assert rows(single) == [{"text": "hello; world"}]


def test_sniffing_a_file_longer_than_the_sample(tmp_path):
    from crucible_datasets.formats.csv import SNIFF_BYTES

    body = b"".join(b'%d;"long\ntext %d";%d\n' % (i, i, -i) for i in range(SNIFF_BYTES // 10))
    path = tmp_path / "big.csv"
    path.write_bytes(b"a;b;c\n" + body)
    got = rows(path)
    assert len(got) == SNIFF_BYTES // 10 and got[7] == {"a": 7, "b": "long\ntext 7", "c": -7}


def test_explicit_delimiter_wins_over_sniffing_and_tsv(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_bytes(b"a,b\n1\t2,3\n")
    assert rows(tsv, ReadOptions(delimiter=",")) == [{"a": "1\t2", "b": 3}]
    semi = tmp_path / "a.csv"
    semi.write_bytes(b"a;b\n1;2\n")
    assert rows(semi, ReadOptions(delimiter=",")) == [{"a;b": "1;2"}]


def test_quotechar(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b"a,b\n'x, y',\"2\"\n'it''s',3\n")
    assert rows(path, ReadOptions(quotechar="'")) == [{"a": "x, y", "b": '"2"'}, {"a": "it's", "b": "3"}]


def test_no_header_row_with_column_names(tmp_path):
    path = tmp_path / "nohead.csv"
    path.write_bytes(b"1;caf\xe9\n2;ok\n3;fine\n")
    options = ReadOptions(header=None, column_names=("n", "word"))
    errors = ErrorPolicy("skip")
    assert rows(path, options, errors) == [{"n": 2, "word": "ok"}, {"n": 3, "word": "fine"}]
    assert errors.bad == 1
    with pytest.raises(BadRecordError, match=r"nohead.csv, line 1: invalid UTF-8"):  # no header: line 1
        rows(path, options)
    projected = ReadOptions(header=None, column_names=("n", "word"), columns=("word",))
    assert rows(path, projected, ErrorPolicy("skip")) == [{"word": "ok"}, {"word": "fine"}]


def test_no_header_row_needs_column_names(tmp_path):
    path = tmp_path / "nohead.csv"
    path.write_bytes(b"1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=r"nohead.csv: header=None .* column_names=.* 3 fields of line 1"):
        rows(path, ReadOptions(header=None))


def test_column_names_replace_the_header(tmp_path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"x,x,\n1,a,\n2,b,\n")  # duplicate and empty names in the file
    options = ReadOptions(column_names=("id", "name", "extra"))
    assert rows(path, options) == [
        {"id": 1, "name": "a", "extra": None},
        {"id": 2, "name": "b", "extra": None},
    ]
    schema = pa.schema([("name", pa.string()), ("id", pa.int32())])
    batch = read(path, ReadOptions(column_names=("id", "name", "extra"), schema=schema))[0]
    assert batch.arrow.schema == schema and batch.rows[1] == {"name": "b", "id": 2}
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n3\n")
    with pytest.raises(BadRecordError, match="expected 2 fields, got 1"):
        rows(bad, ReadOptions(column_names=("p", "q")))


def test_column_names_of_the_wrong_length(tmp_path):
    path = tmp_path / "w.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n")
    with pytest.raises(ValueError, match=r"w.csv, line 1: column_names= gives 2 names \(p, q\) but the "
                       r"header row has 3 fields \('a', 'b', 'c'\)"):
        rows(path, ReadOptions(column_names=("p", "q")))
    with pytest.raises(ValueError, match=r"w.csv, line 1: .* 4 names .* the first row has 3 fields"):
        rows(path, ReadOptions(header=None, column_names=("p", "q", "r", "s")))


def test_quoted_empty_is_an_empty_string_unquoted_empty_is_null(tmp_path):
    path = tmp_path / "e.csv"
    path.write_bytes(b'id,s,n,all_quoted,nothing\n1,"",5,"",\n"",,"",,\n"3","x","7","",\n')
    got = read(path)[0]
    assert got.rows == [
        {"id": 1, "s": "", "n": 5, "all_quoted": "", "nothing": None},
        {"id": None, "s": None, "n": None, "all_quoted": None, "nothing": None},
        {"id": 3, "s": "x", "n": 7, "all_quoted": "", "nothing": None},
    ]
    assert [f.type for f in got.arrow.schema] == [pa.int64(), pa.string(), pa.int64(), pa.string(), pa.null()]
    schema = pa.schema([("id", pa.int64()), ("s", pa.string()), ("n", pa.float64())])
    typed = read(path, ReadOptions(schema=schema, columns=("id", "s", "n")))[0]
    assert typed.rows[:2] == [{"id": 1, "s": "", "n": 5.0}, {"id": None, "s": None, "n": None}]
    # a later block of only quoted empty fields keeps the column's number type; "" stays "" in text
    late = tmp_path / "late.csv"
    late.write_bytes(b"a,t\n" + b"".join(b"%d,x\n" % i for i in range(BLOCK_BYTES // 4)) + b'"",""\n' * 3)
    batches = read(late, ReadOptions(batch_rows=10**7))
    assert len(batches) > 1 and {b.arrow.schema.field("a").type for b in batches} == {pa.int64()}
    assert [r for b in batches for r in b.rows][-3:] == [{"a": None, "t": ""}] * 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delimiter": "::"}, "delimiter must be one character"),
        ({"delimiter": "\n"}, "delimiter must be one character"),
        ({"quotechar": ""}, "quotechar must be one character"),
        ({"delimiter": "'", "quotechar": "'"}, "delimiter and quotechar must differ"),
        ({"header": 1}, "header must be 0 .* or None"),
        ({"header": True}, "header must be 0 .* or None"),
        ({"column_names": "ab"}, "column_names must be a list of strings"),
        ({"column_names": ("a", "b", "a")}, r"column_names must name each column once.*repeated: a"),
    ],
)
def test_bad_dialect_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ReadOptions(**kwargs)


def test_error_policy_on_a_sniffed_semicolon_file(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a;b\n1;2\n3\n4;5;6\n7;8\n")
    skip = ErrorPolicy("skip")
    assert rows(path, errors=skip) == [{"a": 1, "b": 2}, {"a": 7, "b": 8}]
    assert skip.bad == 2
    with pytest.raises(BadRecordError, match=r"ragged.csv: expected 2 fields, got 1"):
        rows(path)
    letters = ErrorPolicy("dead_letter", str(tmp_path / "errors"))
    assert len(rows(path, errors=letters)) == 2
    letters.close()
    dead = [orjson.loads(x) for f in (tmp_path / "errors").iterdir() for x in f.read_bytes().splitlines()]
    assert [(d["file"], d["raw"]) for d in dead] == [(str(path), "3"), (str(path), "4;5;6")]


def test_a_header_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"caf\xe9,b\n1,2\n")
    with pytest.raises(DataFileError, match=r"latin1.csv .* line 1 \(the header row\) is not UTF-8"):
        rows(path)
