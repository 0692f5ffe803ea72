"""``write_parquet`` / ``write_jsonl``: shard options checked at the call, bytes read counted."""

from __future__ import annotations

import json
import os

import orjson
import pytest

import crucible_datasets as cd
from crucible_datasets import writing
from crucible_datasets.runners import get_runner, register_runner
from crucible_datasets.runners.beam import BeamRunner
from crucible_datasets.runners.local import LocalRunner
from crucible_datasets.sinks import ParquetSink
from tests.sinks.helpers import plain


def _jsonl(path, n: int, start: int = 0) -> str:
    with open(path, "wb") as f:
        for i in range(start, start + n):
            f.write(orjson.dumps({"id": i, "score": i / n, "text": "x" * (i % 17)}) + b"\n")
    return str(path)


@pytest.fixture
def data(tmp_path) -> str:
    return _jsonl(tmp_path / "train.jsonl", 1000)


@pytest.mark.parametrize("method", ["write_parquet", "write_jsonl"])
@pytest.mark.parametrize(
    "option, value",
    [
        ("num_shards", 0),
        ("num_shards", -2),
        ("max_rows_per_shard", 0),
        ("max_bytes_per_shard", -1),
        ("max_bytes_per_shard", 0),
        ("num_shards", 1.5),
    ],
)
def test_bad_shard_options_raise_before_anything_runs(tmp_path, data, method, option, value):
    ds = cd.load(data, split="train", streaming=True)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=option):
        getattr(ds, method)(str(out), **{option: value})
    assert not out.exists()


def test_run_write_refuses_zero_shards(tmp_path, data):
    ds = cd.load(data, split="train", streaming=True)
    sink = ParquetSink(str(tmp_path / "out"))
    with pytest.raises(ValueError, match="num_shards"):
        writing.run_write(ds.pipeline, sink, num_shards=0)


@pytest.mark.parametrize("method", ["write_parquet", "write_jsonl"])
def test_max_bytes_per_shard_adds_shards(tmp_path, data, method):
    ds = cd.load(data, split="train", streaming=True)
    one = getattr(ds, method)(str(tmp_path / "one"))
    capped = getattr(ds, method)(str(tmp_path / "capped"), max_bytes_per_shard=4096)
    assert len(one.files) == 1
    assert len(capped.files) > 2 and capped.rows == 1000
    assert max(capped.file_rows) - min(capped.file_rows) <= 1


def test_readme_filter_writes_exactly_four_balanced_shards(tmp_path, data):
    ds = cd.load(data, split="train", streaming=True).filter(lambda r: r["score"] > 0.5)
    summary = ds.write_parquet(str(tmp_path / "out"), num_shards=4)
    expected = [f"train-{i:05d}-of-00004.parquet" for i in range(4)]
    assert [plain(os.path.basename(f)) for f in summary.files] == expected
    assert summary.file_rows == [125, 125, 125, 124]


def test_bytes_read_is_the_input_size(tmp_path):
    os.mkdir(tmp_path / "in")
    files = [_jsonl(tmp_path / "in" / "a.jsonl", 1000), _jsonl(tmp_path / "in" / "b.jsonl", 300, start=1000)]
    ds = cd.load(str(tmp_path / "in" / "*.jsonl"), split="train", streaming=True)
    summary = ds.filter(lambda r: r["id"] % 2 == 0).write_jsonl(str(tmp_path / "out"), num_shards=3)
    size = sum(os.path.getsize(f) for f in files)
    assert summary.counts.bytes_read == size and summary.counts.files_read == 2
    assert summary.as_dict()["counts"]["bytes_read"] == size
    with open(tmp_path / "out" / "manifest.json") as f:
        entry = json.load(f)["configs"]["default"]["splits"]["train"]
    assert entry["counts"]["bytes_read"] == size


def test_bytes_read_of_a_whole_stream_pipeline(tmp_path, data):
    ds = cd.load(data, split="train", streaming=True).shuffle(seed=1).take(10)
    summary = ds.write_parquet(str(tmp_path / "out"), num_shards=2)
    assert summary.counts.bytes_read == os.path.getsize(data)
    assert summary.file_rows == [5, 5]


class CountingRunner:
    """A runner from outside the package: the registry is all ``run_write`` asks."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def write(self, pipeline, sink, *, num_shards=None, options=(), progress=None, allow_empty=False):
        self.calls.append({"num_shards": num_shards, "options": list(options)})
        return LocalRunner().write(pipeline, sink, num_shards=num_shards, progress=progress)

    def builds_only(self, options):
        return False


def test_run_write_asks_the_runner_registry(tmp_path, data):
    runner = CountingRunner()
    register_runner("counting", lambda: runner)
    summary = cd.load(data, split="train", streaming=True).write_jsonl(
        str(tmp_path / "out"), num_shards=2, runner="counting"
    )
    assert runner.calls == [{"num_shards": 2, "options": []}] and summary.rows == 1000
    assert isinstance(get_runner("direct"), BeamRunner)
    assert get_runner("PortableRunner").name == "PortableRunner"
    with pytest.raises(ValueError, match="Beam flags"):
        get_runner("local").write(None, None, options=["--x"])


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_an_all_bad_input_never_replaces_a_good_output(tmp_path, runner):
    from crucible_datasets.errors import NoGoodRowsError

    good, bad, out = tmp_path / "good.jsonl", tmp_path / "bad.jsonl", tmp_path / "out"
    good.write_text('{"x": 1}\n{"x": 2}\n')
    bad.write_text("not json\n{oops\n[1]\n")
    cd.load(str(good), split="train").write_parquet(str(out))
    before = sorted(p.name for p in (out / "data").iterdir())
    broken = cd.load(str(bad), split="train", streaming=True, on_error="skip")
    says = r"all 3 rows read from .*bad.jsonl .*were bad records"
    with pytest.raises(NoGoodRowsError, match=says) as info:
        broken.write_parquet(str(out), runner=runner)
    assert "allow_empty=True (--allow-empty)" in str(info.value)
    assert f"split 'train' of {out}" in str(info.value)
    assert sorted(p.name for p in (out / "data").iterdir()) == before
    assert cd.load(str(out), split="train")["x"] == [1, 2]

    summary = broken.write_parquet(str(out), runner=runner, allow_empty=True)
    assert (summary.counts.rows_bad, summary.rows, summary.files) == (3, 0, [])
    assert not [p for p in (out / "data").iterdir() if p.name.startswith("train-")]  # the empty split


def test_a_filter_that_drops_every_row_writes_the_empty_split(tmp_path):
    src, out = tmp_path / "a.jsonl", tmp_path / "out"
    src.write_text('{"x": 1}\n{"x": 2}\n')
    cd.load(str(src), split="train").write_jsonl(str(out))
    summary = cd.load(str(src), split="train", streaming=True).filter(lambda r: False).write_jsonl(str(out))
    counts = summary.counts
    assert (counts.rows_read, counts.rows_filtered, summary.rows, summary.files) == (2, 2, 0, [])
    assert not [p for p in (out / "data").iterdir() if p.name.startswith("train-")]
