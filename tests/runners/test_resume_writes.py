"""Resumable writes: a write killed (SIGKILL of the driver and its workers) after some tasks, or in
its publish, and started again with the same spec reuses the finished tasks, recomputes the rest
and publishes the rows and shard names the killed run would have; a temp folder that is only
partly written is never taken for finished output; the previous output stays readable until the
rerun publishes. Local runner and Beam's FnApiRunner with 2 worker processes."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import crucible_datasets as cd
from crucible_datasets.sinks.publish import KILL_AT_RENAME_ENV
from tests.sinks.helpers import plain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES, ROWS = 6, 4  # input files (one task each), rows per file
WRITER = textwrap.dedent(
    """
    import json, sys, time
    import crucible_datasets as cd
    src, out, runner, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def slow(row):
        time.sleep(0.06)
        return {**row, "double": row["id"] * 2}

    options = [f"--direct_num_workers={workers}"] if workers > 1 else None
    ds = cd.load(src, split="train", streaming=True).map(slow)
    summary = ds.write_parquet(out, num_shards=NUM_SHARDS, runner=runner, options=options)
    print(json.dumps({**summary.as_dict(), "text": str(summary)}))
    """
).replace("NUM_SHARDS", str(FILES))
BOUND = 240  # seconds for one writer process


def make_inputs(src: str, files: int = FILES, start: int = 0) -> None:
    os.makedirs(src, exist_ok=True)
    for f in range(files):
        with open(os.path.join(src, f"part-{f:02d}.jsonl"), "w") as out:
            for i in range(ROWS):
                out.write(
                    json.dumps({"id": start + f * ROWS + i, "text": f"row {start + f * ROWS + i}"}) + "\n"
                )


def command(src: str, out: str, runner: str, workers: int) -> list[str]:
    return [sys.executable, "-c", WRITER, src, out, runner, str(workers)]


def write(src: str, out: str, runner: str = "local", workers: int = 1, env: dict | None = None) -> dict:
    done = subprocess.run(
        command(src, out, runner, workers), cwd=ROOT, capture_output=True, text=True, timeout=BOUND,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def markers(out: str) -> list[str]:
    return sorted(glob.glob(os.path.join(out, ".crucible-tmp", "default", "train", "*", "done", "*.pkl")))


def kill_after(src: str, out: str, tasks: int, runner: str = "local", workers: int = 1) -> int:
    """Start a write and SIGKILL it (its whole process group: driver and workers) once ``tasks``
    tasks are done; how many were done when it died."""
    proc = subprocess.Popen(
        command(src, out, runner, workers), cwd=ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + BOUND
    try:
        while len(markers(out)) < tasks:
            assert proc.poll() is None, "the writer ended before it was killed"
            assert time.monotonic() < deadline, "the writer did not finish its tasks in time"
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return len(markers(out))


def recorded_generation(out: str) -> str:
    (run,) = glob.glob(os.path.join(out, ".crucible-tmp", "default", "train", "*", "run.json"))
    with open(run) as f:
        return json.load(f)["generation"]


def shards(out: str) -> list[tuple[str, list[dict]]]:
    """The published shards (names relative to ``out``) and their rows."""
    import pyarrow.parquet as pq

    names = sorted(glob.glob(os.path.join(out, "data", "*.parquet")))
    return [(os.path.relpath(n, out), pq.read_table(n).to_pylist()) for n in names]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """An uninterrupted local run of the same spec: its shards without generation, and its summary."""
    base = tmp_path_factory.mktemp("uninterrupted")
    make_inputs(str(base / "src"))
    summary = write(str(base / "src"), str(base / "out"))
    assert summary["counts"]["tasks_reused"] == 0
    return [(plain(name), rows) for name, rows in shards(str(base / "out"))], summary


@pytest.mark.parametrize(
    ("runner", "workers", "kill_at"), [("local", 1, 1), ("local", 1, 4), ("direct", 2, 2)]
)
def test_killed_after_some_tasks_the_rerun_reuses_them(tmp_path, uninterrupted, runner, workers, kill_at):
    expected, full = uninterrupted
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    make_inputs(src)
    done = kill_after(src, out, kill_at, runner, workers)
    assert kill_at <= done < FILES
    generation = recorded_generation(out)
    assert not os.path.exists(os.path.join(out, "README.md"))  # nothing published by the killed run
    summary = write(src, out, runner, workers)
    assert summary["counts"]["tasks_reused"] == done
    assert f"reused {done} task" in summary["text"]
    got = shards(out)
    assert all(generation in name for name, _ in got)  # the names the killed run would have published
    assert [(plain(name), rows) for name, rows in got] == expected
    same = {k: v for k, v in summary["counts"].items() if k != "tasks_reused"}
    assert same == {k: v for k, v in full["counts"].items() if k != "tasks_reused"}
    assert not os.path.exists(os.path.join(out, ".crucible-tmp"))
    assert any("took over the lease" in w for w in summary["warnings"])


def test_a_partly_written_temp_folder_is_never_taken_for_finished_tasks(tmp_path, uninterrupted):
    expected, _ = uninterrupted
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    make_inputs(src)
    done = kill_after(src, out, 3)
    run_dir = os.path.dirname(os.path.dirname(markers(out)[0]))
    finished = sorted(glob.glob(os.path.join(run_dir, "task-*.parquet")))
    with open(finished[0], "r+b") as f:  # a finished task's temp file, cut short (a torn disk write)
        f.truncate(10)
    with open(os.path.join(run_dir, f"task-{FILES - 1:05d}-00000.parquet"), "wb") as f:
        f.write(b"PAR1 partial")  # an unfinished task's partial file, no marker
    summary = write(src, out)
    assert summary["counts"]["tasks_reused"] == done - 1
    assert [(plain(name), rows) for name, rows in shards(out)] == expected


def test_the_previous_output_stays_readable_until_the_rerun_publishes(tmp_path, hf_python):
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    make_inputs(src, files=FILES - 1)
    write(src, out)
    old = sorted(r["id"] for _, rows in shards(out) for r in rows)
    make_inputs(src)  # one more file: a new spec, so a new run
    done = kill_after(src, out, 2)
    load = (
        "import datasets, json\n"
        "print(json.dumps(sorted(datasets.load_dataset(ARGS['p'], split='train')['id'])))"
    )
    assert sorted(cd.load(out, split="train")["id"]) == old == hf_python(load, p=out)
    killed = subprocess.run(  # a rerun killed at the first step of its publish: nothing has changed yet
        command(src, out, "local", 1), cwd=ROOT, env={**os.environ, KILL_AT_RENAME_ENV: "1"}, timeout=BOUND,
        capture_output=True,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert sorted(cd.load(out, split="train")["id"]) == old
    summary = write(src, out)
    assert summary["counts"]["tasks_reused"] == FILES  # the killed rerun had finished every task
    assert done < FILES
    new = list(range(FILES * ROWS))
    assert sorted(cd.load(out, split="train")["id"]) == new == hf_python(load, p=out)
    assert all("-g000002-" in name for name, _ in shards(out))


def test_killed_in_the_publish_the_rerun_completes_it_with_the_same_names(tmp_path, uninterrupted):
    expected, _ = uninterrupted
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    make_inputs(src)
    for step in (3, FILES + 2):  # after two shard renames; after the card switch
        root = f"{out}-{step}"
        killed = subprocess.run(
            command(src, root, "local", 1), cwd=ROOT, env={**os.environ, KILL_AT_RENAME_ENV: str(step)},
            timeout=BOUND, capture_output=True,
        )  # fmt: skip
        assert killed.returncode == -signal.SIGKILL
        generation = recorded_generation(root)
        summary = write(src, root)
        assert summary["counts"]["tasks_reused"] == FILES
        got = shards(root)
        assert all(generation in name for name, _ in got)
        assert [(plain(name), rows) for name, rows in got] == expected
