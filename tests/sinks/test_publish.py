"""Publishing a staged split: a finalize that failed part-way through its renames is completed by
calling it again (a failing rename on local disk; a process killed with SIGKILL, locally and on the
GCS emulator)."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap

import orjson
import pyarrow.parquet as pq
import pytest

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import ParquetSink
from crucible_datasets.sinks.publish import KILL_AT_RENAME_ENV, PLAN_NAME
from crucible_datasets.storage import filesystem as fs
from tests.sinks.helpers import card_front_matter, files_under, manifest, read_parquet_rows, write

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": i, "text": f"row {i}"} for i in range(start, start + n)]


def written(sink: ParquetSink, n: int) -> list:
    with sink.open_task(0) as writer:
        writer.write(Batch.from_rows(rows(n)))
    return [writer.result]


def test_a_finalize_that_failed_mid_rename_completes_when_called_again(tmp_path):
    write(ParquetSink(tmp_path), [[rows(1, 50)], [rows(1, 60)]])  # the old split: two shards
    sink = ParquetSink(tmp_path, max_rows_per_shard=1)
    results = written(sink, 3)
    blocker = tmp_path / "data" / "train-00001-of-00003.parquet"  # a folder where shard 1 goes
    blocker.mkdir()
    (blocker / "keep").write_text("x")
    with pytest.raises(IsADirectoryError):
        sink.finalize(results, counts=RunCounts(rows_read=3, rows_written=3), source="first")
    assert sorted(os.listdir(tmp_path / "data")) == [
        "train-00000-of-00003.parquet",  # renamed before the failure; the old shards are gone
        "train-00001-of-00003.parquet",
    ]
    (blocker / "keep").unlink()
    blocker.rmdir()

    summary = sink.finalize(results, counts=RunCounts(rows_read=3, rows_written=3), source="first")
    assert files_under(tmp_path) == [
        "README.md",
        *(f"data/train-0000{i}-of-00003.parquet" for i in range(3)),
        "manifest.json",
    ]
    assert summary.files == [str(tmp_path / f"data/train-0000{i}-of-00003.parquet") for i in range(3)]
    assert summary.file_rows == [1, 1, 1] and summary.source == "first"
    assert read_parquet_rows(summary.files) == rows(3)
    entry = manifest(tmp_path)["configs"]["default"]["splits"]["train"]
    assert entry["rows"] == 3 and len(entry["shards"]) == 3
    assert {s["name"]: s["num_examples"] for s in card_front_matter(tmp_path)["dataset_info"]["splits"]} == {
        "train": 3
    }


def test_a_rerun_with_other_arguments_is_refused_until_the_publish_completes(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=1)
    results = written(sink, 2)
    (tmp_path / "data" / "train-00001-of-00002.parquet").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        sink.finalize(results)
    with pytest.raises(ValueError, match="same arguments"):
        sink.finalize(results, num_shards=1)
    (tmp_path / "data" / "train-00001-of-00002.parquet").rmdir()
    assert sink.finalize(results).file_rows == [1, 1]


KILLED_FINALIZE = textwrap.dedent(
    """
    import pickle, sys
    from crucible_datasets.batch import Batch
    from crucible_datasets.sinks import ParquetSink
    root, results_path = sys.argv[1], sys.argv[2]
    sink = ParquetSink(root, max_rows_per_shard=1, run_id="killed-run")
    with sink.open_task(0) as writer:
        writer.write(Batch.from_rows([{"id": i, "text": f"row {i}"} for i in range(4)]))
    with open(results_path, "wb") as f:
        pickle.dump([writer.result], f)
    sink.finalize([writer.result], source="killed")
    """
)


@pytest.fixture(params=["local", "gcs"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    return request.getfixturevalue("gcs_emulator").path("out")


def read_parquet(path: str) -> list[dict]:
    with fs.open_input(path) as f:
        return schemas.to_pylist(pq.read_table(f))


def test_a_finalize_killed_at_a_rename_is_completed_by_the_next_call(root, tmp_path):
    write(ParquetSink(root, max_rows_per_shard=1), [[rows(2, 50)]])  # old shards -of-00002
    results_path = tmp_path / "results.pkl"
    env = {**os.environ, KILL_AT_RENAME_ENV: "3"}  # renames: 4 shards, then manifest and card
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_FINALIZE, root, str(results_path)], env=env, cwd=ROOT, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    sink = ParquetSink(root, max_rows_per_shard=1, run_id="killed-run")
    with fs.open_input(fs.join(sink.run_dir, PLAN_NAME)) as f:
        plan = orjson.loads(f.read())
    assert [dst.rsplit("/", 1)[-1] for _, dst in plan["renames"]] == [
        *(f"train-0000{i}-of-00004.parquet" for i in range(4)),
        "manifest.json",
        "README.md",
    ]
    assert sorted(p.rsplit("/", 1)[-1] for p in plan["delete"]) == [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
    ]
    published = [p for p in fs.list_files(root) if "/.crucible-tmp/" not in p]
    assert published == [
        fs.join(root, "README.md"),  # still the old run's card and manifest
        fs.join(root, "data/train-00000-of-00004.parquet"),
        fs.join(root, "data/train-00001-of-00004.parquet"),
        fs.join(root, "manifest.json"),
    ]

    with open(results_path, "rb") as f:
        results = pickle.load(f)
    summary = sink.finalize(results)
    shards = [fs.join(root, f"data/train-0000{i}-of-00004.parquet") for i in range(4)]
    assert fs.list_files(root) == [fs.join(root, "README.md"), *shards, fs.join(root, "manifest.json")]
    assert summary.files == shards and summary.source == "killed"
    assert [r for path in shards for r in read_parquet(path)] == rows(4)
    with fs.open_input(fs.join(root, "manifest.json")) as f:
        entry = orjson.loads(f.read())["configs"]["default"]["splits"]["train"]
    assert entry["rows"] == 4 and entry["source"] == "killed" and entry["run_id"] == "killed-run"
    with fs.open_input(fs.join(root, "README.md")) as f:
        assert "num_examples: 4" in f.read().decode()


def test_a_staged_shard_gone_before_its_rename_is_an_error(tmp_path):
    root = str(tmp_path / "out")
    env = {**os.environ, KILL_AT_RENAME_ENV: "2"}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_FINALIZE, root, str(tmp_path / "r.pkl")], env=env, cwd=ROOT, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    sink = ParquetSink(root, max_rows_per_shard=1, run_id="killed-run")
    with open(tmp_path / "r.pkl", "rb") as f:
        results = pickle.load(f)
    os.remove(results[0].shards[1].path)  # staged, not yet renamed
    with pytest.raises(FileNotFoundError, match="cannot complete the publish"):
        sink.finalize(results)
