"""The per-row stages: the indexed map and filter (``with_indices=True``) count rows over the stream."""

import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import StageCounter, StageKind, apply_stages
from crucible_datasets.transforms.rows import IndexedRowFilter, IndexedRowMap, RowFilter, RowMap


def stream():
    return iter([Batch.from_rows([{"x": i} for i in range(s, s + 4)], position=(0.0, s)) for s in (0, 4, 8)])


def test_indexed_map_counts_across_batches_and_keeps_positions():
    counter = StageCounter()
    out = list(IndexedRowMap(lambda r, i: {"i": i}, remove_columns=["x"]).apply(stream(), counter))
    assert [r for b in out for r in b.rows] == [{"i": i} for i in range(12)]
    assert [b.position for b in out] == [(0.0, 0), (0.0, 4), (0.0, 8)]
    assert (counter.rows_in, counter.rows_out) == (12, 12)


def test_indexed_filter_sees_the_index_of_each_input_row():
    counters: list[StageCounter] = []
    stages = [RowFilter(lambda r: r["x"] % 2 == 0), IndexedRowFilter(lambda r, i: i % 2 == 0)]
    out = list(apply_stages(stream(), stages, counters))
    assert [r["x"] for b in out for r in b.rows] == [0, 4, 8]  # the filtered stream's indices 0, 2, 4
    assert (counters[1].rows_in, counters[1].rows_out) == (6, 3)


def test_indexed_stages_are_whole_stream_and_beam_refuses_them_per_part():
    assert IndexedRowMap.kind is IndexedRowFilter.kind is StageKind.WHOLE_STREAM
    assert RowMap.kind is StageKind.PER_BATCH
    import crucible_datasets.transforms as ct

    with pytest.raises(ValueError, match="needs the whole collection"):
        ct.ApplyStages([IndexedRowMap(lambda r, i: {})])
    with pytest.raises(ValueError, match="no Beam form"):
        ct.for_stage(IndexedRowFilter(lambda r, i: True))


def test_indexed_map_checks_what_the_function_returns():
    with pytest.raises(TypeError, match="must return a dict or None"):
        list(IndexedRowMap(lambda r, i: i).apply(stream(), StageCounter()))
    with pytest.raises(TypeError, match="map needs a function"):
        IndexedRowMap("not a function")
