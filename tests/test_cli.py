"""The crucible command, run as a real subprocess."""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from tests.data_paths import GSM8K_DIR

GSM8K = GSM8K_DIR


def crucible(*args, check=True, cwd=None):
    proc = subprocess.run(
        [sys.executable, "-m", "crucible_datasets.cli", *args], capture_output=True, text=True, cwd=cwd
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
    (shard,) = (out / "data").glob("test-00000-of-00001-*.parquet")  # the name carries its generation
    table = pq.read_table(shard)
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
    usage_error(proc, "Beam flags need --runner")


def usage_error(proc, *fragments):
    """Exit status 2, the fragments in one message, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_openthoughts_needs_input_or_sample(tmp_path):
    out = tmp_path / "out"
    usage_error(crucible("run", "openthoughts", "--output", str(out), check=False), "--input", "--sample")
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-2"])
def test_num_shards_must_be_a_positive_number(tmp_path, value):
    proc = crucible(
        "run", "gsm8k", "--input", os.path.join(GSM8K, "test.jsonl"), "--output", str(tmp_path / "x"),
        "--num-shards", value, check=False,
    )  # fmt: skip
    usage_error(proc, "argument --num-shards")
    assert not (tmp_path / "x").exists()


def test_max_bytes_per_shard(tmp_path):
    out = tmp_path / "c"
    crucible(
        "run", "convert", "--input", os.path.join(GSM8K, "train.jsonl"), "--output", str(out),
        "--to", "jsonl", "--max-bytes-per-shard", "1MB",
    )  # fmt: skip
    shards = sorted((out / "data").iterdir())
    assert len(shards) >= 3  # about 4 MB of JSON lines
    assert sum(open(p, "rb").read().count(b"\n") for p in shards) == 7473
    proc = crucible("run", "convert", "--input=x", "--output=y", "--max-bytes-per-shard", "lots", check=False)
    usage_error(proc, "argument --max-bytes-per-shard")


def test_mixed_formats_are_an_error_unless_format_picks_one(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "train.jsonl").write_text('{"q": "a"}\n')
    (data / "extra.csv").write_text("q\nb\n")
    for command in ("info", "head"):
        proc = crucible(command, str(data), check=False)
        usage_error(proc, "2 formats", "csv: extra.csv", "jsonl: train.jsonl", "--format")
    assert crucible("head", str(data), "--format", "jsonl").stdout.splitlines() == ['{"q":"a"}']
    out = tmp_path / "out"
    crucible("run", "convert", "--input", str(data), "--format", "csv", "--output", str(out), "--to=jsonl")
    assert [open(p).read() for p in (out / "data").iterdir()] == ['{"q":"b"}\n']


def test_missing_path_names_the_folder_and_the_hub(tmp_path, hub_server):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.jsonl").write_text('{"a": 1}\n')
    for command in ("info", "head"):
        proc = crucible(command, "data/train", check=False, cwd=str(tmp_path))
        usage_error(
            proc, "no file or folder 'data/train' here", "and no Hub dataset 'data/train' on", "not found",
            "data holds: test.jsonl",
        )  # fmt: skip
        assert len(proc.stderr.strip().splitlines()) == 1
    proc = crucible("head", "data/train.jsonl", check=False, cwd=str(tmp_path))
    usage_error(proc, "no file or folder 'data/train.jsonl' here", "data holds: test.jsonl")
    assert "Hub" not in proc.stderr


def test_missing_bucket_or_object_is_one_line(tmp_path, gcs_emulator):
    missing = gcs_emulator.path("data/nope.jsonl")
    proc = crucible("info", missing, check=False)
    usage_error(proc, f"{missing}: no such object or folder (bucket '{gcs_emulator.bucket}')")
    proc = crucible("head", "gs://no-such-bucket-7/data", check=False)
    usage_error(proc, "gs://no-such-bucket-7/data: no such bucket 'no-such-bucket-7'")
    proc = crucible(
        "run", "gsm8k", "--input", os.path.join(GSM8K, "test.jsonl"), "--output", "gs://no-such-bucket-7/out",
        check=False,
    )  # fmt: skip
    usage_error(proc, "cannot write gs://no-such-bucket-7/out: no such bucket 'no-such-bucket-7'")


def test_run_on_an_all_bad_input_fails_and_keeps_the_output_unless_allow_empty(tmp_path):
    bad, out = tmp_path / "bad.jsonl", tmp_path / "out"
    bad.write_text("not json\n{oops\n")
    good = os.path.join(GSM8K, "test.jsonl")
    crucible("run", "convert", "--input", good, "--output", str(out), "--to", "jsonl")
    kept = sorted(os.listdir(out / "data"))
    args = ("run", "convert", "--input", str(bad), "--output", str(out), "--to", "jsonl")
    args += ("--on-error", "skip")
    proc = crucible(*args, check=False)
    assert proc.returncode != 0 and "were bad records" in proc.stderr
    assert "--allow-empty" in proc.stderr
    assert sorted(os.listdir(out / "data")) == kept
    crucible(*args, "--allow-empty")
    assert not [f for f in os.listdir(out / "data") if f.startswith("train-")]


def test_spec_commands_beside_the_ready_pipelines():
    """``crucible run`` takes a spec path as well as a pipeline name; validate checks one."""
    example = os.path.join("docs", "examples", "gsm8k.yaml")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert "SPEC.yaml" in crucible("run", "--help", cwd=root).stdout
    assert (
        f"{example}: valid: tests/data/gsm8k -> 5 stage(s) -> gsm8k-prepared"
        in crucible("validate", example, cwd=root).stdout
    )
    missing = crucible("run", "no-such-spec.yaml", check=False, cwd=root)
    assert missing.returncode == 2 and "spec file not found: no-such-spec.yaml" in missing.stderr
