"""CSV and TSV: a header row, then records; streamed a block at a time with ``pyarrow.csv``.

A CSV file is always ONE part: a quoted field may contain newlines, so a reader dropped at an
arbitrary byte cannot tell whether it is inside a quoted field or at the start of a record.

Values come back typed: each column of each block is read as raw bytes and then converted to
the narrowest of int64, float64, bool and string that fits every value of the block (empty
fields are None). The choice only widens along the file (int -> float -> string), so a column
that holds numbers for a million rows and then text does not crash the read; the earlier
batches keep their numbers. A declared schema wins over inference: each column is cast to its
declared type and the records that do not fit are bad records.

Bad records: a record with the wrong number of fields (``line`` unknown, the record's text in
``raw``), a field that is not UTF-8, a value that does not fit the declared schema. For the
last two ``line`` is the record number counting the header as 1 and malformed records not at
all (the line number when no field holds a newline and every record is well formed).

The delimiter is ``options.delimiter``; left at its default ``","``, a ``.tsv`` file (also
``.tsv.gz``) is read with a tab.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
>>> with open(path, "wb") as f:
...     _ = f.write(b'id,text,score\\r\\n1,"a, ""quoted""\\nline",0.5\\r\\n2,,\\r\\n')
>>> [b.rows for b in CsvFormat().read(FilePart(path), ReadOptions(), ErrorPolicy())]
[[{'id': 1, 'text': 'a, "quoted"\\nline', 'score': 0.5}, {'id': 2, 'text': None, 'score': None}]]
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pyarrow as pa
from pyarrow import csv as pacsv

from crucible_datasets.batch import Batch
from crucible_datasets.errors import RAW_SNIPPET_BYTES, BadRecord, BadRecordError, DataFileError, ErrorPolicy
from crucible_datasets.formats._common import CAST_ERRORS, raw_of_row, target_schema
from crucible_datasets.formats._compressed import open_stream
from crucible_datasets.formats.base import FilePart, Format, ReadOptions, strip_compression

BLOCK_BYTES = 1 << 20

# Types tried, in order, for a column of one block, given the type chosen for earlier blocks.
_NEXT_TYPES: dict[pa.DataType | None, tuple[pa.DataType, ...]] = {
    None: (pa.int64(), pa.float64(), pa.bool_(), pa.string()),
    pa.int64(): (pa.int64(), pa.float64(), pa.string()),
    pa.float64(): (pa.float64(), pa.string()),
    pa.bool_(): (pa.bool_(), pa.string()),
    pa.string(): (pa.string(),),
}


class CsvFormat(Format):
    """CSV (``.csv``) and TSV (``.tsv``) with a header row; always one part per file."""

    name = "csv"
    extensions = (".csv", ".tsv")

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """Every record of the file, in batches of at most ``options.batch_rows``."""
        if part.start != 0:
            raise ValueError(f"a CSV file is read whole; cannot start {part.path} at {part.start}")
        return _read(part.path, options, target_schema(options), errors)


def delimiter_for(path: str, options: ReadOptions) -> str:
    """``options.delimiter``, except a tab for ``.tsv`` files when it is left at ``","``."""
    if options.delimiter == "," and os.path.splitext(strip_compression(path))[1].lower() == ".tsv":
        return "\t"
    return options.delimiter


def _read(path: str, options: ReadOptions, schema: pa.Schema | None, errors: ErrorPolicy) -> Iterator[Batch]:
    delimiter = delimiter_for(path, options)
    names = _header(path, delimiter)
    if names is None:
        return
    wanted = list(schema.names) if schema is not None else options.columns
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
                read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={n: pa.binary() for n in names},
                    null_values=[""],
                    strings_can_be_null=True,
                    include_columns=wanted,
                    include_missing_columns=True,
                ),
            ),
        )
        types: dict[str, pa.DataType | None] = {}
        record = 1  # records so far, counting the header
        while True:
            block = _guard(path, raised, lambda: _next(reader))
            if block is None:
                return
            first, record = record, record + block.num_rows
            block = _typed(block, schema, types, path, first, errors)
            for start in range(0, block.num_rows, options.batch_rows):
                yield Batch.from_arrow(block.slice(start, options.batch_rows))
    finally:
        stream.close()


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


def _header(path: str, delimiter: str) -> list[str] | None:
    """The column names, or None for an empty file."""
    with open_stream(path) as stream:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=lambda row: "skip"
                ),
            )
        except DataFileError:
            raise
        except (pa.ArrowException, OSError) as exc:
            if "Empty CSV file" in str(exc):
                return None
            raise DataFileError(f"cannot read {path} as CSV: {exc}") from exc
        return list(reader.schema.names)


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
        arrays = []
        for field, text, column in zip(schema, texts, block.columns, strict=True):
            target = field.type
            if pa.types.is_binary(target) or pa.types.is_large_binary(target):
                array, failed = _convert(column, target, "")
            else:
                array, failed = _convert(
                    text, target, f"does not fit the declared type {target} of {field.name!r}"
                )
            arrays.append(array)
            for i, reason in failed.items():
                bad.setdefault(i, reason)
        out_schema = schema
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
    """``text`` as the narrowest type that fits, never narrower than earlier blocks' choice."""
    if text.null_count == len(text) and pa.types.is_string(text.type):
        previous = types.get(name)
        return pa.nulls(len(text), previous if previous is not None else pa.null())
    if pa.types.is_null(text.type):  # a column asked for that the file does not have
        return text
    for target in _NEXT_TYPES[types.get(name)]:
        try:
            array = text.cast(target)
        except CAST_ERRORS:
            continue
        types[name] = target
        return array
    raise AssertionError("a string column always casts to string")
