"""Batched stages over the whole stream: global indices, and ``batch_size=None`` (one batch)."""

import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import StageCounter, StageKind
from crucible_datasets.transforms.batching import (
    BatchedMap,
    WholeStreamBatchedFilter,
    WholeStreamBatchedMap,
    regroup,
    whole_batch,
)


def stream(n=10, size=3):
    return iter([Batch.from_rows([{"x": i} for i in range(s, min(n, s + size))]) for s in range(0, n, size)])


def test_regroup_none_is_one_group_of_everything():
    counter = StageCounter()
    assert [len(g) for g in regroup(stream(), None, counter)] == [10] and counter.rows_in == 10
    assert list(regroup(iter([]), None, StageCounter())) == []


def test_whole_batch_sizes_as_datasets_reads_them():
    assert whole_batch(None) and whole_batch(0) and whole_batch(-1)
    assert not whole_batch(1) and not whole_batch(1000) and not whole_batch(False)


def test_batched_map_with_indices_and_drop_last_batch():
    calls = []

    def fn(cols, idx):
        calls.append(idx)
        return {"y": [x * 10 for x in cols["x"]]}

    stage = WholeStreamBatchedMap(fn, 4, drop_last_batch=True, with_indices=True)
    out = [r for b in stage.apply(stream(), StageCounter()) for r in b.rows]
    assert calls == [[0, 1, 2, 3], [4, 5, 6, 7]]  # the short last batch is dropped, not called
    assert [r["y"] for r in out] == [x * 10 for x in range(8)]


def test_one_whole_batch_map_and_filter():
    sizes = []
    stage = WholeStreamBatchedMap(lambda cols: sizes.append(len(cols["x"])) or {}, None)
    assert len([r for b in stage.apply(stream(), StageCounter()) for r in b.rows]) == 10 and sizes == [10]
    kept = WholeStreamBatchedFilter(lambda cols, idx: [i >= 8 for i in idx], None, with_indices=True)
    assert [r["x"] for b in kept.apply(stream(), StageCounter()) for r in b.rows] == [8, 9]


def test_only_whole_stream_stages_take_batch_size_none():
    assert WholeStreamBatchedMap.kind is WholeStreamBatchedFilter.kind is StageKind.WHOLE_STREAM
    assert BatchedMap.kind is StageKind.REGROUPING
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BatchedMap(lambda c: c, None)
