"""JSON Lines parsed straight to Arrow, block by block, giving what the row path would give.

The JSON Lines reader (``jsonl.py``) takes this path when every stage after it is declarative
(``ReadOptions.declarative``): a block of whole lines (:data:`BLOCK_BYTES`) is parsed by
pyarrow's JSON reader with an explicit schema, with no Python object per row, one block ahead
on a background thread (:class:`BlocksAhead`). A block is accepted only when it parses to
exactly the rows the row path (``orjson`` per line) would give; otherwise :func:`parse_block`
returns None and the reader reads that block line by line, so bad records, their line numbers,
dead letters and counts stay those of the row path. It is refused when:

- pyarrow fails: a line that is not JSON or not an object, a value that does not fit the
  schema's type (the types drifted: the schema is widened from the row path's batches for the
  next blocks, :func:`widen`), a key the schema does not have, a duplicate key;
- the block is not valid UTF-8 (pyarrow does not check);
- it gives another number of rows than the block has non-blank lines (two objects on a line),
  or a line does not start with ``{`` (pyarrow reads ``null`` as a row of nulls);
- a float is NaN or infinite (pyarrow accepts the ``NaN``/``Infinity`` literals, JSON does not);
- ``strict`` (an inferred schema): a field of an object below a column is null, for the row
  path makes a column JSON text when an object lacks a key, and Arrow cannot tell a missing
  key from a null.

Types Arrow parses differently from the row path (timestamps, dates, binary, decimals...) or
that it cannot hold (JSON-text columns) are never parsed here (:func:`arrow_readable`).

>>> schema = pa.schema([("a", pa.int64()), ("b", pa.string())])
>>> parse_block(b'{"a": 1, "b": "x"}\\n\\n{"a": 2}\\r\\n', schema, strict=True).to_pylist()
[{'a': 1, 'b': 'x'}, {'a': 2, 'b': None}]
>>> refused = (b'{"a": "1"}\\n', b'{"a": 1} {"a": 2}\\n', b'{"a": NaN}\\n', b'null\\n')
>>> [parse_block(b, schema, strict=True) for b in refused]
[None, None, None, None]
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from crucible_datasets import schema as schemas
from crucible_datasets.formats._ahead import OneAhead

if TYPE_CHECKING:  # numpy is imported where a block is split: importing the package does not load it
    import numpy as np

# Bytes of whole lines parsed at once. pyarrow splits a block into chunks of PARSE_CHUNK_BYTES
# for its threads (a line longer than that takes the row path).
BLOCK_BYTES = 16 << 20
PARSE_CHUNK_BYTES = 4 << 20
# Bytes at the start of a part read by the row path to infer the schema of the blocks after it.
SAMPLE_BYTES = 1 << 20

_PARSE_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
_OPEN_BRACE = ord("{")


def arrow_readable(schema: pa.Schema | None) -> bool:
    """True when the blocks may be parsed with ``schema`` (None: inferred): no partial schema,
    and only types pyarrow parses as the row path does.

    >>> arrow_readable(pa.schema([("a", pa.list_(pa.struct([("b", pa.int32())])))]))
    True
    >>> arrow_readable(pa.schema([("t", pa.timestamp("s"))])), arrow_readable(None)
    (False, True)
    """
    if schema is None:
        return True
    if schemas.is_partial(schema):
        return False
    return all(not schemas.is_json_text(f) and _readable_type(f.type) for f in schema)


def _readable_type(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _readable_type(t.value_type)
    if pa.types.is_struct(t):
        return all(not schemas.is_json_text(f) and _readable_type(f.type) for f in t)
    return (
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_float32(t)
        or pa.types.is_float64(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
    )


def widen(schema: pa.Schema | None, seen: Sequence[pa.Schema]) -> pa.Schema | None:
    """``schema`` unified with the schemas of batches the row path made; None when the result
    cannot be parsed straight to Arrow (a JSON-text column: its types conflict)."""
    unified = schemas.unify([s for s in (schema, *seen) if s is not None])
    if not unified.names or not arrow_readable(unified):
        return None
    return unified


def next_block(buf: io.BufferedIOBase, size: int) -> bytes:
    """About ``size`` bytes of ``buf``, up to the end of a line (b"" at the end)."""
    block = buf.read(size)
    if block and not block.endswith(b"\n"):
        block += buf.readline()
    return block


class BlocksAhead:
    """The blocks of ``buf`` (:func:`next_block`) parsed with :attr:`schema`, each read and parsed on
    a read-ahead thread (:class:`~crucible_datasets.formats._ahead.OneAhead`) while the caller works on
    the one before (pyarrow's parser, DuckDB and the Parquet writer release the GIL, so the two
    overlap on two cores). At most one block is ahead.

    Iterating gives ``(block, lines, table)``: the block's bytes, its line count and its rows
    (None: the block must take the row path, or :attr:`schema` is None). Between blocks the
    caller may :meth:`widen` the schema: a block read ahead with the narrower one is parsed
    again. Use as a context manager: leaving waits for the block ahead, so ``buf`` may be closed.

    >>> buf = io.BytesIO(b'{"a": 1}\\n{"a": "x"}\\n')
    >>> with BlocksAhead(buf, pa.schema([("a", pa.int64())]), strict=False, size=4) as blocks:
    ...     [(block, lines, table and table.to_pylist()) for block, lines, table in blocks]
    [(b'{"a": 1}\\n', 1, [{'a': 1}]), (b'{"a": "x"}\\n', 1, None)]
    """

    def __init__(self, buf: io.BufferedIOBase, schema: pa.Schema | None, strict: bool, size: int) -> None:
        self.schema = schema
        self._buf = buf
        self._strict = strict
        self._size = size
        self._blocks = OneAhead(self._read)

    def _read(self) -> tuple[bytes, int, pa.Schema | None, pa.Table | None] | None:
        block = next_block(self._buf, self._size)
        if not block:
            return None
        schema, starts = self.schema, line_starts(block)
        table = None if schema is None else parse_block(block, schema, self._strict, starts)
        return block, len(starts), schema, table

    def __iter__(self) -> Iterator[tuple[bytes, int, pa.Table | None]]:
        for block, lines, schema, table in self._blocks:
            if schema is not self.schema:  # widened meanwhile: parse it as the caller now asks
                table = None if self.schema is None else parse_block(block, self.schema, self._strict)
            yield block, lines, table

    def widen(self, seen: Sequence[pa.Schema]) -> None:
        """Parse the next blocks with the schema unified with ``seen`` (:func:`widen`; None: by rows)."""
        wider = widen(self.schema, seen)
        if wider is None or self.schema is None or not wider.equals(self.schema, check_metadata=True):
            self.schema = wider

    def __enter__(self) -> BlocksAhead:
        return self

    def __exit__(self, *exc_info) -> None:
        self._blocks.__exit__(*exc_info)


def line_starts(block: bytes) -> np.ndarray:
    """The offset of each line's first byte in ``block`` (a last line without ``\\n`` counts).

    >>> line_starts(b'{"a": 1}\\n\\n{"a": 2}').tolist()
    [0, 9, 10]
    """
    import numpy as np

    data = np.frombuffer(block, np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(data == 10) + 1))
    return starts[starts < len(data)]


def _object_lines(block: bytes, starts: np.ndarray) -> int | None:
    """The non-blank lines of ``block``; None when one of them does not start with ``{`` (pyarrow
    takes a ``null`` line for a row of nulls, the row path calls it a bad record)."""
    import numpy as np

    if (np.frombuffer(block, np.uint8)[starts] == _OPEN_BRACE).all():
        return len(starts)
    count = 0
    for text in block.split(b"\n"):
        text = text.strip()
        if text and not text.startswith(b"{"):
            return None
        count += bool(text)
    return count


def parse_block(
    block: bytes, schema: pa.Schema, strict: bool, starts: np.ndarray | None = None
) -> pa.Table | None:
    """The rows of ``block`` parsed with ``schema``; None when they might differ from the row
    path's (module doc; ``strict``: the schema was inferred; ``starts``: its :func:`line_starts`)."""
    # First: pyarrow 25 crashes on a `null` line with some schemas.
    objects = _object_lines(block, line_starts(block) if starts is None else starts)
    if objects is None:
        return None
    data = pa.py_buffer(block)
    offsets = pa.array([0, len(block)], pa.int64()).buffers()[1]
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, data]).validate(full=True)
        table = pj.read_json(
            pa.BufferReader(data),
            read_options=pj.ReadOptions(block_size=PARSE_CHUNK_BYTES, use_threads=True),
            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
        )
    except _PARSE_ERRORS:
        return None
    if table.num_rows != objects:
        return None
    for column in table.columns:
        if not _same_as_rows(column.type, column.chunks, strict, top=True):
            return None
    return table


def _same_as_rows(t: pa.DataType, arrays: Sequence[pa.Array], strict: bool, top: bool = False) -> bool:
    """False when a float in ``arrays`` is not finite, or (``strict``) a struct field is null."""
    if not top and strict and any(a.null_count for a in arrays):
        return False
    if pa.types.is_floating(t):
        return all(pc.all(pc.is_finite(a)).as_py() is not False for a in arrays)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _same_as_rows(t.value_type, [a.flatten() for a in arrays], strict, top=True)
    if pa.types.is_struct(t):
        return all(
            _same_as_rows(t.field(i).type, [a.field(i) for a in arrays], strict) for i in range(t.num_fields)
        )
    return True
