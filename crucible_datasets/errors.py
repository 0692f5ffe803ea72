"""The exceptions this package raises on purpose; this module imports nothing from the package.

What a bad record is and the ``on_error`` policy applied to it live in
:mod:`crucible_datasets.bad_records`; remote and layout errors subclass :class:`CrucibleError`
beside the code that raises them.

>>> issubclass(DataFileError, OSError), issubclass(BadRecordError, ValueError)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


class BadRecordError(CrucibleError, ValueError):
    """Raised for a bad record under ``on_error="raise"``.

    ``record`` is a :class:`crucible_datasets.bad_records.BadRecord` (anything with ``describe()``).
    """

    def __init__(self, record: Any) -> None:
        super().__init__(
            f"bad record in {record.describe()} "
            "(pass on_error='skip' or on_error='dead_letter' to read past bad records)"
        )
        self.record = record
