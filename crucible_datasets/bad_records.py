"""Bad input: what a bad record is, and the three ways to treat one.

Every read takes ``on_error``:

- ``"raise"`` (default): :class:`~crucible_datasets.errors.BadRecordError`, naming the file,
  line, byte offset and reason;
- ``"skip"``: the record is counted and dropped;
- ``"dead_letter"``: the record is counted and written as one JSON line
  (``file, line, offset, reason, raw``) to a file under ``errors_path``
  (see :mod:`crucible_datasets.sinks.dead_letters`).

>>> policy = ErrorPolicy("skip")
>>> policy.handle(BadRecord("a.jsonl", 3, 17, "not valid JSON", b"{oops"))
>>> policy.bad, policy.bad_by_file
(1, {'a.jsonl': 1})

A :class:`BadBudget` (``max_bad_records=``, ``max_bad_fraction=``) bounds how many bad records a
write may skip or dead-letter: past it the write fails and publishes nothing
(``runners.base.check_bad_budget``).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from numbers import Real
from typing import TYPE_CHECKING

from crucible_datasets.errors import BadRecordError

if TYPE_CHECKING:
    from crucible_datasets.sinks.dead_letters import DeadLetterFile

ON_ERROR_CHOICES = ("raise", "skip", "dead_letter")
RAW_SNIPPET_BYTES = 512


@dataclass(frozen=True)
class BadRecord:
    """One record that could not be read. ``line`` is 1-based; ``offset`` is a byte offset.

    For formats without lines (Parquet) ``line`` is the row number in the file.

    >>> BadRecord("a.jsonl", 3, 17, "not valid JSON").describe()
    'a.jsonl, line 3, byte offset 17: not valid JSON'
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


def check_on_error(on_error: str) -> str:
    """``on_error`` if it is one of :data:`ON_ERROR_CHOICES`, else ValueError.

    >>> check_on_error("skip")
    'skip'
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR_CHOICES)}")
    return on_error


class ErrorPolicy:
    """Applies ``on_error`` to bad records and counts them.

    Dead letters go to ``{errors_path}/errors-{unique}.jsonl``: one file per policy object, so
    parallel readers (Beam workers, several processes) never write to the same file. The policy
    pickles without its open file (a Beam worker opens its own).
    """

    def __init__(self, on_error: str = "raise", errors_path: str | None = None) -> None:
        self.on_error = check_on_error(on_error)
        if on_error == "dead_letter" and not errors_path:
            raise ValueError("on_error='dead_letter' needs errors_path= (a folder for the bad records)")
        self.errors_path = errors_path
        self.bad = 0
        self.bad_by_file: dict[str, int] = {}  # of ``bad``, per input file
        self._file: DeadLetterFile | None = None
        self._lock = threading.Lock()

    def handle(self, record: BadRecord) -> None:
        if self.on_error == "raise":
            raise BadRecordError(record)
        with self._lock:
            self.bad += 1
            self.bad_by_file[record.file] = self.bad_by_file.get(record.file, 0) + 1
            if self.on_error == "dead_letter":
                self._write(record)

    def _write(self, record: BadRecord) -> None:
        if self._file is None:
            # Imported here: the writer sits beside the sinks, which import the formats, which import this.
            from crucible_datasets.sinks.dead_letters import DeadLetterFile

            self._file = DeadLetterFile(self.errors_path)
        self._file.write(record.to_json())

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


@dataclass(frozen=True)
class BadBudget:
    """How many bad records a write may skip or dead-letter and still publish.

    ``max_records=N`` (an int >= 0): more than N bad records fail the write;
    ``max_fraction=f`` (0 <= f < 1): more than ``f`` of the rows read (bad ones included) fail it.
    Either or both; under ``on_error="raise"`` the first bad record already stops the read.

    >>> budget = BadBudget(max_records=2, max_fraction=0.1)
    >>> budget.exceeded(bad=2, read=100) is None
    True
    >>> budget.exceeded(bad=3, read=100)
    'max_bad_records=2'
    >>> BadBudget(max_fraction=0.1).exceeded(bad=2, read=10)
    'max_bad_fraction=0.1 (at most 1 of 10 rows read)'
    """

    max_records: int | None = None
    max_fraction: float | None = None

    def __post_init__(self) -> None:
        n, f = self.max_records, self.max_fraction
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"max_bad_records must be a whole number >= 0 or None, got {n!r}")
        if f is not None and (isinstance(f, bool) or not isinstance(f, Real) or not 0 <= f < 1):
            raise ValueError(f"max_bad_fraction must be a number with 0 <= f < 1 or None, got {f!r}")

    @property
    def limited(self) -> bool:
        return self.max_records is not None or self.max_fraction is not None

    def exceeded(self, bad: int, read: int) -> str | None:
        """The budget that ``bad`` bad records of ``read`` rows read (bad included) exceed, or None."""
        if self.max_records is not None and bad > self.max_records:
            return f"max_bad_records={self.max_records}"
        if self.max_fraction is not None and read and bad / read > self.max_fraction:
            allowed = int(self.max_fraction * read)
            if (allowed + 1) / read <= self.max_fraction:  # float rounding of the product
                allowed += 1
            return f"max_bad_fraction={self.max_fraction:g} (at most {allowed:,} of {read:,} rows read)"
        return None
