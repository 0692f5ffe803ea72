"""The exceptions this package raises on purpose; this module imports nothing from the package.

What a bad record is and the ``on_error`` policy applied to it live in
:mod:`crucible_datasets.bad_records`; remote and layout errors subclass :class:`CrucibleError`
beside the code that raises them.

>>> issubclass(DataFileError, OSError), issubclass(BadRecordError, ValueError)
(True, True)
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any


class CrucibleError(Exception):
    """Base of the errors this package raises on purpose."""


class DataFileError(CrucibleError, OSError):
    """A data file cannot be read at all (missing, truncated, corrupt): names the file."""


class OutputEscapeError(CrucibleError, OSError):
    """A path a write would delete or overwrite resolves outside the output folder (a symlink):
    refused before anything is touched; names the path, where it leads and the output."""


class NoGoodRowsError(CrucibleError, ValueError):
    """Every row a write read was bad: its output is not replaced by an empty split unless
    ``allow_empty=True`` (``--allow-empty``) says so."""


class BadRecordBudgetError(CrucibleError, ValueError):
    """A write read more bad records than its ``max_bad_records=`` / ``max_bad_fraction=`` allow:
    nothing was published (the previous output is as it was). The message names the budget, the
    counts, the files with the most bad records and where this run's dead letters were kept.

    ``worst`` is ``[(file, bad records), ...]``, most first; ``kept_at`` the dead letters' folder
    (None when none were written)."""

    def __init__(self, message: str, *, worst: Sequence[tuple[str, int]] = (), kept_at: str | None = None):
        super().__init__(message)
        self.worst = list(worst)
        self.kept_at = kept_at


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


class UserFunctionError(CrucibleError):
    """A stage's code (a user's ``map``/``filter``/``flat_map``/``map_batches`` function or
    :class:`~crucible_datasets.transforms.base.Stage`) raised: the message names the stage, the
    function, the file being read and how many rows had entered the stage; the original
    exception is ``__cause__`` (and ``original``). Made by :func:`user_function_error`, the
    error is also an instance of the original's type (``except KeyError`` still catches it).
    It pickles (a Beam worker's error reaches the driver), keeping the original when that pickles.
    """

    original: BaseException | None = None

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple:
        original = self.original
        try:
            pickle.dumps(original)
        except Exception:  # noqa: BLE001 - an unpicklable original: the message still names it
            original = None
        return _rebuild_user_error, (str(self), original)


_MIXED: dict[type, type] = {}


def _error_class(original: BaseException) -> type[UserFunctionError]:
    """``UserFunctionError`` that is also ``type(original)`` when Python allows the mix."""
    cls = type(original)
    if not isinstance(original, Exception) or isinstance(original, UserFunctionError):
        return UserFunctionError
    if cls not in _MIXED:
        try:
            _MIXED[cls] = type(f"UserFunctionError[{cls.__name__}]", (UserFunctionError, cls), {})
        except TypeError:  # a type that cannot be subclassed or mixed
            _MIXED[cls] = UserFunctionError
    return _MIXED[cls]


def _rebuild_user_error(message: str, original: BaseException | None) -> UserFunctionError:
    cls = _error_class(original) if original is not None else UserFunctionError
    exc = cls.__new__(cls)
    exc.args = (message,)
    exc.original = original
    exc.__cause__ = original
    return exc


def user_function_error(
    stage: str, where: str | None, rows_in: int, original: BaseException
) -> UserFunctionError:
    """The :class:`UserFunctionError` for ``original``, raised by ``stage`` while reading ``where``
    after ``rows_in`` rows had entered the stage; raise it ``from original``.

    >>> err = user_function_error("map function parse (stage RowMap)", "a.jsonl", 3, KeyError("q"))
    >>> isinstance(err, KeyError), str(err)  # doctest: +ELLIPSIS
    (True, "map function parse (stage RowMap) raised KeyError: 'q' (reading a.jsonl; 3 rows had entered ...)")
    """
    reading = f"reading {where}; " if where else ""
    rows = f"{rows_in} rows had entered the stage"
    message = f"{stage} raised {type(original).__name__}: {original} ({reading}{rows})"
    return _rebuild_user_error(message, original)
