"""The bad-record budget (``max_bad_records=``, ``max_bad_fraction=``, ``--max-bad-*``): past it
a write fails naming the worst files, publishes nothing and keeps its dead letters; on the
local runner and on Beam's, through the streaming and eager API and the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest

import crucible_datasets as cd
from crucible_datasets.errors import BadRecordBudgetError

RUNNERS = ["local", "direct"]


def lines(good: int, bad: int, start: int = 0) -> str:
    rows = [orjson.dumps({"id": start + i, "text": f"row {start + i}"}).decode() for i in range(good)]
    return "\n".join(rows + [f"{{broken {i}" for i in range(bad)]) + "\n"


@pytest.fixture
def inputs(tmp_path):
    """``mostly_bad.jsonl`` (2 good, 8 bad), ``one_bad.jsonl`` (9 good, 1 bad), ``clean.jsonl`` (10 good)."""
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "mostly_bad.jsonl").write_text(lines(2, 8, 0))
    (folder / "one_bad.jsonl").write_text(lines(9, 1, 100))
    (folder / "clean.jsonl").write_text(lines(10, 0, 200))
    return folder


def published(out) -> tuple[bytes, list[str], list[int]]:
    """The card, the data files and the ids a reader sees."""
    with open(os.path.join(out, "README.md"), "rb") as f:
        card = f.read()
    ids = sorted(cd.load(str(out), split="train")["id"])
    return card, sorted(os.listdir(os.path.join(out, "data"))), ids


def write_previous(out) -> tuple[bytes, list[str], list[int]]:
    cd.Dataset.from_list([{"id": -1, "text": "previous"}]).write_parquet(str(out))
    return published(out)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runner", RUNNERS)
def test_over_the_record_budget_fails_names_the_worst_files_and_publishes_nothing(inputs, tmp_path, runner):
    out = tmp_path / "out"
    before = write_previous(out)
    ds = cd.load(str(inputs), split="train", streaming=True, on_error="dead_letter")
    with pytest.raises(BadRecordBudgetError) as caught:
        ds.write_parquet(str(out), runner=runner, max_bad_records=5)
    error = caught.value
    message = str(error)
    assert "9 of the 30 rows read" in message and "max_bad_records=5" in message
    assert "nothing was published" in message
    worst = [(os.path.basename(path), n) for path, n in error.worst]
    assert worst == [("mostly_bad.jsonl", 8), ("one_bad.jsonl", 1)]
    assert message.index("mostly_bad.jsonl: 8 bad") < message.index("one_bad.jsonl: 1 bad")
    assert published(out) == before  # the previous output, as it was, readable
    kept = error.kept_at
    assert kept is not None and f"dead letters are kept in {kept}" in message
    assert os.path.relpath(kept, out).startswith(".crucible-rejected" + os.sep)  # hidden from readers
    letters = [
        orjson.loads(line) for name in os.listdir(kept) for line in open(os.path.join(kept, name), "rb")
    ]
    assert len(letters) == 9
    assert sorted(os.path.basename(x["file"]) for x in letters) == ["mostly_bad.jsonl"] * 8 + [
        "one_bad.jsonl"
    ]
    assert not os.path.exists(out / ".crucible-tmp")  # temp files gone, the lease released
    again = ds.write_parquet(str(out), runner=runner, max_bad_records=9)  # the next run is not locked out
    assert again.counts.rows_bad == 9 and again.rows == 21
    assert os.listdir(kept), "a later run of the split keeps the rejected run's dead letters"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runner", RUNNERS)
def test_over_the_fraction_budget_fails_the_same_on_both_runners(inputs, tmp_path, runner):
    out = tmp_path / "out"
    before = write_previous(out)
    ds = cd.load(str(inputs), split="train", streaming=True, on_error="skip")
    with pytest.raises(
        BadRecordBudgetError, match=r"max_bad_fraction=0\.2 \(at most 6 of 30 rows read\)"
    ) as caught:
        ds.write_jsonl(str(out), runner=runner, max_bad_fraction=0.2)
    assert "30.00%" in str(caught.value) and "no dead letters were written" in str(caught.value)
    assert caught.value.kept_at is None
    assert published(out) == before


@pytest.mark.timeout(300)
@pytest.mark.parametrize("runner", RUNNERS)
def test_within_the_budget_the_write_publishes(inputs, tmp_path, runner):
    out = tmp_path / "out"
    ds = cd.load(str(inputs), split="train", streaming=True, on_error="dead_letter")
    # 9 bad of 30 read is exactly 30%: at the budget, not over it
    summary = ds.write_parquet(str(out), runner=runner, max_bad_records=9, max_bad_fraction=0.3)
    assert (summary.rows, summary.counts.rows_bad) == (21, 9)
    assert summary.counts.bad_by_file == {
        str(inputs / "mostly_bad.jsonl"): 8,
        str(inputs / "one_bad.jsonl"): 1,
    }
    assert len(cd.load(str(out), split="train")) == 21
    entry = orjson.loads((out / "manifest.json").read_bytes())["configs"]["default"]["splits"]["train"]
    assert entry["bad_files"] == [["mostly_bad.jsonl", 8], ["one_bad.jsonl", 1]]
    assert not (out / ".crucible-rejected").exists()


@pytest.mark.timeout(120)
def test_a_filtered_pipeline_counts_bad_records_against_all_rows_read(inputs, tmp_path):
    out = tmp_path / "out"
    ds = cd.load(str(inputs), split="train", streaming=True, on_error="skip").filter(lambda r: r["id"] < 0)
    with pytest.raises(BadRecordBudgetError, match="9 of the 30 rows read"):
        ds.write_parquet(str(out), max_bad_records=0)
    assert not os.path.exists(out / "README.md")  # a first publish that failed: nothing at all


@pytest.mark.timeout(120)
def test_eager_datasets_take_the_budget_and_check_its_values_before_any_work(inputs, tmp_path):
    eager = cd.load(str(inputs), split="train", on_error="skip")  # bad records were dropped by load()
    assert len(eager) == 21
    summary = eager.write_parquet(str(tmp_path / "eager"), max_bad_records=0)
    assert summary.counts.rows_bad == 0 and summary.rows == 21
    for bad in ({"max_bad_records": -1}, {"max_bad_records": 1.5}, {"max_bad_fraction": 1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            eager.write_jsonl(str(tmp_path / "never"), **bad)
    assert not (tmp_path / "never").exists()


@pytest.mark.timeout(120)
def test_under_on_error_raise_the_first_bad_record_stops_the_read(inputs, tmp_path):
    ds = cd.load(str(inputs / "mostly_bad.jsonl"), split="train", streaming=True)
    with pytest.raises(cd.BadRecordError, match="mostly_bad.jsonl, line 3"):
        ds.write_parquet(str(tmp_path / "out"), max_bad_records=100)


def crucible(*args):
    return subprocess.run(
        [sys.executable, "-m", "crucible_datasets.cli", *args], capture_output=True, text=True, timeout=240
    )


@pytest.mark.timeout(300)
def test_cli_flags(inputs, tmp_path):
    out = tmp_path / "out"
    base = ("run", "convert", "--input", str(inputs), "--output", str(out), "--on-error", "dead_letter")
    proc = crucible(*base, "--max-bad-records", "3")
    assert proc.returncode == 2, proc.stderr
    assert "over the budget max_bad_records=3" in proc.stderr and "mostly_bad.jsonl: 8 bad" in proc.stderr
    assert "dead letters are kept in" in proc.stderr and ".crucible-rejected" in proc.stderr
    assert not (out / "README.md").exists()
    proc = crucible(*base, "--max-bad-fraction", "0.25", "--runner", "direct")
    assert proc.returncode == 2 and "max_bad_fraction=0.25" in proc.stderr, proc.stderr
    proc = crucible(*base, "--max-bad-fraction", "1.5")
    assert proc.returncode == 2 and "--max-bad-fraction: must be at least 0 and below 1" in proc.stderr
    proc = crucible(*base, "--max-bad-records", "9", "--max-bad-fraction", "0.3")
    assert proc.returncode == 0, proc.stderr
    assert "bad 9" in proc.stdout and len(cd.load(str(out), split="train")) == 21
