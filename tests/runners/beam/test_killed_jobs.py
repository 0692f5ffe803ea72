"""Killed jobs clean up: ``runners/beam/lifetime.py`` and ``supervision.py``, with real processes.

A driver (a real ``python`` or ``crucible run`` process on Beam's FnApiRunner, two worker
processes) is killed with SIGKILL while its workers start and while they run: every process of
the job (recorded, from the driver's children, before the kill) has ended a few seconds later,
with the speed-ups on and off. A worker killed while it finalizes makes the driver fail at once
with an error naming the lost worker, and running the job again writes the whole output.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

import crucible_datasets as cd
from crucible_datasets.runners.beam import speedups
from crucible_datasets.sinks.publish import KILL_AT_RENAME_ENV
from tests.data_paths import GSM8K_DIR

GSM8K = os.path.join(GSM8K_DIR, "train.jsonl")
GSM8K_TEST = os.path.join(GSM8K_DIR, "test.jsonl")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
# A job that runs for some seconds on two workers: each row waits a little.
SLOW_JOB = f"""
import sys, time
import crucible_datasets as cd

def slow(row):
    time.sleep(0.002)
    return row

cd.load(sys.argv[1], split="train", streaming=True).map(slow).write_jsonl(
    sys.argv[2], num_shards=2, runner="direct", options={TWO_WORKERS!r}
)
"""
WORKER_SCRIPTS = ("speedups.py", "lifetime.py")
GRACE_SECONDS = 5.0  # how long a job's processes may outlive its driver
PATIENCE_SECONDS = 90.0  # how long a test waits for a job to reach the moment it kills it at


def start(args: list[str], log, speedups_on: bool, **env: str) -> subprocess.Popen:
    """``python args...`` in the repository, its output to the file ``log``."""
    environment = dict(os.environ, **{speedups.SWITCH: "1" if speedups_on else "0"}, **env)
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=environment, stdout=output, stderr=output
        )


def tail(log) -> str:
    with open(log, errors="replace") as f:
        return f.read()[-3000:]


def is_worker(process: psutil.Process) -> bool:
    try:
        return any(script in part for part in process.cmdline() for script in WORKER_SCRIPTS)
    except psutil.Error:
        return False


def watch_until(driver: subprocess.Popen, log, ready) -> dict[int, psutil.Process]:
    """The driver's descendants seen until ``ready(seen)`` is true (polled every 50 ms)."""
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not ready(seen):
        if driver.poll() is not None:
            raise AssertionError(f"the driver ended first ({driver.returncode}): {tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the job did not get there in {PATIENCE_SECONDS} s; saw {describe(seen)}")
        try:
            for child in psutil.Process(driver.pid).children(recursive=True):
                seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.05)
    return seen


def alive(processes) -> list[psutil.Process]:
    living = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                living.append(p)
        except psutil.NoSuchProcess:
            pass
    return living


def describe(processes) -> list[str]:
    out = []
    for p in processes.values() if isinstance(processes, dict) else processes:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[-90:]}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


def kill_and_check_nothing_is_left(driver: subprocess.Popen, seen: dict[int, psutil.Process]) -> None:
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=10)
    deadline = time.monotonic() + GRACE_SECONDS
    while alive(seen.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = alive(seen.values())
    for p in left:  # do not leave them to the rest of the suite
        p.kill()
    assert not left, f"{len(left)} processes of the job still run {GRACE_SECONDS} s later: {describe(left)}"


def workers_started(seen) -> bool:
    return sum(is_worker(p) for p in seen.values()) >= 2


@pytest.mark.timeout(180)
@pytest.mark.parametrize("speedups_on", [True, False], ids=["speedups", "plain"])
def test_a_driver_killed_while_its_workers_start_leaves_no_process(tmp_path, speedups_on):
    log = tmp_path / "driver.log"
    driver = start(["-c", SLOW_JOB, GSM8K, str(tmp_path / "out")], log, speedups_on)
    seen = watch_until(driver, log, workers_started)  # the workers exist: they are importing now
    kill_and_check_nothing_is_left(driver, seen)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("speedups_on", [True, False], ids=["speedups", "plain"])
def test_a_driver_killed_while_its_workers_run_leaves_no_process(tmp_path, speedups_on):
    out, log = tmp_path / "out", tmp_path / "driver.log"
    driver = start(["-c", SLOW_JOB, GSM8K, str(out)], log, speedups_on)

    def tasks_writing(seen) -> bool:  # a worker has written rows of its task
        return workers_started(seen) and bool(
            glob.glob(str(out / ".crucible-tmp" / "**" / "task-*"), recursive=True)
        )

    seen = watch_until(driver, log, tasks_writing)
    assert len(seen) >= 2, describe(seen)
    kill_and_check_nothing_is_left(driver, seen)


def convert(out, log, *, speedups_on: bool, **env: str) -> subprocess.Popen:
    args = ["-m", "crucible_datasets.cli", "run", "convert", "--input", GSM8K_TEST, "--output", str(out)]
    args += ["--to", "jsonl", "--num-shards", "2", "--runner", "direct", *TWO_WORKERS]
    return start(args, log, speedups_on, **env)


def seconds_from_a_lost_worker_to_the_error(driver: subprocess.Popen, log) -> float:
    """Wait for the driver's error message; how long after the first of its workers ended it came."""
    workers: dict[int, psutil.Process] = {}
    lost_at = None
    deadline = time.monotonic() + PATIENCE_SECONDS
    while "crucible: error:" not in tail(log):
        if driver.poll() is not None:
            raise AssertionError(f"the driver ended ({driver.returncode}) without an error: {tail(log)}")
        if time.monotonic() > deadline:
            for p in alive([*workers.values(), psutil.Process(driver.pid)]):
                p.kill()
            raise AssertionError(f"the driver hangs after its worker was killed: {tail(log)}")
        try:
            for child in psutil.Process(driver.pid).children(recursive=True):
                if child.pid not in workers and is_worker(child):
                    workers[child.pid] = child
        except psutil.NoSuchProcess:
            pass
        if lost_at is None and len(alive(workers.values())) < len(workers):
            lost_at = time.monotonic()
        time.sleep(0.05)
    assert lost_at is not None, f"no worker ended before the job failed: {describe(workers)}"
    return time.monotonic() - lost_at


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "speedups_on, step",
    [(True, 1), (False, 4)],  # before its first change; before the card switch, the shards renamed
    ids=["speedups-first-step", "plain-at-the-switch"],
)
def test_a_worker_killed_while_it_finalizes_fails_the_job_at_once_and_a_rerun_completes(
    tmp_path, speedups_on, step
):
    out, log = tmp_path / "out", tmp_path / "driver.log"
    # The finalize runs on a worker, which SIGKILLs itself just before step `step` of its publish.
    driver = convert(out, log, speedups_on=speedups_on, **{KILL_AT_RENAME_ENV: str(step)})
    assert seconds_from_a_lost_worker_to_the_error(driver, log) < GRACE_SECONDS
    # then the interpreter's teardown (seconds with Beam and pyarrow loaded, on a busy machine)
    assert driver.wait(timeout=PATIENCE_SECONDS) == 2, tail(log)
    error = tail(log).strip().splitlines()[-1]
    assert error.startswith("crucible: error: Beam worker worker_"), tail(log)
    assert "ended while the job was running" in error and "Run the job again" in error

    rerun = convert(out, tmp_path / "rerun.log", speedups_on=speedups_on)
    assert rerun.wait(timeout=PATIENCE_SECONDS) == 0, tail(tmp_path / "rerun.log")
    written, read = cd.load(str(out), split="train"), cd.load(GSM8K_TEST, split="train")
    assert written.num_rows == 1319
    assert written["question"] == read["question"] and written["answer"] == read["answer"]
    assert len(os.listdir(out / "data")) == 2  # the published shards only: no leftover of the killed run
    assert not glob.glob(str(out / ".crucible-tmp" / "**" / "task-*"), recursive=True)
