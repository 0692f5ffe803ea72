"""Output formats, as ``datasets``' ``with_format``: ``python``, ``numpy``, ``torch``, ``arrow``, ``pandas``.

Numeric and boolean columns, and lists of numbers of one length, become arrays (tensors for
``torch``: integers ``int64``, floats ``float32``); ragged lists become a list of arrays; strings
and other values stay Python objects. ``columns=`` keeps only those columns (``output_all_columns``
adds the others, unformatted). torch is imported only when the ``torch`` format is used.

>>> from crucible_datasets.batch import Batch
>>> b = Batch.from_rows([{"x": 1, "v": [1.0, 2.0], "s": "a"}, {"x": 2, "v": [3.0, 4.0], "s": "b"}])
>>> cols = format_batch(b, Formatting("numpy"))
>>> cols["x"].tolist(), cols["v"].shape, cols["s"]
([1, 2], (2, 2), ['a', 'b'])
>>> {k: type(v).__name__ for k, v in next(format_rows(b, Formatting("numpy", ("x",)))).items()}
{'x': 'int64'}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch

FORMAT_TYPES = ("python", "numpy", "torch", "arrow", "pandas")


@dataclass(frozen=True)
class Formatting:
    """A format type (None is ``python``) and the columns it applies to (None: all)."""

    type: str | None = None
    columns: tuple[str, ...] | None = None
    output_all_columns: bool = False

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in FORMAT_TYPES:
            raise ValueError(
                f"format type must be one of {', '.join(FORMAT_TYPES)} or None, got {self.type!r}"
            )
        if isinstance(self.columns, str):
            object.__setattr__(self, "columns", (self.columns,))
        elif self.columns is not None:
            object.__setattr__(self, "columns", tuple(self.columns))

    @property
    def plain(self) -> bool:
        return self.type in (None, "python") and self.columns is None


def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)


def _column(array: pa.Array, values: list | None) -> object:
    """One column as a numpy array, a list of arrays (ragged lists) or a list of Python values."""
    t = array.type
    if _numeric(t) and array.null_count == 0:
        return array.to_numpy(zero_copy_only=False)
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and _numeric(
        t.value_type
    ):
        if array.null_count == 0:
            import numpy as np  # numpy/torch formats only: importing the package does not load numpy

            lengths = np.diff(array.offsets.to_numpy()) if not pa.types.is_fixed_size_list(t) else None
            flat = array.flatten().to_numpy(zero_copy_only=False)
            if lengths is None or (len(lengths) and (lengths == lengths[0]).all()):
                width = t.list_size if lengths is None else int(lengths[0])
                return flat.reshape(len(array), width)
            ends = np.cumsum(lengths)[:-1]
            return np.split(flat, ends)
    return values if values is not None else schemas.to_pylist(pa.record_batch([array], names=["c"]))


def _names(batch: Batch, fmt: Formatting) -> list[str]:
    names = list(batch.column_names)
    if fmt.columns is None:
        return names
    missing = [c for c in fmt.columns if c not in names]
    if missing:
        raise ValueError(
            f"format columns {missing} not in the dataset; available columns: {', '.join(names)}"
        )
    return list(fmt.columns)


def _torch(value: object) -> object:
    import numpy as np
    import torch

    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(value if value.flags.writeable else value.copy())
        return tensor.float() if tensor.is_floating_point() and tensor.dtype != torch.float32 else tensor
    if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
        return [_torch(v) for v in value]
    return value


def _arrays(batch: Batch, fmt: Formatting) -> dict[str, object]:
    arrow, names = batch.arrow, _names(batch, fmt)
    rows = None
    out = {}
    for name in names:
        array = arrow.column(name)
        values = None
        if not (
            _numeric(array.type) or pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type)
        ):
            rows = rows if rows is not None else batch.rows
            values = [r.get(name) for r in rows]
        col = _column(array, values)
        out[name] = _torch(col) if fmt.type == "torch" else col
    return out


def _others(batch: Batch, fmt: Formatting) -> dict[str, list]:
    if not fmt.output_all_columns or fmt.columns is None:
        return {}
    rows = batch.rows
    return {n: [r.get(n) for r in rows] for n in batch.column_names if n not in fmt.columns}


def format_batch(batch: Batch, fmt: Formatting) -> object:
    """A batch as the format's batch: a dict of lists/arrays/tensors, a ``pa.Table`` or a DataFrame."""
    if fmt.type == "arrow" or fmt.type == "pandas":
        table = pa.Table.from_batches([batch.arrow])
        if fmt.columns is not None and not fmt.output_all_columns:
            table = table.select(_names(batch, fmt))
        return table if fmt.type == "arrow" else table.to_pandas()
    if fmt.type in (None, "python"):
        rows, names = (
            batch.rows,
            _names(batch, fmt) if fmt.columns is not None else schemas.column_names(batch.rows),
        )
        return {**{n: [r.get(n) for r in rows] for n in names}, **_others(batch, fmt)}
    return {**_arrays(batch, fmt), **_others(batch, fmt)}


def format_rows(batch: Batch, fmt: Formatting) -> Iterator[object]:
    """The rows of ``batch`` in the format: dicts (of scalars, arrays or tensors), or 1-row tables."""
    if fmt.type in (None, "python"):
        if fmt.columns is None:
            yield from batch.rows
            return
        keep = set(_names(batch, fmt)) if not fmt.output_all_columns else None
        for row in batch.rows:
            yield {k: v for k, v in row.items() if keep is None or k in keep}
        return
    if fmt.type in ("arrow", "pandas"):
        table = format_batch(batch, Formatting("arrow", fmt.columns, fmt.output_all_columns))
        for i in range(table.num_rows):
            piece = table.slice(i, 1)
            yield piece if fmt.type == "arrow" else piece.to_pandas()
        return
    columns = format_batch(batch, fmt)
    names = list(columns)
    values = [columns[n] for n in names]
    for i in range(len(batch)):
        yield {n: v[i] for n, v in zip(names, values, strict=True)}


def format_rows_list(rows: Sequence[dict], fmt: Formatting) -> object:
    """A list of rows as one formatted batch (``iter(batch_size=)``, ``Dataset[a:b]``)."""
    return format_batch(Batch.from_rows(list(rows)), fmt)
