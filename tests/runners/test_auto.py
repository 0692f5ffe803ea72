"""``runner="auto"`` (runners/auto.py): local for a small input or one task, else Beam's direct
runner with a worker per core; it says which, on stderr and in the summary."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import crucible_datasets as cd
from crucible_datasets.runners.auto import LOCAL_BELOW_BYTES, AutoRunner


@pytest.fixture
def rows_file(tmp_path) -> str:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"x": {i}, "text": "row {i}"}}\n' for i in range(400)))
    return str(path)


def pipeline(path: str, *, take: int | None = None):
    ds = cd.load(path, split="train", streaming=True).filter(lambda r: r["x"] % 2 == 0)
    return (ds.take(take) if take is not None else ds).pipeline


def test_a_tiny_input_runs_locally_and_says_why(tmp_path, rows_file, capfd):
    summary = cd.load(rows_file, split="train", streaming=True).write_parquet(
        str(tmp_path / "out"), runner="auto"
    )
    size = os.path.getsize(rows_file)
    assert summary.runner == f"local (auto: {size / 1024:.1f} KiB of input, below 768.0 MiB)"
    assert summary.counts.rows_written == 400 and summary.as_dict()["runner"] == summary.runner
    assert str(summary).endswith(f" s on {summary.runner}")
    assert f"crucible: runner {summary.runner}" in capfd.readouterr().err


def test_above_the_threshold_it_picks_direct_with_a_worker_per_core(rows_file):
    choice = AutoRunner(local_below=1000, cores=2).choose(pipeline(rows_file), num_shards=4)
    assert (choice.runner, choice.options) == (
        "direct",
        ("--direct_num_workers=2", "--direct_running_mode=multi_processing"),
    )
    assert "in 4 tasks, 2 workers" in str(choice)
    assert AutoRunner(local_below=1000, cores=8).choose(pipeline(rows_file), num_shards=3).options[0] == (
        "--direct_num_workers=3"  # no more workers than tasks
    )
    assert AutoRunner(local_below=10**9, cores=2).choose(pipeline(rows_file), 4).runner == "local"
    assert AutoRunner().local_below == LOCAL_BELOW_BYTES


def test_one_task_one_core_or_beam_flags_decide_too(rows_file):
    big = AutoRunner(local_below=0, cores=2)
    assert str(big.choose(pipeline(rows_file, take=5), num_shards=4)) == "local (auto: 1 task)"
    assert str(big.choose(pipeline(rows_file), num_shards=1)) == "local (auto: 1 task)"
    assert str(AutoRunner(local_below=0, cores=1).choose(pipeline(rows_file), 4)) == "local (auto: 1 core)"
    flags = ["--direct_num_workers=1"]
    assert big.choose(pipeline(rows_file), 4, flags).options == tuple(flags)
    assert big.builds_only(["--dry_run=True"]) and not big.builds_only([])


def test_the_threshold_comes_from_the_environment_and_a_bad_value_is_named(tmp_path, rows_file, monkeypatch):
    monkeypatch.setenv("CRUCIBLE_AUTO_LOCAL_BYTES", "0")
    ds = cd.load(rows_file, split="train", streaming=True).filter(lambda r: r["x"] % 2 == 0)
    summary = ds.write_parquet(str(tmp_path / "out"), runner="auto", num_shards=2, progress=False)
    expected = AutoRunner().choose(ds.pipeline, 2)
    assert summary.runner == str(expected)
    if (os.cpu_count() or 1) >= 2:  # the run really went to Beam, and wrote what local writes
        assert summary.runner.startswith("direct (auto: ") and "2 workers" in summary.runner
    local = ds.write_parquet(str(tmp_path / "local"), runner="local", num_shards=2)
    assert (
        cd.load(str(tmp_path / "out"), split="train").to_list()
        == cd.load(str(tmp_path / "local"), split="train").to_list()
    )
    assert summary.counts == local.counts
    monkeypatch.setenv("CRUCIBLE_AUTO_LOCAL_BYTES", "lots")
    with pytest.raises(ValueError, match="CRUCIBLE_AUTO_LOCAL_BYTES takes a number of bytes, got 'lots'"):
        AutoRunner()


def test_the_command_line_runs_auto_by_default(tmp_path, rows_file):
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "crucible_datasets.cli",
            "run",
            "convert",
            "--input",
            rows_file,
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "crucible: runner local (auto: " in proc.stderr
    assert " on local (auto: " in proc.stdout
    assert sorted(os.listdir(out / "data"))
