"""The Beam transforms of ``transforms/beam.py``: a splittable source, stages, whole-collection
transforms and the sharded sink, on Beam's FnApiRunner with real files."""

from __future__ import annotations

import gzip
import os
import pickle
from collections import Counter

import apache_beam as beam
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io import source_test_utils
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to

import crucible_datasets.transforms as ct
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import ReadOptions
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.sources import FileSource
from crucible_datasets.transforms.beam import SplitSource
from crucible_datasets.transforms.columns import SelectColumns
from crucible_datasets.transforms.rows import RowFilter


def canon(row: dict) -> bytes:
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


def write_lines(path: str, rows: list[dict], bad_every: int = 0) -> int:
    bad = 0
    with open(path, "wb") as f:
        for i, row in enumerate(rows):
            f.write(orjson.dumps(row) + b"\n")
            if bad_every and i % bad_every == 0:
                f.write(b"{broken\n")
                bad += 1
    return bad


def sample_rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": i, "text": "t" * (i % 13), "score": (i % 10) / 10} for i in range(start, start + n)]


class RowLists(SplitSource):
    """The source with each Batch turned into its list of rows, so that items compare by value
    (the split tests compare the items of reads; batch boundaries must match too)."""

    def read(self, range_tracker):
        for batch in super().read(range_tracker):
            yield [canon(r) for r in batch.rows]


class Rows(SplitSource):
    """The source with its batches flattened into rows (initial splits follow the formats' own
    part boundaries, which cut batches elsewhere than a whole read does)."""

    def read(self, range_tracker):
        for batch in super().read(range_tracker):
            yield from (canon(r) for r in batch.rows)


def source_of(files, chunk_bytes=64, batch_rows=4, kind=RowLists) -> SplitSource:
    return kind(FileSource(tuple(files), options=ReadOptions(batch_rows=batch_rows)), chunk_bytes)


@pytest.fixture()
def mixed_files(tmp_path) -> list[str]:
    a = str(tmp_path / "a.jsonl")
    write_lines(a, sample_rows(40))
    b = str(tmp_path / "b.parquet")
    pq.write_table(pa.Table.from_pylist(sample_rows(30, 100)), b, row_group_size=7)
    c = str(tmp_path / "c.jsonl.gz")
    with gzip.open(c, "wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in sample_rows(10, 200)))
    return [a, b, c]


# --- the splittable source -----------------------------------------------------------------------


def test_split_reads_equal_the_whole_read(mixed_files):
    source = source_of(mixed_files, kind=Rows)
    whole = source_test_utils.read_from_source(source)
    assert len(whole) == 80
    for desired in (1, 50, 300, 10_000):
        bundles = list(source.split(desired))
        assert len(bundles) > 1
        source_test_utils.assert_sources_equal_reference_source(
            (source, None, None), [(b.source, b.start_position, b.stop_position) for b in bundles]
        )


def test_dynamic_splits_jsonl_exhaustive(tmp_path):
    path = str(tmp_path / "a.jsonl")
    write_lines(path, sample_rows(12))
    source_test_utils.assert_split_at_fraction_exhaustive(source_of([path], chunk_bytes=48, batch_rows=2))


def test_dynamic_splits_parquet_and_files(tmp_path):
    a = str(tmp_path / "a.parquet")
    pq.write_table(pa.Table.from_pylist(sample_rows(12)), a, row_group_size=4)
    b = str(tmp_path / "b.jsonl.gz")
    with gzip.open(b, "wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in sample_rows(3, 50)))
    source = source_of([a, b], batch_rows=3)
    source_test_utils.assert_split_at_fraction_exhaustive(source, perform_multi_threaded_test=False)


def test_splits_land_on_chunk_boundaries(tmp_path):
    path = str(tmp_path / "a.jsonl")
    write_lines(path, sample_rows(200))
    source = source_of([path], chunk_bytes=100)
    tracker = source.get_range_tracker(None, None)
    assert tracker.try_claim(0)  # the reader now reads bytes [0, 100)
    assert tracker.try_split(150)[0] == 200 and tracker.stop_position() == 200
    assert tracker.try_split(30)[0] == 100  # not 30: that is inside the chunk being read
    assert not tracker.try_claim(100)


def test_read_split_validates_when_built(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        ct.ReadSplit(str(tmp_path / "missing.jsonl"))
    path = str(tmp_path / "a.jsonl")
    write_lines(path, sample_rows(3))
    with pytest.raises(ValueError, match="errors_path"):
        ct.ReadSplit(path, on_error="dead_letter")
    with pytest.raises(ValueError, match="on_error"):
        ct.ReadSplit(path, on_error="ignore")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="cannot tell the format"):
        ct.ReadSplit(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="whole collection"):
        ct.ApplyStages([ct.TakeStage(3)])


# --- pipelines -----------------------------------------------------------------------------------------


def is_even(row: dict) -> bool:
    return row["id"] % 2 == 0


def with_len(row: dict) -> dict:
    return {"n": len(row["text"])}


def rows_in(pcoll, label: str):
    return pcoll | f"Rows{label}" >> beam.FlatMap(lambda b: [canon(r) for r in b.rows])


def test_read_stages_write_matches_expected(tmp_path):
    rows = sample_rows(5000)
    bad = 0
    paths = []
    for i in range(3):
        path = str(tmp_path / f"in-{i}.jsonl")
        bad += write_lines(path, rows[i::3], bad_every=101)
        paths.append(path)
    errors = str(tmp_path / "errors")
    expected = Counter(canon({"id": r["id"], "n": len(r["text"])}) for r in rows if is_even(r))
    root = beam.Pipeline(runner=FnApiRunner())
    batches = (
        root
        | ct.ReadSplit(
            str(tmp_path / "in-*.jsonl"), on_error="dead_letter", errors_path=errors, chunk_bytes=4096
        )
        | ct.Filter(is_even)
        | ct.Map(with_len)
        | ct.SelectColumns(["id", "n"])
    )
    summaries = {
        n: batches | f"Write{n}" >> ct.WriteSplit(ParquetSink(str(tmp_path / f"out{n}")), num_shards=n)
        for n in (None, 3)
    }
    result = root.run()
    result.wait_until_finish()
    for n, out in (("None", tmp_path / "outNone"), (3, tmp_path / "out3")):
        files = sorted(os.listdir(out / "data"))
        got = Counter(canon(r) for f in files for r in pq.read_table(out / "data" / f).to_pylist())
        assert got == expected, n
        if n == 3:
            assert files == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
        assert os.path.exists(out / "manifest.json") and not os.path.exists(out / ".crucible-tmp")
    letters = [line for f in os.listdir(errors) for line in open(os.path.join(errors, f), "rb")]
    assert len(letters) == bad
    counters = result.metrics().query(MetricsFilter().with_namespace("crucible"))["counters"]
    got: Counter = Counter()
    for c in counters:  # one counter per step that reports it
        got[c.key.metric.name] += c.committed
    assert got["rows_read"] == 5000 and got["rows_bad"] == bad
    assert got["rows_filtered"] == 2500 and got["rows_written"] == 2 * 2500
    assert summaries


def test_whole_collection_transforms(tmp_path):
    rows = sample_rows(300) + sample_rows(100)  # 100 duplicate rows
    path = str(tmp_path / "in.jsonl")
    write_lines(path, rows)
    distinct = sorted({canon(r) for r in rows})
    with beam.Pipeline(runner=FnApiRunner()) as root:
        batches = root | ct.ReadSplit(path, batch_rows=16, chunk_bytes=1000)
        assert_that(rows_in(batches | "Dedupe" >> ct.Dedupe(), "d"), equal_to(distinct), label="dedupe")
        by_score = rows_in(batches | "DedupeKey" >> ct.Dedupe(key="score"), "k")
        count = beam.combiners.Count.Globally
        assert_that(by_score | "CountKeys" >> count(), equal_to([10]), label="dedupe-key")
        taken = rows_in(batches | "Take" >> ct.Take(37), "t")
        assert_that(taken | "CountTake" >> count(), equal_to([37]), label="take")
        shuffled = rows_in(batches | "Shuffle" >> ct.Shuffle(seed=1, buckets=8), "s")
        assert_that(shuffled, equal_to([canon(r) for r in rows]), label="shuffle")
        sampled = rows_in(batches | "Sample" >> ct.Sample(0.5, seed=2), "p")
        expected = [canon(b) for b in ct.SampleStage(0.5, seed=2).process(Batch.from_rows(rows)).rows]
        assert_that(sampled, equal_to(expected), label="sample")


def test_two_workers_read_and_write(tmp_path):
    rows = sample_rows(20000)
    path = str(tmp_path / "in.jsonl")
    write_lines(path, rows)
    out = str(tmp_path / "out")
    options = beam.options.pipeline_options.PipelineOptions(
        ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    )
    with beam.Pipeline(runner=FnApiRunner(), options=options) as root:
        _ = (
            root
            | ct.ReadSplit(path, chunk_bytes=64 << 10)
            | ct.ApplyStages([RowFilter(is_even), SelectColumns(["id"])])
            | ct.WriteSplit(JsonlSink(out), num_shards=2)
        )
    files = sorted(os.listdir(os.path.join(out, "data")))
    assert files == ["train-00000-of-00002.jsonl", "train-00001-of-00002.jsonl"]
    ids = [orjson.loads(line)["id"] for f in files for line in open(os.path.join(out, "data", f), "rb")]
    assert sorted(ids) == list(range(0, 20000, 2))


def test_for_stage_maps_stages_to_transforms():
    assert isinstance(ct.for_stage(ct.TakeStage(3)), ct.Take)
    assert isinstance(ct.for_stage(ct.DedupeStage("a")), ct.Dedupe)
    assert isinstance(ct.for_stage(ct.RowMap(with_len)), ct.ApplyStages)
    with pytest.raises(ValueError, match="skip"):
        ct.for_stage(ct.Skip(2))


def test_batch_pickles_one_form():
    rows = [{"a": 1}, {"b": 2.5}]
    b = Batch.from_rows(rows)
    _ = b.arrow
    back = pickle.loads(pickle.dumps(b))
    assert back.rows == rows and not back.has_arrow  # rows are kept as they were (no None padding)
    arrow_only = pickle.loads(pickle.dumps(Batch.from_arrow(pa.record_batch({"x": [1, 2]}))))
    assert arrow_only.has_arrow and arrow_only.rows == [{"x": 1}, {"x": 2}]
