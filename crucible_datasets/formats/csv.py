"""CSV and TSV: an optional header row, then records; streamed a block at a time with ``pyarrow.csv``.

A CSV file is always ONE part: a quoted field may contain newlines, so a reader dropped at an
arbitrary byte cannot tell whether it is inside a quoted field or at the start of a record.

Values come back typed: each column of each block is read as raw bytes and then converted to
the narrowest of int64, float64, bool and string that fits every value of the block. An
unquoted empty field is None; a quoted empty field (``""``) is the empty string ``""`` in a
string column and None in a number or bool column (as PostgreSQL's ``COPY ... CSV`` reads
them), so a file that quotes every field keeps its number columns. The choice only widens
along the file (int -> float -> string), so a column that holds numbers for a million rows
and then text does not crash the read; the earlier batches keep their numbers. A declared
schema wins over inference: each column is cast to its declared type and the records that do
not fit are bad records.

Bad records: a record with the wrong number of fields (``line`` unknown, the record's text in
``raw``), a field that is not UTF-8, a value that does not fit the declared schema. For the
last two ``line`` is the record number counting the header as 1 and malformed records not at
all (the line number when no field holds a newline and every record is well formed).

Dialect (:class:`ReadOptions`): ``delimiter`` (None: a tab for ``.tsv``/``.tsv.gz``, else
sniffed by :func:`sniff_delimiter` from the first 64 KiB), ``quotechar`` (``"``), ``header``
(0: the first row names the columns; None: there is no header row) and ``column_names``
(the names of the columns; with a header row they replace its names). ``header=None`` needs
``column_names``; a ``column_names`` whose length differs from the first row's is an error.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
>>> with open(path, "wb") as f:
...     _ = f.write(b'id;text;score\\r\\n1;"a; ""quoted""\\nline";0.5\\r\\n2;"";\\r\\n')
>>> [b.rows for b in CsvFormat().read(FilePart(path), ReadOptions(), ErrorPolicy())]
[[{'id': 1, 'text': 'a; "quoted"\\nline', 'score': 0.5}, {'id': 2, 'text': '', 'score': None}]]
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import RAW_SNIPPET_BYTES, BadRecord, ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats._common import CAST_ERRORS, raw_of_row, target_schema
from crucible_datasets.formats._compressed import open_stream
from crucible_datasets.formats.base import FilePart, Format, ReadOptions
from crucible_datasets.formats.compression import strip_compression

BLOCK_BYTES = 1 << 20
SNIFF_BYTES = 64 * 1024  # the start of a file that the delimiter is sniffed from
SNIFF_DELIMITERS = (",", ";", "\t", "|")  # in order of preference when they tie

# Types tried, in order, for a column of one block, given the type chosen for earlier blocks.
_NEXT_TYPES: dict[pa.DataType | None, tuple[pa.DataType, ...]] = {
    None: (pa.int64(), pa.float64(), pa.bool_(), pa.string()),
    pa.int64(): (pa.int64(), pa.float64(), pa.string()),
    pa.float64(): (pa.float64(), pa.string()),
    pa.bool_(): (pa.bool_(), pa.string()),
    pa.string(): (pa.string(),),
}


class CsvFormat(Format):
    """CSV (``.csv``) and TSV (``.tsv``); always one part per file."""

    name = "csv"
    extensions = (".csv", ".tsv")
    split_unit = "whole"

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """Every record of the file, in batches of at most ``options.batch_rows``."""
        if part.start != 0:
            raise ValueError(f"a CSV file is read whole; cannot start {part.path} at {part.start}")
        if schemas.is_partial(options.schema):  # casts the columns it names, infers the others
            return _read(part.path, options, schemas.narrow(options.schema, options.columns), errors)
        return _read(part.path, options, target_schema(options), errors)


def delimiter_for(path: str, options: ReadOptions) -> str:
    """``options.delimiter``; when None, a tab for ``.tsv`` files, else sniffed from the file's start."""
    if options.delimiter is not None:
        return options.delimiter
    if os.path.splitext(strip_compression(path))[1].lower() == ".tsv":
        return "\t"
    with open_stream(path) as stream:
        sample = _read_up_to(stream, SNIFF_BYTES)
    return sniff_delimiter(sample, options.quotechar, truncated=len(sample) == SNIFF_BYTES)


def sniff_delimiter(sample: bytes, quotechar: str = '"', truncated: bool = False) -> str:
    """The delimiter of the CSV text ``sample``: one of ``, ; tab |``, else ``","``.

    The rule is DuckDB's sniffer's, narrowed to four candidates: split the sample into records
    with each candidate (quotes respected) and keep the one whose first record has at least two
    fields and that the most records agree with in field count; more fields break a tie, then
    the order above. ``truncated``: the sample is a file's start, its last record may be cut.

    >>> sniff_delimiter(b'name;note\\nAda;"a, b; c"\\nBob;x,y\\n')
    ';'
    >>> sniff_delimiter(b"one column\\n1,5\\n")
    ','
    """
    if truncated:
        sample = sample[: sample.rfind(b"\n") + 1] or sample
    text = sample.decode("utf-8", errors="replace").removeprefix("\ufeff")
    best, best_score = ",", (0, 0)
    for delimiter in SNIFF_DELIMITERS:
        counts = []
        try:
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar):
                if record:
                    counts.append(len(record))
        except csv.Error:
            continue
        if truncated and len(counts) > 1:
            counts.pop()  # may end inside a quoted field
        if not counts or counts[0] < 2:
            continue
        score = (sum(c == counts[0] for c in counts), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _read_up_to(stream, n: int) -> bytes:
    chunks, size = [], 0
    while size < n:
        chunk = stream.read(n - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read(path: str, options: ReadOptions, schema: pa.Schema | None, errors: ErrorPolicy) -> Iterator[Batch]:
    delimiter = delimiter_for(path, options)
    first_row = _header(path, delimiter, options.quotechar, options.header)
    if first_row is None:
        return
    names = _column_names(path, options, first_row)
    # pyarrow's names: the header row's, or f0, f1, ... without one; renamed to ``names`` per block
    file_names = first_row if options.header == 0 else [f"f{i}" for i in range(len(first_row))]
    partial = schemas.is_partial(schema)
    if partial and (missing := [n for n in schema.names if n not in names]):
        raise DataFileError(
            f"{path}: the declared schema names columns {missing} that the file does not have "
            f"(its columns: {', '.join(names)})"
        )
    wanted = list(schema.names) if schema is not None and not partial else options.columns
    raised: list[BadRecordError] = []

    def on_invalid(row) -> str:
        reason = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        try:
            errors.handle(BadRecord(path, None, None, reason, row.text[:RAW_SNIPPET_BYTES]))
        except BadRecordError as exc:
            raised.append(exc)
            return "error"
        return "skip"

    stream = open_stream(path)
    try:
        reader = _guard(
            path,
            raised,
            lambda: pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    block_size=BLOCK_BYTES,
                    use_threads=False,
                    autogenerate_column_names=options.header is None,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    quote_char=options.quotechar,
                    newlines_in_values=True,
                    invalid_row_handler=on_invalid,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.binary() for n in file_names},
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,  # "" is an empty string, not null
                ),
            ),
        )
        types: dict[str, pa.DataType | None] = {}
        record = 1 if options.header == 0 else 0  # records so far, counting the header
        while True:
            block = _guard(path, raised, lambda: _next(reader))
            if block is None:
                return
            block = _project(pa.RecordBatch.from_arrays(block.columns, names=names), wanted)
            first, record = record, record + block.num_rows
            block = _typed(block, schema, types, path, first, errors)
            for start in range(0, block.num_rows, options.batch_rows):
                yield Batch.from_arrow(block.slice(start, options.batch_rows))
    finally:
        stream.close()


def _column_names(path: str, options: ReadOptions, first_row: list[str]) -> list[str]:
    """The names of the columns: ``options.column_names`` checked against the first row, or the header."""
    given = options.column_names
    shown = ", ".join(repr(v) for v in first_row[:20]) + (", ..." if len(first_row) > 20 else "")
    if given is None:
        if options.header is None:
            raise ValueError(
                f"{path}: header=None (no header row) needs column_names=[...], one name for each of "
                f"the {len(first_row)} fields of line 1 ({shown})"
            )
        return list(first_row)
    if len(given) != len(first_row):
        row = "the header row" if options.header == 0 else "the first row"
        raise ValueError(
            f"{path}, line 1: column_names= gives {len(given)} names ({', '.join(given)}) but {row} "
            f"has {len(first_row)} fields ({shown})"
        )
    return list(given)


def _project(block: pa.RecordBatch, wanted: list[str] | tuple[str, ...] | None) -> pa.RecordBatch:
    """``block`` narrowed to ``wanted`` (in that order); a column it lacks is all null."""
    if wanted is None:
        return block
    names = block.schema.names
    arrays = [
        block.column(names.index(w)) if w in names else pa.nulls(block.num_rows, pa.binary()) for w in wanted
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(wanted))


def _next(reader) -> pa.RecordBatch | None:
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None


def _guard(path: str, raised: list[BadRecordError], fn):
    try:
        return fn()
    except (DataFileError, BadRecordError):
        raise
    except (pa.ArrowException, OSError) as exc:
        if raised:
            raise raised[0] from None
        raise DataFileError(f"cannot read {path} as CSV: {exc}") from exc


def _header(path: str, delimiter: str, quotechar: str, header: int | None) -> list[str] | None:
    """The header row's names (with ``header=None``, the first row's field count as f0, f1, ...).

    None for an empty file.
    """
    with open_stream(path) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    block_size=BLOCK_BYTES, use_threads=False, autogenerate_column_names=header is None
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter,
                    quote_char=quotechar,
                    newlines_in_values=True,
                    invalid_row_handler=lambda row: "skip",
                ),
            )
        except DataFileError:
            raise
        except (pa.ArrowException, OSError) as exc:
            if "Empty CSV file" in str(exc):
                return None
            raise DataFileError(f"cannot read {path} as CSV: {exc}") from exc
        try:
            return list(reader.schema.names)
        except UnicodeDecodeError as exc:
            where = f"cannot read {path} as CSV: line 1 (the header row)"
            raise DataFileError(f"{where} is not UTF-8: {exc}") from exc


def _typed(
    block: pa.RecordBatch,
    schema: pa.Schema | None,
    types: dict[str, pa.DataType | None],
    path: str,
    first: int,
    errors: ErrorPolicy,
) -> pa.RecordBatch:
    """The raw-bytes ``block`` decoded and typed; bad records reported and dropped."""
    bad: dict[int, str] = {}
    texts = []
    for column in block.columns:
        text, failed = _convert(column, pa.string(), "invalid UTF-8")
        texts.append(text)
        for i, reason in failed.items():
            bad.setdefault(i, reason)
    if schema is not None:
        arrays, fields = [], []
        for name, text, column in zip(block.schema.names, texts, block.columns, strict=True):
            if schema.get_field_index(name) < 0:  # a partial declared schema leaves it to inference
                arrays.append(_infer(name, text, types))
                fields.append(pa.field(name, arrays[-1].type))
                continue
            field = schema.field(name)
            fields.append(field)
            target = field.type
            if pa.types.is_binary(target) or pa.types.is_large_binary(target):
                array, failed = _convert(column, target, "")
            else:
                source = text if _is_text(target) else _blanks_to_null(text)
                array, failed = _convert(
                    source, target, f"does not fit the declared type {target} of {field.name!r}"
                )
            arrays.append(array)
            for i, reason in failed.items():
                bad.setdefault(i, reason)
        out_schema = pa.schema(fields) if schemas.is_partial(schema) else schema
    else:
        arrays, fields = [], []
        for name, text in zip(block.schema.names, texts, strict=True):
            array = _infer(name, text, types)
            arrays.append(array)
            fields.append(pa.field(name, array.type))
        out_schema = pa.schema(fields)
    if bad:
        for i in sorted(bad):
            row = {
                name: _raw_value(col[i]) for name, col in zip(block.schema.names, block.columns, strict=True)
            }
            errors.handle(BadRecord(path, first + i + 1, None, bad[i], raw_of_row(row)))
        keep = pa.array([i not in bad for i in range(block.num_rows)])
        arrays = [a.filter(keep) for a in arrays]
    return pa.RecordBatch.from_arrays(arrays, schema=out_schema)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _blanks_to_null(text: pa.Array) -> pa.Array:
    """``text`` with its empty strings (quoted empty fields) as nulls: no number or bool is empty."""
    blanks = pc.equal(text, "")
    if not pc.any(blanks).as_py():
        return text
    return pc.if_else(blanks, pa.scalar(None, text.type), text)


def _raw_value(value: pa.Scalar) -> object:
    v = value.as_py()
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v


def _convert(array: pa.Array, target: pa.DataType, reason: str) -> tuple[pa.Array, dict[int, str]]:
    """``array`` cast to ``target``; values that cannot be cast become null and are returned."""
    if array.type.equals(target):
        return array, {}
    try:
        return array.cast(target), {}
    except CAST_ERRORS:
        pass
    failed: dict[int, str] = {}
    values = []
    for i in range(len(array)):
        try:
            values.append(array.slice(i, 1).cast(target))
        except CAST_ERRORS as exc:
            failed[i] = f"{reason}: {exc}" if reason else str(exc)
            values.append(pa.nulls(1, target))
    return pa.concat_arrays(values) if values else pa.array([], target), failed


def _infer(name: str, text: pa.Array, types: dict[str, pa.DataType | None]) -> pa.Array:
    """``text`` as the narrowest type that fits, never narrower than earlier blocks' choice.

    Quoted empty fields (``""``) are ignored in choosing a number or bool type, and are null in
    it; a column that holds nothing else is a string column.
    """
    previous = types.get(name)
    values = _blanks_to_null(text)
    if values.null_count == len(values):  # only nulls and quoted empty fields
        if values is text or (previous is not None and not _is_text(previous)):
            return pa.nulls(len(text), previous if previous is not None else pa.null())
        types[name] = pa.string()
        return text
    for target in _NEXT_TYPES[previous]:
        try:
            array = (text if _is_text(target) else values).cast(target)
        except CAST_ERRORS:
            continue
        types[name] = target
        return array
    raise AssertionError("a string column always casts to string")
