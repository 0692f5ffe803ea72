"""``runners/beam/plan.py``: which stages the distributed plan takes, decided by their kinds."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners.beam.plan import flag, multi_processing, plan_beam
from crucible_datasets.sources import TableSource
from crucible_datasets.transforms.base import KeyedStage
from crucible_datasets.transforms.batching import Batcher
from crucible_datasets.transforms.rows import RowMap
from crucible_datasets.transforms.stream import Dedupe, Shuffle, Take


def same(row: dict) -> None:
    return None


class FirstOfBand(KeyedStage):
    """A stage the framework has never seen: only its kind tells the plan what it is."""

    def key(self, row, position):
        return row["x"]

    def choose(self, a, b):
        return min(a, b, key=lambda pair: pair[0])

    def order(self, key, position):
        return position


PIPE = Pipeline(TableSource(pa.table({"x": list(range(100))})))


@pytest.mark.parametrize(
    "stages, kind, keyed",
    [
        ([RowMap(same)], "tasks", range(0)),
        ([RowMap(same), Dedupe(), RowMap(same)], "distributed", range(1, 2)),
        ([Shuffle(seed=1), Dedupe("x"), FirstOfBand(), RowMap(same)], "distributed", range(0, 3)),
        ([Dedupe(), RowMap(same), Dedupe()], "tasks", range(0)),
        ([Batcher(2), Dedupe()], "tasks", range(0)),
        ([Dedupe(), Take(3)], "tasks", range(0)),
    ],
    ids=["per-batch", "dedupe", "three-keyed", "per-batch-between", "regrouping-before", "take-after"],
)
def test_the_plan_follows_the_stage_kinds(stages, kind, keyed):
    pipe = PIPE
    for stage in stages:
        pipe = pipe.then(stage)
    plan = plan_beam(pipe, 2)
    assert (plan.kind, plan.keyed, plan.whole_stream) == (kind, keyed, pipe.whole_stream)


def test_flags():
    assert flag(["--direct_num_workers", "3"], "direct_num_workers") == "3"
    assert multi_processing("FnApiRunner", ["--direct_num_workers=2"])
    assert not multi_processing("FnApiRunner", ["--direct_num_workers=2", "--direct_running_mode=in_memory"])
    assert not multi_processing("DataflowRunner", ["--direct_num_workers=2"])
