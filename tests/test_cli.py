"""The crucible command, run as a real subprocess."""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.data_paths import GSM8K_DIR

GSM8K = GSM8K_DIR


def crucible(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "crucible_datasets.cli", *args], capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"crucible {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_run_openthoughts_sample(tmp_path):
    out = tmp_path / "out"
    proc = crucible("run", "openthoughts", "--sample", "--output", str(out), "--min-difficulty", "3")
    assert "rows" in proc.stdout
    files = sorted(os.listdir(out / "data"))
    assert files and files[0].startswith("train-00000-of-")
    assert (out / "README.md").exists() and (out / "manifest.json").exists()


def test_run_gsm8k_and_head_and_info(tmp_path):
    out = tmp_path / "g"
    crucible(
        "run",
        "gsm8k",
        "--input",
        os.path.join(GSM8K, "test.jsonl"),
        "--output",
        str(out),
        "--output-split",
        "test",
    )
    table = pq.read_table(out / "data" / "test-00000-of-00001.parquet")
    assert table.num_rows == 1319
    head = crucible("head", str(out), "--split", "test", "-n", "2").stdout.splitlines()
    assert len(head) == 2 and '"final_answer"' in head[0]
    info = crucible("info", str(out)).stdout
    assert "split: test" in info and "1,319" in info


def test_run_convert_filter_select_limit(tmp_path):
    out = tmp_path / "c"
    crucible(
        "run",
        "convert",
        "--input",
        os.path.join(GSM8K, "train.jsonl"),
        "--output",
        str(out),
        "--to",
        "jsonl",
        "--select",
        "question",
        "--filter",
        "len(question) > 200",
        "--limit",
        "50",
    )
    lines = open(next((out / "data").iterdir())).read().splitlines()
    assert len(lines) == 50 and all('"answer"' not in line for line in lines)


@pytest.mark.parametrize("bad", ["__import__('os').system('true')", "question.upper() == 'X'"])
def test_convert_refuses_code_in_filters(tmp_path, bad):
    proc = crucible(
        "run",
        "convert",
        "--input",
        os.path.join(GSM8K, "test.jsonl"),
        "--output",
        str(tmp_path / "x"),
        "--filter",
        bad,
        check=False,
    )
    assert proc.returncode == 2 and "not allowed" in proc.stderr


def test_unknown_beam_flag_needs_a_runner(tmp_path):
    proc = crucible(
        "run",
        "gsm8k",
        "--input",
        os.path.join(GSM8K, "test.jsonl"),
        "--output",
        str(tmp_path / "x"),
        "--direct_num_workers=2",
        check=False,
    )
    assert proc.returncode != 0 and "Beam flags need --runner" in proc.stderr
