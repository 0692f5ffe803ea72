"""Whole-stream stages and sample: counts in and out, bounds, determinism."""

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import StageCounter
from crucible_datasets.transforms.stream import Dedupe, Sample, Shuffle, Skip, Take


def stream(n, size=7):
    rows = [{"i": i, "k": i % 4} for i in range(n)]
    return iter([Batch.from_rows(rows[s : s + size]) for s in range(0, n, size)])


def run(stage, n=50):
    counter = StageCounter()
    rows = [r for b in stage.apply(stream(n), counter) for r in b.rows]
    return rows, counter


def test_take_stops_early_and_counts():
    rows, c = run(Take(10))
    assert [r["i"] for r in rows] == list(range(10))
    assert c.rows_in == 14 and c.rows_out == 10 and c.dropped == 4


def test_skip():
    rows, c = run(Skip(45))
    assert [r["i"] for r in rows] == [45, 46, 47, 48, 49] and c.dropped == 45


def test_shuffle_keeps_every_row_once():
    rows, c = run(Shuffle(seed=3, buffer_size=8))
    assert sorted(r["i"] for r in rows) == list(range(50)) and c.dropped == 0


def test_dedupe_by_key_and_row():
    rows, _ = run(Dedupe(key="k"))
    assert [r["i"] for r in rows] == [0, 1, 2, 3]
    rows, _ = run(Dedupe())
    assert len(rows) == 50


def test_sample_is_deterministic_per_row():
    a = [r["i"] for b in stream(1000) if (out := Sample(0.3, seed=1).process(b)) for r in out.rows]
    b = [r["i"] for b in stream(1000, size=13) if (out := Sample(0.3, seed=1).process(b)) for r in out.rows]
    assert a == b and 220 < len(a) < 380
