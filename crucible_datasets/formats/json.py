"""JSON documents: a top-level array of objects, or an object with the list under ``field``.

The document is parsed incrementally with ``ijson`` (its C ``yajl2`` backend when installed),
one record at a time, so a 1 GB array streams in bounded memory. ``options.field`` names the
list inside a top-level object (``"data"`` for ``{"version": 1, "data": [...]}``; a dotted
path like ``"data.rows"`` reaches deeper).

A ``.json`` file whose first non-blank byte is ``{`` read without ``field`` is JSON Lines and
is read by :class:`~crucible_datasets.formats.jsonl.JsonlFormat` (what Hugging Face
``datasets`` does). A JSON document is one part (a JSON Lines ``.json`` too: ``parts`` is not
told ``field``, so it cannot know which kind it is without reading).

A record that is not an object is a bad record whose ``line`` is its 1-based index in the
list. A syntax error ends the read with :class:`~crucible_datasets.errors.DataFileError`
(the rest of the document cannot be trusted), naming the file and about where it stopped.
So does a document nested deeper than ``MAX_DEPTH`` levels of arrays and objects (its own
included), at the byte offset where it goes deeper: ijson's memory and time grow with the
square of the depth (100,000 levels would take tens of gigabytes), so the bytes are measured
(:class:`_Nesting`, at the speed of ``bytes`` methods) before the parser gets them, and the
parser cannot skip the rest of that record. The bound is orjson's, so a JSON Lines file
accepts the same records (a deeper line there is a bad record).

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "a.json")
>>> with open(path, "wb") as f:
...     _ = f.write(b'{"version": 2, "data": [{"q": "1+1", "a": 2}, {"q": "2+2", "a": 4}]}')
>>> [b.rows for b in JsonFormat().read(FilePart(path), ReadOptions(field="data"), ErrorPolicy())]
[[{'q': '1+1', 'a': 2}, {'q': '2+2', 'a': 4}]]
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterator
from typing import BinaryIO

import ijson
import orjson

from crucible_datasets.bad_records import RAW_SNIPPET_BYTES, BadRecord, ErrorPolicy
from crucible_datasets.batch import Batch
from crucible_datasets.errors import DataFileError
from crucible_datasets.formats._common import json_type_name, rows_to_batch, target_schema
from crucible_datasets.formats._compressed import open_stream
from crucible_datasets.formats._lines import BOM
from crucible_datasets.formats.base import FilePart, Format, ReadOptions
from crucible_datasets.formats.jsonl import JsonlFormat

try:
    import ijson.backends.yajl2_c as _ijson
except ImportError:  # pragma: no cover - the pure-Python backend works too, only slower
    _ijson = ijson

BUF_BYTES = 256 * 1024
MAX_DEPTH = 1024  # levels of arrays and objects, the document's own included (orjson's bound)
_WHITESPACE = b" \t\r\n"
_JSON_ERRORS = (ijson.JSONError, ijson.IncompleteJSONError)


class JsonFormat(Format):
    """A JSON document (``.json``) holding a list of records; JSON Lines when it starts with ``{``."""

    name = "json"
    extensions = (".json",)
    split_unit = "whole"

    def read(self, part: FilePart, options: ReadOptions, errors: ErrorPolicy) -> Iterator[Batch]:
        """Every record of the document, in batches of at most ``options.batch_rows``."""
        if part.start != 0:
            raise ValueError(f"a JSON document is read whole; cannot start {part.path} at {part.start}")
        return _read(part.path, options, target_schema(options), errors)


def _read(path: str, options: ReadOptions, schema, errors: ErrorPolicy) -> Iterator[Batch]:
    document = _open_document(path)
    if document.head[:1] == b"{" and options.field is None:
        document.close()
        if document.head.split(b"\n", 1)[0].strip() == b"{":
            raise DataFileError(
                f"{path} holds one JSON object spread over several lines, not JSON Lines; "
                "pass field= to name its list of records"
            )
        yield from JsonlFormat().read(FilePart(path), options, errors)
    else:
        yield from _records(path, document, options, schema, errors)


def _open_document(path: str) -> _Counted:
    """The document from its first non-blank byte (a BOM dropped); ``head`` holds the first bytes."""
    stream = open_stream(path)
    try:
        skipped = 0
        while chunk := stream.read(BUF_BYTES):
            if skipped == 0 and chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
                skipped = len(BOM)
            head = chunk.lstrip(_WHITESPACE)
            skipped += len(chunk) - len(head)
            if head:
                return _Counted(stream, head, skipped, _Nesting(path))
        return _Counted(stream, b"", skipped, _Nesting(path))
    except BaseException:
        stream.close()
        raise


def _records(
    path: str, stream: _Counted, options: ReadOptions, schema, errors: ErrorPolicy
) -> Iterator[Batch]:
    with stream:
        first = stream.head[:1]
        if not first:
            return
        if first != b"[" and first != b"{":
            raise DataFileError(f"{path} is not a JSON array or object (it starts with {stream.head[:20]!r})")
        if first == b"[" and options.field is not None:
            raise DataFileError(
                f"{path} holds a top-level array, so field={options.field!r} does not apply; "
                "read it without field="
            )
        prefix = "item" if options.field is None else f"{options.field}.item"
        items = _ijson.items(stream, prefix, use_float=True, buf_size=BUF_BYTES)
        rows: list[dict] = []
        numbers: list[int] = []
        index = 0
        while True:
            try:
                item = next(items, _END)
            except _JSON_ERRORS as exc:
                done = f" (after {index} record{'' if index == 1 else 's'})"
                raise _syntax_error(path, stream, exc, done) from exc
            if item is _END:
                break
            index += 1
            if type(item) is not dict:
                reason = f"record {index} is not a JSON object (got {json_type_name(item)})"
                errors.handle(BadRecord(path, index, None, reason, _snippet(item)))
                continue
            rows.append(item)
            numbers.append(index)
            if len(rows) >= options.batch_rows:
                batch = _batch(path, rows, numbers, options, schema, errors)
                if batch is not None:
                    yield batch
                rows, numbers = [], []
        if rows:
            batch = _batch(path, rows, numbers, options, schema, errors)
            if batch is not None:
                yield batch
    if index == 0 and options.field is not None:
        _check_field(path, options.field)


_END = object()


def _snippet(item) -> bytes:
    """The start of a bad record as JSON (as Python's repr when nested past orjson's 255 levels)."""
    try:
        return orjson.dumps(item, default=str)[:RAW_SNIPPET_BYTES]
    except orjson.JSONEncodeError:
        return reprlib.repr(item).encode()[:RAW_SNIPPET_BYTES]


def _batch(path, rows, numbers, options, schema, errors) -> Batch | None:
    return rows_to_batch(rows, options, schema, errors, lambda i: (path, numbers[i], None))


def _syntax_error(path: str, stream: _Counted, exc: Exception, after: str) -> DataFileError:
    message = exc.args[0] if exc.args else b""
    if isinstance(message, str):
        message = message.encode("utf-8", "surrogateescape")
    lines = message.split(b"\n")
    what = lines[0].decode("utf-8", "replace").strip() or type(exc).__name__
    offset = _error_offset(lines, stream.last, stream.last_start, stream.offset)
    where = f"at byte offset {offset}" if offset is not None else f"near byte offset {stream.offset}"
    return DataFileError(f"{path} is not valid JSON {where}{after}: {what}")


def _error_offset(lines: list[bytes], chunk: bytes, chunk_start: int, end: int) -> int | None:
    """The offset of the byte a yajl error points at, from the context yajl prints, if unambiguous.

    yajl renders 30 bytes either side of the error (newlines as spaces), indented so the error
    byte sits above the ``^`` of the next line: 10 spaces, or ``40 - offset`` when the error is
    within 30 bytes of the start of the buffer it was parsing (the chunk last handed to it).
    """
    if len(lines) < 3 or not lines[2].rstrip().endswith(b"^"):
        return None
    context = lines[1]
    if not context.strip():  # an error at the end of the input (premature EOF)
        return end
    text = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    found = [
        o
        for o in range(min(30, len(text) + 1))
        if context == b" " * (40 - o) + text[: min(len(text), o + 30)]
    ]
    start = context[10:]
    at = text.find(start)
    while at >= 0 and len(found) < 2:
        if at + 30 <= len(text) and text[at : at + 60] == start:
            found.append(at + 30)
        at = text.find(start, at + 1)
    # yajl's offset counts the byte it stopped at; the error is that byte.
    return chunk_start + max(0, found[0] - 1) if len(found) == 1 else None


def _check_field(path: str, field: str) -> None:
    """No record came out under ``field``: fine for an empty list, else say what is there."""
    keys: list[str] = []
    with _open_document(path) as stream:
        try:
            for prefix, event, value in _ijson.parse(stream, buf_size=BUF_BYTES):
                if prefix == field:
                    if event == "start_array":
                        return
                    raise DataFileError(
                        f"{path}: field {field!r} holds {_event_kind(event)}, not a list of records"
                    )
                if prefix == "" and event == "map_key":
                    keys.append(value)
        except _JSON_ERRORS as exc:
            raise _syntax_error(path, stream, exc, "") from exc
    shown = ", ".join(repr(k) for k in keys[:20]) + (", ..." if len(keys) > 20 else "")
    raise DataFileError(f"{path} has no field {field!r} (its top-level keys: {shown or 'none'})")


def _event_kind(event: str) -> str:
    return {"start_map": "an object", "string": "a string", "number": "a number", "boolean": "a boolean"}.get(
        event, event
    )


_NOT_MARKS = bytes(range(256)).translate(None, b'"[]{}')  # every byte but quotes and brackets


class _Nesting:
    """How deeply the bytes fed so far nest; :class:`DataFileError` where they pass ``MAX_DEPTH``.

    Strings are told apart with ``bytes`` methods only: escaped backslashes and quotes removed,
    every byte but quotes and brackets dropped, then what is between quotes is inside a string.
    A chunk's trailing backslashes wait for the next chunk (they may escape its first byte).

    >>> n = _Nesting("a.json")
    >>> for chunk in (b'[{"a": "]]\\\\', b'"[", "b": [1, [2]]}, ', b"[[["):
    ...     n.feed(chunk, 0)
    >>> n.depth, n.in_string
    (4, False)
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.depth = 0
        self.in_string = False
        self._backslashes = b""

    def feed(self, data: bytes, offset: int) -> None:
        """Account for ``data``, the bytes of the document from byte ``offset`` on."""
        text = self._backslashes + data
        kept = text.rstrip(b"\\")
        self._backslashes = text[len(kept) :]
        plain = kept
        for escape in (b"\\\\", b'\\"'):  # in this order: the quote in \\" is not escaped
            if escape in plain:  # (the test is much faster than the replace)
                plain = plain.replace(escape, b"")
        marks = plain.translate(None, _NOT_MARKS)
        pieces = marks.split(b'"')
        outside = b"".join(pieces[1 if self.in_string else 0 :: 2])
        depth, in_string = self.depth, self.in_string
        self.in_string ^= len(pieces) % 2 == 0  # an odd number of quotes
        opens = outside.count(b"[") + outside.count(b"{")
        if depth + opens <= MAX_DEPTH:
            self.depth += opens - outside.count(b"]") - outside.count(b"}")
            return
        import numpy as np  # only for a deep document: importing the package does not load numpy

        step = np.zeros(256, np.int64)
        step[list(b"[{")] = 1
        step[list(b"]}")] = -1
        levels = depth + np.cumsum(step[np.frombuffer(outside, np.uint8)])
        if levels.max() > MAX_DEPTH:
            at = offset - len(text) + len(data) + _too_deep_at(kept, depth, in_string)
            raise DataFileError(
                f"{self.path} nests arrays and objects deeper than {MAX_DEPTH} levels at byte offset {at}; "
                "it is not read (a parser needs memory growing with the square of the depth)"
            )
        self.depth = int(levels[-1])


def _too_deep_at(text: bytes, depth: int, in_string: bool) -> int:
    """Where in ``text`` the nesting passes ``MAX_DEPTH`` (byte by byte: once, for the message)."""
    escaped = False
    for i, byte in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return i
        elif byte in b"]}":
            depth -= 1
    return len(text)


class _Counted:
    """A stream that first replays ``head`` (bytes already read); ``offset`` is where it is. Every
    byte it hands out is measured by ``nesting`` first."""

    def __init__(self, stream: BinaryIO, head: bytes, skipped: int, nesting: _Nesting) -> None:
        self._stream = stream
        self.nesting = nesting
        self.head = head
        self._pending = head
        self.offset = skipped  # byte offset in the (uncompressed) file of the next byte
        self.last = b""  # the bytes last handed out, which started at byte ``last_start``
        self.last_start = skipped

    def read(self, n: int = -1) -> bytes:
        if self._pending:
            out = self._pending if n < 0 else self._pending[:n]
            self._pending = self._pending[len(out) :]
        else:
            out = self._stream.read(n)
        if out:
            self.nesting.feed(out, self.offset)
            self.last, self.last_start = out, self.offset
        self.offset += len(out)
        return out

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _Counted:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
