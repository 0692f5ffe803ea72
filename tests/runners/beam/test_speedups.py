"""``runners/beam/speedups.py``: the warm workers, and that the switch changes nothing written."""

from __future__ import annotations

import json
import os

import crucible_datasets as cd
from crucible_datasets.runners.beam import BeamRunner, job, speedups, supervision
from crucible_datasets.sinks import JsonlSink
from tests.data_paths import GSM8K_DIR
from tests.sinks.helpers import plain

GSM8K = os.path.join(GSM8K_DIR, "train.jsonl")
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


def long_question(row: dict) -> bool:
    return len(row["question"]) > 200


def names(summary) -> list[str]:
    return [os.path.relpath(f, summary.path) for f in summary.files]


def plain_names(summary) -> list[str]:
    """The shard names without their publish generation (random on every publish)."""
    return [plain(name) for name in names(summary)]


def test_plain_and_accelerated_runs_write_the_same(tmp_path, monkeypatch):
    ds = cd.load(GSM8K, split="train", streaming=True).filter(long_question).dedupe(key="answer")
    written = {}
    for switch in ("0", "1"):
        monkeypatch.setenv(speedups.SWITCH, switch)
        assert speedups.enabled() == (switch == "1")
        out = tmp_path / switch
        summary = BeamRunner().write(ds.pipeline, JsonlSink(str(out)), num_shards=3, options=TWO_WORKERS)
        shards = {plain(name): open(out / name, "rb").read() for name in names(summary)}
        with open(out / "manifest.json") as f:
            split = json.load(f)["configs"]["default"]["splits"]["train"]
        written[switch] = (shards, summary.counts, split["counts"], [s["rows"] for s in split["shards"]])
    assert written["0"] == written["1"]
    assert len(written["1"][0]) == 3 and written["1"][1].rows_read == 7473


def test_workers_without_a_warm_pool_start_fresh(tmp_path):
    ds = cd.load(GSM8K, split="train", streaming=True).select_columns(["question"])
    empty = speedups.WarmPool(str(tmp_path / "no-workers"), [])  # attach finds no warm worker
    os.makedirs(empty.folder)
    bm = job.run(
        ds.pipeline, JsonlSink(str(tmp_path / "out")), runner="FnApiRunner", num_shards=2,
        options=TWO_WORKERS, fn_api_runner=supervision.fn_api_runner(empty.worker_command),
    )  # fmt: skip
    assert bm.rows == 7473 and plain_names(bm) == [f"data/train-0000{i}-of-00002.jsonl" for i in range(2)]


def test_unused_warm_workers_end_with_the_pool():
    pool = speedups.WarmPool.start(2)
    pool.close()
    assert all(p.returncode is not None for p in pool.processes) and not os.path.exists(pool.folder)
