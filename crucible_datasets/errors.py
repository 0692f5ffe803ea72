"""Bad input: what a bad record is, and the three ways to treat one.

Every read takes ``on_error``:

- ``"raise"`` (default): :class:`BadRecordError`, naming the file, line, byte offset and reason;
- ``"skip"``: the record is counted and dropped;
- ``"dead_letter"``: the record is counted and written as one JSON line
  (``file, line, offset, reason, raw``) to a file under ``errors_path``.

>>> policy = ErrorPolicy("skip")
>>> policy.handle(BadRecord("a.jsonl", 3, 17, "not valid JSON", b"{oops"))
>>> policy.bad
1
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import orjson

ON_ERROR_CHOICES = ("raise", "skip", "dead_letter")
RAW_SNIPPET_BYTES = 512


class CrucibleError(Exception):
    """Base of the errors this package raises on purpose."""


class DataFileError(CrucibleError, OSError):
    """A data file cannot be read at all (missing, truncated, corrupt): names the file."""


class ColumnNotFoundError(CrucibleError, ValueError):
    """An operation names a column the data does not have, or renames onto one it has.

    The message names the operation, the column(s), where the data came from (the reader fills
    in the file(s), see :meth:`with_source`) and the columns that exist. It is rebuilt from
    ``args`` and ``__dict__`` alone, so it survives a Beam worker's pickling unchanged.
    """

    def __init__(
        self,
        what: str,
        columns: Sequence[str],
        available: Sequence[str],
        *,
        at_end: bool = False,
        problem: str = "not found",
        hint: str = "",
    ) -> None:
        self.what = what
        self.columns = tuple(columns)
        self.available = tuple(available)
        self.at_end = at_end  # judged at the end of the stream (schemaless data), not on one batch
        self.problem = problem
        self.hint = hint
        self.source: str | None = None
        super().__init__(self._message())

    def __reduce__(self) -> tuple:
        return _new_error, (type(self), self.args), self.__dict__

    def with_source(self, source: str) -> ColumnNotFoundError:
        """This error, naming ``source`` (the file or files being read) as where it happened."""
        self.source = source
        self.args = (self._message(),)
        return self

    def _message(self) -> str:
        noun = "column" if len(self.columns) == 1 else "columns"
        where = f" in {self.source}" if self.source else ""
        named = ", ".join(map(repr, self.columns))
        exist = ", ".join(self.available) if self.available else "none"
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.what}: {noun} {named} {self.problem}{where}{hint}; available columns: {exist}"


def _new_error(cls: type[BaseException], args: tuple) -> BaseException:
    """Unpickle an error whose ``__init__`` takes other arguments than its ``args``."""
    exc = cls.__new__(cls)
    exc.args = args
    return exc


@dataclass(frozen=True)
class BadRecord:
    """One record that could not be read. ``line`` is 1-based; ``offset`` is a byte offset.

    For formats without lines (Parquet) ``line`` is the row number in the file.
    """

    file: str
    line: int | None
    offset: int | None
    reason: str
    raw: bytes | str = b""

    def describe(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return f"{', '.join(where)}: {self.reason}"

    def to_json(self) -> dict:
        record = asdict(self)
        raw = self.raw
        if isinstance(raw, bytes):
            raw = raw[:RAW_SNIPPET_BYTES].decode("utf-8", errors="replace")
        record["raw"] = raw[:RAW_SNIPPET_BYTES]
        return record


class BadRecordError(CrucibleError, ValueError):
    """Raised for a bad record under ``on_error="raise"``."""

    def __init__(self, record: BadRecord) -> None:
        super().__init__(
            f"bad record in {record.describe()} "
            "(pass on_error='skip' or on_error='dead_letter' to read past bad records)"
        )
        self.record = record


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR_CHOICES)}")
    return on_error


class ErrorPolicy:
    """Applies ``on_error`` to bad records and counts them.

    Dead letters go to ``{errors_path}/errors-{unique}.jsonl``: one file per policy object, so
    parallel readers (Beam workers, several processes) never write to the same file.
    """

    def __init__(self, on_error: str = "raise", errors_path: str | None = None) -> None:
        self.on_error = check_on_error(on_error)
        if on_error == "dead_letter" and not errors_path:
            raise ValueError("on_error='dead_letter' needs errors_path= (a folder for the bad records)")
        self.errors_path = errors_path
        self.bad = 0
        self._file = None
        self._lock = threading.Lock()

    def handle(self, record: BadRecord) -> None:
        if self.on_error == "raise":
            raise BadRecordError(record)
        with self._lock:
            self.bad += 1
            if self.on_error == "dead_letter":
                self._write(record)

    def _write(self, record: BadRecord) -> None:
        if self._file is None:
            from crucible_datasets.storage import filesystem  # it imports this module

            name = f"errors-{uuid.uuid4().hex[:16]}.jsonl"
            self._file = filesystem.open_output(filesystem.join(self.errors_path, name))
        self._file.write(orjson.dumps(record.to_json()) + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
