"""Publishing a staged split: a finalize that failed part-way through its publish plan is completed
by calling it again with the same results (a step failing in this process on local disk; a process
killed with SIGKILL, locally and on the GCS emulator). tests/sinks/test_generations.py kills at
every step and checks what readers see."""

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

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import ParquetSink
from crucible_datasets.sinks.publish import KILL_AT_RENAME_ENV, PLAN_NAME
from crucible_datasets.storage import filesystem as fs
from tests.sinks.helpers import card_front_matter, files_under, manifest, plain, read_parquet_rows, write

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": i, "text": f"row {i}"} for i in range(start, start + n)]


def written(sink: ParquetSink, n: int) -> list:
    with sink.open_task(0) as writer:
        writer.write(Batch.from_rows(rows(n)))
    return [writer.result]


def block(path) -> None:
    """Put a non-empty folder where the publish will write a file: that step fails (IsADirectoryError)."""
    os.makedirs(path)
    with open(os.path.join(path, "keep"), "w") as f:
        f.write("x")


def unblock(path) -> None:
    os.remove(os.path.join(path, "keep"))
    os.rmdir(path)


def test_a_finalize_that_failed_after_the_switch_completes_when_called_again(tmp_path):
    old = write(ParquetSink(tmp_path), [[rows(1, 50)], [rows(1, 60)]])  # the old split: two shards
    os.remove(tmp_path / "manifest.json")
    block(tmp_path / "manifest.json")  # step 4, the copy of the manifest, fails
    sink = ParquetSink(tmp_path, max_rows_per_shard=1)
    results = written(sink, 3)
    with pytest.raises(IsADirectoryError):
        sink.finalize(results, counts=RunCounts(rows_read=3, rows_written=3), source="first")
    # the card was switched: readers see the new split whole; the old shards are not deleted yet
    assert cd.load(str(tmp_path), split="train")["id"] == [0, 1, 2]
    assert {s["name"]: s["num_examples"] for s in card_front_matter(tmp_path)["dataset_info"]["splits"]} == {
        "train": 3
    }
    assert all(os.path.exists(f) for f in old.files)
    unblock(tmp_path / "manifest.json")

    summary = sink.finalize(results, counts=RunCounts(rows_read=3, rows_written=3), source="first")
    assert files_under(tmp_path) == [
        "README.md",
        *(f"data/train-0000{i}-of-00003.parquet" for i in range(3)),
        "manifest.json",
    ]
    assert sorted(os.listdir(tmp_path / "data")) == [os.path.basename(f) for f in summary.files]
    assert [plain(f) for f in summary.files] == [
        str(tmp_path / f"data/train-0000{i}-of-00003.parquet") for i in range(3)
    ]
    assert summary.file_rows == [1, 1, 1] and summary.source == "first"
    assert read_parquet_rows(summary.files) == rows(3)
    entry = manifest(tmp_path)["configs"]["default"]["splits"]["train"]
    assert entry["rows"] == 3 and [s["file"] for s in entry["shards"]] == [
        os.path.relpath(f, tmp_path) for f in summary.files
    ]


def test_a_rerun_with_other_arguments_is_refused_until_the_publish_completes(tmp_path):
    write(ParquetSink(tmp_path), [[rows(1, 50)]])
    os.remove(tmp_path / "manifest.json")
    block(tmp_path / "manifest.json")
    sink = ParquetSink(tmp_path, max_rows_per_shard=1)
    results = written(sink, 2)
    with pytest.raises(IsADirectoryError):
        sink.finalize(results)
    with pytest.raises(ValueError, match="same arguments"):
        sink.finalize(results, num_shards=1)
    unblock(tmp_path / "manifest.json")
    assert sink.finalize(results).file_rows == [1, 1]
    assert manifest(tmp_path)["configs"]["default"]["splits"]["train"]["rows"] == 2


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
    old = write(ParquetSink(root, max_rows_per_shard=1), [[rows(2, 50)]])  # old shards -of-00002
    results_path = tmp_path / "results.pkl"
    env = {**os.environ, KILL_AT_RENAME_ENV: "3"}  # after two of the four shard renames
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_FINALIZE, root, str(results_path)], env=env, cwd=ROOT, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL
    sink = ParquetSink(root, max_rows_per_shard=1, run_id="killed-run")
    with fs.open_input(fs.join(sink.run_dir, PLAN_NAME)) as f:
        plan = orjson.loads(f.read())
    steps = plan["steps"]
    # no pin: the old card names only its own generation, which the new names do not match
    assert [s["op"] for s in steps] == ["rename"] * 4 + ["switch", "write", "delete", "delete"]
    assert [plain(s["dst"].rsplit("/", 1)[-1]) for s in steps[:4]] == [
        f"train-0000{i}-of-00004.parquet" for i in range(4)
    ]
    assert [s["dst"] for s in steps[:4]] == plan["files"]
    assert steps[5]["dst"] == fs.join(root, "manifest.json")
    assert sorted(s["path"] for s in steps[6:]) == sorted(old.files)
    published = [p for p in fs.list_files(root) if "/.crucible-tmp/" not in p]
    assert published == sorted(
        [fs.join(root, "README.md"), *old.files, *plan["files"][:2], fs.join(root, "manifest.json")]
    )
    assert cd.load(root, split="train")["id"] == [50, 51]  # the card still names the old generation

    with open(results_path, "rb") as f:
        results = pickle.load(f)
    if not fs.is_remote(root):  # a failure in this process at the next rename leaves it as it was
        block(plan["files"][2])
        with pytest.raises(IsADirectoryError):
            sink.finalize(results)
        assert cd.load(root, split="train")["id"] == [50, 51]
        unblock(plan["files"][2])
    summary = sink.finalize(results)
    shards = plan["files"]
    assert fs.list_files(root) == [fs.join(root, "README.md"), *shards, fs.join(root, "manifest.json")]
    assert fs.is_remote(root) or not os.path.exists(os.path.join(root, ".crucible-tmp"))  # the lease too
    assert summary.files == shards and summary.source == "killed"
    assert [r for path in shards for r in read_parquet(path)] == rows(4)
    assert cd.load(root, split="train")["id"] == [0, 1, 2, 3]
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


def test_a_destination_is_one_registered_publisher(tmp_path, monkeypatch):
    from crucible_datasets.sinks import publish

    used = []

    class Recording(publish.FolderPublisher):
        def publish(self, staged, manifest, card, **options):
            used.append([s.name for s in staged])
            return super().publish(staged, manifest, card, **options)

    monkeypatch.setitem(publish.PUBLISHERS, "", Recording)  # local paths: the one registration line
    summary = cd.Dataset.from_list([{"a": 1}, {"a": 2}]).write_parquet(str(tmp_path / "out"), num_shards=2)
    assert len(used) == 1 and len(used[0]) == 2 and summary.rows == 2
