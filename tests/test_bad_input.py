"""Bad input through the public API: raise / skip / dead_letter, and counts that reconcile."""

import gzip
import os

import orjson
import pytest

import crucible_datasets as cd


@pytest.fixture
def dirty(tmp_path):
    lines = [b'{"x": 1}', b"not json", b'{"x": 2}', b"[1, 2]", b'{"x": 3}', b'{"x": "\xff"}', b'{"x": 4}']
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def test_raise_names_file_line_offset_reason(dirty):
    with pytest.raises(cd.BadRecordError) as info:
        cd.load(dirty, split="train")
    message = str(info.value)
    assert "dirty.jsonl" in message and "line 2" in message and "byte offset 9" in message


def test_skip_counts(dirty, tmp_path):
    ds = cd.load(dirty, split="train", streaming=True, on_error="skip")
    summary = ds.filter(lambda r: r["x"] != 4).write_jsonl(str(tmp_path / "out"))
    c = summary.counts
    assert (c.rows_read, c.rows_written, c.rows_filtered, c.rows_bad) == (7, 3, 1, 3)
    assert c.reconciles()


def test_dead_letter_defaults_into_output(dirty, tmp_path):
    out = tmp_path / "out"
    ds = cd.load(dirty, split="train", streaming=True, on_error="dead_letter")
    summary = ds.write_parquet(str(out))
    assert summary.counts.rows_bad == 3 and summary.counts.reconciles()
    letters = []
    for root, _, files in os.walk(out / "_errors"):
        for name in files:
            letters += [orjson.loads(line) for line in open(os.path.join(root, name), "rb")]
    assert sorted(r["line"] for r in letters) == [2, 4, 6]
    assert {"file", "line", "offset", "reason", "raw"} <= set(letters[0])
    assert any("UTF-8" in r["reason"] for r in letters)
    assert cd.load(str(out), split="train")["x"] == [1, 2, 3, 4]


def test_dead_letter_eager_needs_errors_path(dirty, tmp_path):
    with pytest.raises(ValueError, match="errors_path"):
        cd.load(dirty, split="train", on_error="dead_letter")
    ds = cd.load(dirty, split="train", on_error="dead_letter", errors_path=str(tmp_path / "errs"))
    assert len(ds) == 4
    assert os.listdir(tmp_path / "errs")


def test_truncated_gzip_names_file(tmp_path):
    data = gzip.compress(b"".join(orjson.dumps({"i": i}) + b"\n" for i in range(10_000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(cd.DataFileError, match="cut.jsonl.gz"):
        cd.load(str(path), split="train")


def test_corrupt_parquet_names_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 100)
    with pytest.raises(cd.DataFileError, match="bad.parquet"):
        cd.load(str(path), split="train")


def test_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        cd.load(str(tmp_path / "nowhere.jsonl"), split="train")
