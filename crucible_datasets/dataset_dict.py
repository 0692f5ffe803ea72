"""``DatasetDict`` / ``IterableDatasetDict``: every split of a config, by name.

Operations apply to every split, as in Hugging Face ``datasets``: every public method of
:class:`~crucible_datasets.operations.Operations` (``OPERATIONS``), so a new operation is
available per split as soon as it exists. ``write_parquet`` and ``write_jsonl`` write each
split into the same output folder.

>>> import crucible_datasets as cd
>>> dd = cd.DatasetDict(train=cd.Dataset.from_list([{"x": 1}]), test=cd.Dataset.from_list([{"x": 2}]))
>>> {split: ds["y"] for split, ds in dd.map(lambda r: {"y": r["x"] * 10}).items()}
{'train': [10], 'test': [20]}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crucible_datasets.operations import OPERATIONS
from crucible_datasets.sinks import WriteSummary


class _SplitDict(dict):
    def __getitem__(self, split: str) -> Any:
        try:
            return super().__getitem__(split)
        except KeyError:
            raise KeyError(f"split {split!r} not found; available splits: {', '.join(self)}") from None

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in OPERATIONS:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

        def split_wise(*args: Any, **kwargs: Any) -> _SplitDict:
            return type(self)({split: getattr(ds, name)(*args, **kwargs) for split, ds in self.items()})

        return split_wise

    def write_parquet(self, path: str, **kwargs: Any) -> dict[str, WriteSummary]:
        """Write every split as Parquet shards under ``path``; one summary per split."""
        return {split: ds.write_parquet(path, split=split, **kwargs) for split, ds in self.items()}

    def write_jsonl(self, path: str, **kwargs: Any) -> dict[str, WriteSummary]:
        """Write every split as JSON Lines shards under ``path``; one summary per split."""
        return {split: ds.write_jsonl(path, split=split, **kwargs) for split, ds in self.items()}


class DatasetDict(_SplitDict):
    """Split name -> :class:`~crucible_datasets.dataset.Dataset`."""


class IterableDatasetDict(_SplitDict):
    """Split name -> :class:`~crucible_datasets.iterable_dataset.IterableDataset`."""
