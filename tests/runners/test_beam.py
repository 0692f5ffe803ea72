"""The Beam runner writes what the local runner writes: rows, shard names, manifest, counts.

Real files in tmp_path, Beam's own FnApiRunner (in-process, and two worker processes).
Every Beam job costs a second or more (multi_processing about four), so each test runs few.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections import Counter

import apache_beam as beam
import orjson
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

import crucible_datasets as cd
from crucible_datasets import synthetic, writing
from crucible_datasets.errors import BadRecordError
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners.beam import BeamRunner, job, plan
from crucible_datasets.runners.local import LocalRunner
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.sources import FileSource
from crucible_datasets.transforms.stream import Shuffle
from tests.data_paths import GSM8K_DIR
from tests.sinks.helpers import plain

GSM8K = os.path.join(GSM8K_DIR, "train.jsonl")
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]


# --- helpers (module level: Beam workers import them by name) ------------------------------------


def pair(row: dict) -> dict:
    prompt = response = None
    for turn in row["conversations"]:
        if prompt is None and turn["from"] == "human":
            prompt = turn["value"]
        elif response is None and turn["from"] == "gpt":
            response = turn["value"]
    return {"prompt": prompt, "response": response, "n_chars": len(response)}


def openthoughts_job(path: str) -> cd.IterableDataset:
    ds = cd.load(path, split="train", streaming=True)
    ds = ds.where("score > 0.5 and difficulty >= 3")
    return ds.map(pair, remove_columns=["domain", "score", "conversations"])


def gsm8k_fields(row: dict) -> dict:
    reasoning, _, answer = row["answer"].rpartition("####")
    return {"reasoning": reasoning.strip(), "final": answer.strip()}


def long_question(row: dict) -> bool:
    return len(row["question"]) > 200


def rows_of(summary) -> Counter:
    """The written rows as a multiset (canonical JSON)."""
    out: Counter = Counter()
    for path in summary.files:
        if path.endswith(".parquet"):
            rows = pq.read_table(path).to_pylist()
        else:
            with open(path, "rb") as f:
                rows = [orjson.loads(line) for line in f if line.strip()]
        out.update(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in rows)
    return out


def names(summary) -> list[str]:
    """The shard names without their publish generation (random on every publish)."""
    return [plain(os.path.relpath(f, summary.path)) for f in summary.files]


def manifest_split(path: str, split: str = "train") -> dict:
    with open(os.path.join(path, "manifest.json")) as f:
        entry = json.load(f)["configs"]["default"]["splits"][split]
    return {k: entry[k] for k in ("rows", "schema", "counts")} | {
        "shards": [(plain(s["file"]), s["rows"]) for s in entry["shards"]]
    }


def write_both(ds, tmp_path, *, num_shards=4, options=None, sink=ParquetSink, **sink_kwargs):
    """The same dataset written by the local runner and by Beam; both summaries."""
    local_sink = sink(str(tmp_path / "local"), **sink_kwargs)
    loc = LocalRunner().write(ds.pipeline, local_sink, num_shards=num_shards)
    beam_sink = sink(str(tmp_path / "beam"), **sink_kwargs)
    bm = BeamRunner().write(ds.pipeline, beam_sink, num_shards=num_shards, options=options or [])
    return loc, bm


def assert_same_write(loc, bm, *, same_shards: bool = True) -> None:
    assert rows_of(bm) == rows_of(loc)
    assert names(bm) == names(loc)
    assert bm.counts == loc.counts
    assert bm.counts.reconciles()
    if same_shards:
        assert manifest_split(bm.path) == manifest_split(loc.path)
    assert not os.path.exists(os.path.join(bm.path, ".crucible-tmp"))


@pytest.fixture(scope="module")
def ot_file(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("ot") / "train.jsonl")
    synthetic.write_jsonl(path, 3000, seed=1)
    return path


# --- parallel pipelines: the same output as local ---------------------------------------------------


def test_openthoughts_one_worker_matches_local(ot_file, tmp_path):
    loc, bm = write_both(openthoughts_job(ot_file), tmp_path)
    assert_same_write(loc, bm)
    assert len(bm.files) == 4 and bm.rows > 1000
    assert bm.counts.rows_read == 3000 and bm.counts.rows_filtered == 3000 - bm.rows


def test_openthoughts_two_workers_matches_local(ot_file, tmp_path):
    loc, bm = write_both(openthoughts_job(ot_file), tmp_path, options=TWO_WORKERS)
    assert_same_write(loc, bm)


@pytest.mark.parametrize("options", [[], TWO_WORKERS], ids=["1-worker", "2-workers"])
def test_gsm8k_matches_local(options, tmp_path):
    ds = cd.load(GSM8K, split="train", streaming=True).filter(long_question).map(gsm8k_fields)
    loc, bm = write_both(ds, tmp_path, num_shards=3, options=options, sink=JsonlSink)
    assert_same_write(loc, bm)
    assert bm.counts.rows_read == 7473 and 0 < bm.rows < 7473


def test_fewer_parts_than_shards_gz(tmp_path):
    gz = str(tmp_path / "train.jsonl.gz")
    with open(GSM8K, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    ds = cd.load(gz, split="train", streaming=True).select_columns(["question"])
    assert len(ds.pipeline.plan_tasks(3)) == 1
    loc, bm = write_both(ds, tmp_path, num_shards=3)
    assert_same_write(loc, bm)
    assert names(bm) == [f"data/train-0000{i}-of-00003.parquet" for i in range(3)]


def test_in_memory_dataset(tmp_path):
    ds = cd.Dataset.from_list([{"x": i, "y": str(i)} for i in range(500)])
    pipe = ds._pipeline()
    loc = LocalRunner().write(pipe, ParquetSink(str(tmp_path / "local")), num_shards=2)
    bm = ds.write_parquet(str(tmp_path / "beam"), num_shards=2, runner="direct")
    assert_same_write(loc, bm)


# --- bad records ---------------------------------------------------------------------------------------


def _with_bad_lines(src: str, dst: str, every: int = 97) -> int:
    bad = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        for i, line in enumerate(f):
            out.write(line)
            if i % every == 0:
                out.write(b'{"id": 1, "truncated\n' if bad % 2 else b"not json at all\n")
                bad += 1
    return bad


def test_dead_letters_two_workers(ot_file, tmp_path):
    path = str(tmp_path / "bad.jsonl")
    n_bad = _with_bad_lines(ot_file, path)
    ds = cd.load(path, split="train", streaming=True, on_error="dead_letter").select_columns(["id", "score"])
    sinks = [ParquetSink(str(tmp_path / name)) for name in ("local", "beam")]
    loc = writing.run_write(ds.pipeline, sinks[0], num_shards=4)
    bm = writing.run_write(ds.pipeline, sinks[1], runner="direct", num_shards=4, options=TWO_WORKERS)
    assert bm.counts.rows_bad == n_bad == loc.counts.rows_bad
    assert bm.counts.rows_read == 3000 + n_bad and bm.counts.reconciles()
    assert_same_write(loc, bm)
    folder = writing.errors_folder(bm.path, "train", None)
    letters = []
    for name in os.listdir(folder):
        with open(os.path.join(folder, name), "rb") as f:
            letters += [orjson.loads(line) for line in f]
    assert len(letters) == n_bad
    assert {r["file"] for r in letters} == {path} and all(r["line"] and r["reason"] for r in letters)


def test_bad_record_raises_the_original_error(ot_file, tmp_path):
    path = str(tmp_path / "bad.jsonl")
    _with_bad_lines(ot_file, path, every=1000)
    ds = cd.load(path, split="train", streaming=True)
    sink = ParquetSink(str(tmp_path / "out"))
    with pytest.raises(BadRecordError, match="bad.jsonl, line"):
        BeamRunner().write(ds.pipeline, sink, num_shards=2, options=[])
    assert not os.path.exists(sink.split_temp_dir)
    assert not os.path.exists(os.path.join(sink.path, "data"))


# --- whole-stream stages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dup_file(tmp_path_factory) -> str:
    """Rows with exact duplicates and duplicate keys, spread over the file."""
    path = str(tmp_path_factory.mktemp("dup") / "train.jsonl")
    with open(path, "wb") as f:
        for i in range(12000):
            k = i % 9000
            f.write(orjson.dumps({"k": k, "v": k % 7 if i % 3 else i, "pad": "x" * (200 + k % 50)}) + b"\n")
    return path


def _dup(path: str) -> cd.IterableDataset:
    return cd.load(path, split="train", streaming=True)


def plus_one(row: dict) -> dict:
    return {"v": row["v"] + 1}


def keep_odd_k(row: dict) -> bool:
    return row["k"] % 2 == 1


def double_v(cols: dict) -> dict:
    return {"v": [v * 2 for v in cols["v"]]}


@pytest.mark.parametrize(
    "build, kind",
    [
        (lambda ds: ds.filter(keep_odd_k).take(1234), "tasks"),
        (lambda ds: ds.skip(3333).map(plus_one), "tasks"),
        (lambda ds: ds.filter(keep_odd_k).dedupe(), "distributed"),
        (lambda ds: ds.dedupe(key="k").map(plus_one), "distributed"),
        (lambda ds: ds.dedupe(key=["k"]).take(100), "tasks"),
        (lambda ds: ds.dedupe().map(double_v, batched=True, batch_size=100), "tasks"),
        (lambda ds: ds.dedupe(key="v").dedupe(key="k").map(plus_one), "distributed"),
    ],
    ids=["take", "skip", "dedupe", "dedupe-key", "dedupe-take", "dedupe-batched", "two-keyed"],
)
def test_whole_stream_matches_local(dup_file, tmp_path, build, kind):
    ds = build(_dup(dup_file))
    beam_plan = plan.plan_beam(ds.pipeline, 4)
    assert beam_plan.kind == kind and (kind == "tasks" or len(beam_plan.tasks) > 1)
    loc, bm = write_both(ds, tmp_path, sink=JsonlSink)
    assert rows_of(bm) == rows_of(loc)
    assert bm.counts == loc.counts and bm.counts.reconciles()
    assert names(bm) == names(loc)
    assert manifest_split(bm.path) == manifest_split(loc.path)  # the same rows per shard
    for a, b in zip(bm.files, loc.files, strict=True):  # dedupe keeps the input order on Beam too
        with open(a, "rb") as x, open(b, "rb") as y:
            assert x.read() == y.read()


def test_shuffle_same_rows_and_take_same_count(dup_file, tmp_path):
    ds = _dup(dup_file)
    loc, bm = write_both(ds.shuffle(seed=3).map(plus_one), tmp_path / "all", sink=JsonlSink)
    assert rows_of(bm) == rows_of(loc) and bm.counts == loc.counts
    assert names(bm) == names(loc)
    again = BeamRunner().write(
        ds.shuffle(seed=3).map(plus_one).pipeline, JsonlSink(str(tmp_path / "again")), num_shards=4
    )
    for first, second in zip(bm.files, again.files, strict=True):  # a seeded shuffle is repeatable
        with open(first, "rb") as a, open(second, "rb") as b:
            assert a.read() == b.read()
    loc, bm = write_both(ds.shuffle(seed=3).take(500), tmp_path / "take", sink=JsonlSink, options=TWO_WORKERS)
    assert bm.rows == loc.rows == 500 and bm.counts == loc.counts
    everything = LocalRunner().write(ds.pipeline, JsonlSink(str(tmp_path / "input")), num_shards=1)
    assert rows_of(bm) <= rows_of(everything)


# --- num_shards: the same shards on every runner ------------------------------------------------------


@pytest.fixture(scope="module")
def sorted_file(tmp_path_factory) -> str:
    """1000 rows, score rising: ``score > 0.5`` empties the first parts of the file."""
    path = str(tmp_path_factory.mktemp("sorted") / "train.jsonl")
    with open(path, "wb") as f:
        for i in range(1000):
            f.write(orjson.dumps({"id": i % 700, "score": i / 1000, "pad": "y" * (i % 23)}) + b"\n")
    return path


def high_score(row: dict) -> bool:
    return row["score"] > 0.5


def shard_rows(summary) -> list[list[dict]]:
    """The rows of each shard, in order."""
    return [pq.read_table(f).to_pylist() for f in summary.files]


@pytest.mark.parametrize("num_shards", [2, 4])
@pytest.mark.parametrize(
    "build",
    [
        lambda ds: ds.filter(high_score),
        lambda ds: ds.take(7),
        lambda ds: ds.skip(990),
        lambda ds: ds.shuffle(seed=5),
        lambda ds: ds.select_columns(["id"]).dedupe(),
    ],
    ids=["filter", "take", "skip", "shuffle", "dedupe"],
)
def test_num_shards_are_the_same_on_beam_and_local(sorted_file, tmp_path, build, num_shards):
    ds = build(cd.load(sorted_file, split="train", streaming=True))
    loc, bm = write_both(ds, tmp_path, num_shards=num_shards)
    assert_same_write(loc, bm)  # names, counts (bytes_read too), manifest shards and rows
    assert len(bm.files) == min(num_shards, bm.rows)
    assert max(bm.file_rows) - min(bm.file_rows) <= 1
    size = os.path.getsize(sorted_file)  # take stops early: the parts it opened
    assert bm.counts.bytes_read == size or (0 < bm.counts.bytes_read < size and bm.rows == 7)
    if not any(isinstance(s, Shuffle) for s in ds.pipeline.stages):  # seeded shuffles differ
        assert shard_rows(bm) == shard_rows(loc)


# --- retries, metrics, building blocks -----------------------------------------------------------------


def test_retried_task_does_not_duplicate_rows(ot_file, tmp_path):
    pipe = openthoughts_job(ot_file).pipeline
    sink = ParquetSink(str(tmp_path / "out"))
    tasks = pipe.plan_tasks(3)
    run = job.RunShardTask(pipe, sink)
    reports = [next(iter(run.process(t))) for t in tasks]
    reports.append(next(iter(run.process(tasks[1]))))  # task 1 runs again (a retried bundle)
    summary = next(iter(job.Finalize(sink, "x", None, False, None).process(reports)))
    expected = LocalRunner().write(pipe, ParquetSink(str(tmp_path / "local")), num_shards=3)
    assert rows_of(summary) == rows_of(expected)
    assert names(summary) == names(expected)


def test_metrics_match_summary(ot_file, tmp_path):
    pipe = openthoughts_job(ot_file).pipeline
    sink = ParquetSink(str(tmp_path / "out"))
    summary_path = str(tmp_path / "summary.pkl")
    root = beam.Pipeline(runner=FnApiRunner())
    job.build(root, pipe, sink, 2, summary_path=summary_path)
    result = root.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("crucible"))["counters"]
    got = {c.key.metric.name: c.committed for c in counters}
    summary = job._read_summary(summary_path)
    assert got == summary.counts.totals() and got["bytes_read"] > 0


def test_running_mode_follows_worker_count():
    _, opts = job._runner_and_options("FnApiRunner", ["--direct_num_workers=2"])
    assert opts.get_all_options()["direct_running_mode"] == "multi_processing"
    _, opts = job._runner_and_options("FnApiRunner", [])
    assert opts.get_all_options()["direct_running_mode"] == "in_memory"
    runner, opts = job._runner_and_options("DataflowRunner", ["--project=p"])
    assert runner == "DataflowRunner" and opts.get_all_options()["project"] == "p"
    assert plan.local_workers("FnApiRunner", ["--direct_num_workers", "3"]) == 3
    assert plan.local_workers("FnApiRunner", ["--direct_num_workers=0"]) == (os.cpu_count() or 1)
    assert plan.local_workers("DataflowRunner", ["--direct_num_workers=2"]) == 0


def test_file_source_description_is_the_manifest_source(ot_file, tmp_path):
    pipe = Pipeline(FileSource((ot_file,), description="my source"))
    bm = BeamRunner().write(pipe, JsonlSink(str(tmp_path / "o")), num_shards=1)
    assert bm.source == "my source" and bm.rows == 3000 and bm.wall_seconds > 0
    with open(os.path.join(bm.path, "manifest.json")) as f:
        entry = json.load(f)["configs"]["default"]["splits"]["train"]
    assert 0 < entry["wall_seconds"] <= bm.wall_seconds and entry["source"] == "my source"
