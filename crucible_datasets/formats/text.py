"""Plain text (``.txt``): one row per line, per paragraph or per file, in the column ``text``.

The rules are those of Hugging Face ``datasets``' ``text`` builder. Line ends are universal
(``\\r\\n`` and a lone ``\\r`` count as ``\\n``, as Python's text mode reads them), then:

- ``sample_by="line"`` (default): each line is a row, empty lines too (as ``""``); a last line
  without a line end is a row; ``keep_linebreaks=True`` keeps each row's ``"\\n"``;
- ``sample_by="paragraph"``: the text split on ``"\\n\\n"``, empty pieces dropped (so a third
  blank line starts the next paragraph with ``"\\n"``, and the last one keeps its final
  ``"\\n"``, exactly as ``datasets`` does);
- ``sample_by="document"``: the whole file is one row (an empty file too, as ``""``).

By lines, an uncompressed file is split into newline-aligned byte ranges, the rule of
:mod:`~crucible_datasets.formats.jsonl` (a line belongs to the range its first byte is in); by
paragraph or document, and compressed, a file is read whole. A UTF-8 byte order mark at the
start of the file is dropped (``datasets`` keeps it as ``"\\ufeff"``). Text that is not UTF-8
is a bad record (the line, paragraph or file; ``line`` 1-based, ``offset`` its byte offset by
lines). A declared schema casts ``text`` (``{"text": "large_string"}``); rows that do not fit
are bad records.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
>>> with open(path, "wb") as f:
...     _ = f.write(b"one\\r\\ntwo\\n\\nthree\\nfour")
>>> fmt = TextFormat()
>>> [b.rows for p in fmt.parts(path, os.path.getsize(path), part_bytes=10)
...  for b in fmt.read(p, ReadOptions(), ErrorPolicy())]
[[{'text': 'one'}, {'text': 'two'}, {'text': ''}], [{'text': 'three'}, {'text': 'four'}]]
>>> [b.rows for b in fmt.read(FilePart(path), ReadOptions(sample_by="paragraph"), ErrorPolicy())]
[[{'text': 'one\\ntwo'}, {'text': 'three\\nfour'}]]
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import RAW_SNIPPET_BYTES, BadRecord, ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.formats._common import cast_batch, check_declared, target_schema, with_nulls

# The line-range machinery of JSON Lines (a part owns the lines that start in it).
from crucible_datasets.formats._lines import READ_BUFFER_BYTES, count_newlines, open_lines
from crucible_datasets.formats.base import FilePart, Format, ReadOptions
from crucible_datasets.formats.compression import compression_of

COLUMN = "text"
SCHEMA = pa.schema([pa.field(COLUMN, pa.string())])


class TextFormat(Format):
    """Plain text (``.txt``), optionally compressed: a row per line, paragraph or file."""

    name = "text"
    extensions = (".txt",)
    split_unit = "bytes"

    def split_unit_of(self, path: str, options: ReadOptions | None = None) -> str:
        """Bytes by lines of an uncompressed file; whole by paragraph or document.

        >>> fmt = TextFormat()
        >>> fmt.split_unit_of("a.txt"), fmt.split_unit_of("a.txt", ReadOptions(sample_by="document"))
        ('bytes', 'whole')
        """
        if options is not None and options.sample_by != "line":
            return "whole"
        return super().split_unit_of(path, options)

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """The rows of ``part`` in batches of at most ``options.batch_rows``."""
        if options.sample_by != "line" and part.start != 0:
            raise ValueError(
                f"a text file read with sample_by={options.sample_by!r} is read whole; "
                f"cannot start {part.path} at byte {part.start}"
            )
        schema = options.schema
        if schemas.is_partial(schema):  # casts ``text`` when it names it
            check_declared(part.path, SCHEMA, schema)
            schema = schemas.overlay(SCHEMA, schema)
        elif schema is not None:
            schema = target_schema(options)
        return _Reader(part, options, schema, errors).batches()

    def stored_schema(self, path: str) -> pa.Schema:
        """Always one string column, ``text`` (known without reading the file)."""
        return SCHEMA


class _Reader:
    """Reads one part: lines (``_lines``), paragraphs or the document (``_whole``)."""

    def __init__(self, part: FilePart, options: ReadOptions, schema: pa.Schema | None, errors) -> None:
        self.path = part.path
        self.part = part
        self.options = options
        self.schema = schema
        self.errors = errors
        self._lines_before: int | None = None

    def batches(self) -> Iterator[Batch]:
        stream, first = self._open()
        if stream is None:
            return
        with stream:
            if self.options.sample_by == "line":
                pieces = self._lines(stream, first)
            else:
                pieces = self._whole(stream, first)
            for texts in pieces:
                yield from self._batches(texts)

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> tuple[io.BufferedReader | None, int]:
        """A stream over exactly the lines the part owns (the whole file when compressed or
        read whole) and the byte offset it starts at; a BOM at the file's start skipped."""
        whole = compression_of(self.path) is not None or self.options.sample_by != "line"
        return open_lines(self.path, self.part, whole=whole)

    # -- the three ways to cut ---------------------------------------------------------------

    def _lines(self, stream: io.BufferedReader, first: int) -> Iterator[list[str]]:
        """The rows of the part, a block of whole lines at a time."""
        keep = self.options.keep_linebreaks
        size = min(READ_BUFFER_BYTES, self.options.batch_bytes)
        pending = b""
        offset = first  # the byte offset of ``pending``'s start
        index = 0  # "\n"-lines of the part before ``pending``
        block = stream.read(size)
        while block:
            after = stream.read(size)  # read ahead: the last block takes the unterminated last line
            data = pending + block
            cut = len(data) if not after else data.rfind(b"\n") + 1
            if cut:
                yield self._split_lines(data[:cut], offset, index, keep)
                index += data.count(b"\n", 0, cut)
                offset += cut
            pending = data[cut:]
            block = after

    def _split_lines(self, chunk: bytes, offset: int, index: int, keep: bool) -> list[str]:
        """The rows of ``chunk`` (whole ``\\n``-lines, the last maybe without one)."""
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError:
            text = self._decodable_lines(chunk, offset, index)
        pieces = _universal(text).split("\n")
        last = pieces.pop()  # the text after the last "\n": "" when the chunk ends with one
        if keep:
            pieces = [p + "\n" for p in pieces]
        if last:
            pieces.append(last)
        return pieces

    def _decodable_lines(self, chunk: bytes, offset: int, index: int) -> str:
        """``chunk`` decoded line by line; the lines that are not UTF-8 go to the error policy."""
        good = []
        at = offset
        number = index
        for line in _newline_lines(chunk):
            number += 1
            try:
                good.append(line.decode("utf-8"))
            except UnicodeDecodeError as bad:
                reason = f"invalid UTF-8 (byte 0x{line[bad.start]:02x} at column {bad.start + 1})"
                raw = line.rstrip(b"\r\n")[:RAW_SNIPPET_BYTES]
                self.errors.handle(BadRecord(self.path, self._line_number(number), at, reason, raw))
            at += len(line)
        return "".join(good)

    def _whole(self, stream: io.BufferedReader, first: int) -> Iterator[list[str]]:
        """Paragraphs (split on blank lines) or the whole document."""
        if self.options.sample_by == "document":
            data = _universal_bytes(stream.read())
            text = self._decode(data, 1)
            yield [text] if text is not None else []
            return
        buffer = b""
        line = 1  # the line the first paragraph in ``buffer`` starts on
        held = b""  # a "\r" at a block's end: "\r\n" or a lone "\r", told by the next block
        block = stream.read(READ_BUFFER_BYTES)
        while True:
            after = stream.read(READ_BUFFER_BYTES) if block else b""  # read ahead, as _lines
            data = held + block
            held = b""
            if after and data.endswith(b"\r"):
                data, held = data[:-1], b"\r"
            buffer += _universal_bytes(data)
            pieces = buffer.split(b"\n\n")
            buffer = pieces.pop() if after else b""
            rows = []
            for piece in pieces:
                if piece:
                    text = self._decode(piece, line)
                    if text is not None:
                        rows.append(text)
                line += piece.count(b"\n") + 2
            if rows:
                yield rows
            if not after:
                return
            block = after

    def _decode(self, data: bytes, line: int) -> str | None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as bad:
            where = line + data.count(b"\n", 0, bad.start)
            reason = f"invalid UTF-8 (byte 0x{data[bad.start]:02x} on line {where})"
            self.errors.handle(BadRecord(self.path, line, None, reason, data[:RAW_SNIPPET_BYTES]))
            return None

    # -- batches ---------------------------------------------------------------------------

    def _batches(self, texts: list[str]) -> Iterator[Batch]:
        step = self.options.batch_rows
        columns = self.options.columns
        for start in range(0, len(texts), step):
            batch = pa.record_batch([pa.array(texts[start : start + step], pa.string())], schema=SCHEMA)
            if self.schema is not None:
                batch = cast_batch(batch, self.schema, self.errors, lambda i: (self.path, None, None))
                if batch is None:
                    continue
            if columns is not None and list(batch.schema.names) != list(columns):
                batch = with_nulls(batch, columns)
            yield Batch.from_arrow(batch)

    def _line_number(self, index: int) -> int:
        if self._lines_before is None:
            self._lines_before = count_newlines(self.path, self.part.start)
        return self._lines_before + index


def _universal(text: str) -> str:
    """Universal newlines: ``\\r\\n`` and a lone ``\\r`` become ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _universal_bytes(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _newline_lines(chunk: bytes) -> list[bytes]:
    """``chunk`` cut after each ``\\n`` (the last piece maybe without one, never empty)."""
    lines = chunk.split(b"\n")
    last = lines.pop()
    out = [line + b"\n" for line in lines]
    if last:
        out.append(last)
    return out
