"""Splitting a dataset between training processes (ranks) and DataLoader workers.

``split_dataset_by_node`` is ``datasets.distributed``'s function. An :class:`IterableDataset`
is split by whole input parts (byte ranges of line files, row groups of Parquet) when it has at
least ``world_size`` of them, otherwise every ``world_size``-th row goes to each rank; either way
the ranks together see every row exactly once. Inside a rank, a ``torch.utils.data.DataLoader``
splits it again between its workers by the same rule.

>>> import crucible_datasets as cd
>>> ds = cd.Dataset.from_list([{"i": i} for i in range(10)]).to_iterable_dataset()
>>> [[r["i"] for r in split_dataset_by_node(ds, rank=r, world_size=3)] for r in range(3)]
[[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from crucible_datasets.dataset import Dataset
    from crucible_datasets.iterable_dataset import IterableDataset

DatasetType = TypeVar("DatasetType", "Dataset", "IterableDataset")


def split_dataset_by_node(
    dataset: DatasetType, rank: int, world_size: int, strategy: Literal["auto", "shards", "examples"] = "auto"
) -> DatasetType:
    """The part of ``dataset`` for the process at ``rank`` among ``world_size``.

    An :class:`IterableDataset`: ``"shards"`` gives each rank whole input parts (an error when
    there are fewer parts than ranks), ``"examples"`` every ``world_size``-th row, ``"auto"`` parts
    when there are at least ``world_size``, else rows. A :class:`Dataset`: a contiguous chunk.
    Shuffle with a fixed ``seed`` first, so every rank sees the same order of parts and rows.
    """
    from crucible_datasets.dataset import Dataset

    if strategy not in ("auto", "shards", "examples"):
        raise ValueError(f"strategy must be 'auto', 'shards' or 'examples', got {strategy!r}")
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive integer, got {world_size!r}")
    if not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank!r}")
    if isinstance(dataset, Dataset):
        if strategy != "auto":
            raise ValueError(
                f"a Dataset is split in contiguous chunks: strategy='auto' only, got {strategy!r}"
            )
        return dataset.shard(world_size, rank, contiguous=True)
    if getattr(dataset, "_unseeded_shuffle", False) and world_size > 1:
        warnings.warn(
            "split_dataset_by_node on a dataset shuffled without a seed: each rank draws its own seed, "
            "so ranks may overlap; pass shuffle(seed=...)",
            stacklevel=2,
        )
    return dataset._shard_level(world_size, rank, contiguous=False, mode=strategy)
