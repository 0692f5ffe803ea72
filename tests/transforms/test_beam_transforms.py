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

import crucible_datasets as cd
import crucible_datasets.transforms as ct
from crucible_datasets.batch import Batch
from crucible_datasets.formats.base import ReadOptions
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.sources import FileSource
from crucible_datasets.transforms.beam import SplitSource
from crucible_datasets.transforms.columns import SelectColumns
from crucible_datasets.transforms.rows import RowFilter
from tests.sinks.helpers import plain


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


def source_of(files, chunk_bytes=64, batch_rows=4, kind=RowLists, rows=False) -> SplitSource:
    return kind(FileSource(tuple(files), options=ReadOptions(batch_rows=batch_rows)), chunk_bytes, rows=rows)


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
    # rows=True: the formats' own parts cut batches elsewhere than a whole read does
    source = source_of(mixed_files, kind=SplitSource, rows=True)
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
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(ValueError, match="cannot tell the format"):
        ct.ReadSplit(str(tmp_path / "notes.md"))
    with pytest.raises(ValueError, match="whole collection"):
        ct.ApplyStages([ct.TakeStage(3)])


# --- the Beam source contract for users' own pipelines -------------------------------------------


@pytest.fixture()
def unsplittable_files(tmp_path) -> dict[str, str]:
    """A gzip JSON Lines file, a CSV with a quoted newline and a JSON array: each read whole."""
    gz = str(tmp_path / "a.jsonl.gz")
    with gzip.open(gz, "wb") as f:
        f.write(b"".join(orjson.dumps(r) + b"\n" for r in sample_rows(6)))
    csv = tmp_path / "b.csv"
    csv.write_bytes(b'id,text\n1,"two\nlines"\n2,x\n3,y\n4,z\n5,w\n6,v\n')
    js = tmp_path / "c.json"
    js.write_bytes(orjson.dumps(sample_rows(6)))
    return {"gz": gz, "csv": str(csv), "json": str(js)}


def test_unsplittable_reads_have_one_split_point(unsplittable_files):
    for kind, path in unsplittable_files.items():
        source = ct.ReadSplit(path, rows=True, batch_rows=2).source
        assert len(list(source.split(1))) == 1, kind
        tracker = source.get_range_tracker(None, None)
        assert tracker.split_points() == (0, 1), kind
        reader = iter(source.read(tracker))
        first = next(reader)
        assert tracker.split_points() == (0, 1), kind
        for fraction in (0.0, 0.01, 0.5, 0.99):
            assert tracker.try_split(tracker.position_at_fraction(fraction)) is None, (kind, fraction)
        rest = list(reader)
        assert len([first, *rest]) == 6 and tracker.split_points() == (1, 0), kind
        for before in (0, 1, 3, 5):
            for fraction in (0.1, 0.5, 0.9):
                source_test_utils.assert_split_at_fraction_fails(source, before, fraction)


def test_split_points_count_chunks_while_reading(tmp_path):
    path = str(tmp_path / "a.jsonl")
    write_lines(path, sample_rows(40))
    size = os.path.getsize(path)
    source = ct.ReadSplit(path, rows=True, chunk_bytes=200, batch_rows=1000).source
    chunks = -(-size // 200)
    tracker = source.get_range_tracker(None, None)
    assert tracker.split_points() == (0, chunks)
    seen = []
    for _ in source.read(tracker):
        seen.append(tracker.split_points())
    claimed = sorted(set(seen))
    assert claimed == [(k, chunks - k) for k in range(chunks)]  # (consumed, remaining incl. current)
    assert tracker.split_points() == (chunks, 0)
    for bundle in source.split(333):  # ranges that start between chunk boundaries
        a, b = bundle.start_position, bundle.stop_position
        total = len({a} | set(range(-(-a // 200) * 200, b, 200)))  # the claims: a, then each boundary
        tracker = source.get_range_tracker(a, b)
        assert tracker.split_points() == (0, total)
        states = {tracker.split_points() for _ in source.read(tracker)}
        assert states <= {(k, total - k) for k in range(total)} and tracker.split_points() == (total, 0)


def test_split_accepts_any_positive_bundle_size(mixed_files):
    source = source_of(mixed_files, kind=SplitSource, rows=True)
    for desired in (float("inf"), 1e30, 0.5, 7):
        bundles = list(source.split(desired))
        if desired > 1e6:
            assert len(bundles) == len(mixed_files)  # one bundle per file
        source_test_utils.assert_sources_equal_reference_source(
            (source, None, None), [(b.source, b.start_position, b.stop_position) for b in bundles]
        )
    for bad in (0, -1, float("nan"), float("-inf")):
        with pytest.raises(ValueError, match="desired_bundle_size"):
            list(source.split(bad))


def fractions_while_reading(source) -> list[float]:
    tracker = source.get_range_tracker(None, None)
    return [tracker.fraction_consumed() for _ in source.read(tracker)]


def test_progress_advances_within_a_chunk(tmp_path, unsplittable_files):
    jsonl = str(tmp_path / "a.jsonl")
    write_lines(jsonl, sample_rows(40))
    parquet = str(tmp_path / "b.parquet")
    pq.write_table(pa.Table.from_pylist(sample_rows(12)), parquet, row_group_size=12)
    for path, batch_rows in ((jsonl, 5), (parquet, 3), (unsplittable_files["csv"], 1)):
        # one chunk holds the whole file: only progress inside the chunk can move the fraction
        got = fractions_while_reading(ct.ReadSplit(path, chunk_bytes=1 << 20, batch_rows=batch_rows).source)
        assert len(got) > 2, path
        assert all(0 < f < 1 for f in got), (path, got)
        assert got == sorted(got) and got[-1] > got[0], (path, got)
    got = fractions_while_reading(ct.ReadSplit(parquet, batch_rows=3).source)
    assert got[:3] == pytest.approx([0.25, 0.5, 0.75], abs=0.01)  # exact: rows of the row group


def test_rows_compare_by_value_in_a_pipeline(mixed_files):
    expected = sample_rows(40) + sample_rows(30, 100) + sample_rows(10, 200)
    with beam.Pipeline(runner=FnApiRunner()) as root:
        rows = root | ct.ReadSplit(mixed_files, rows=True, batch_rows=4, chunk_bytes=256)
        assert_that(rows, equal_to(expected))
    with pytest.raises(Exception, match="Failed assert"):
        with beam.Pipeline(runner=FnApiRunner()) as root:
            rows = root | ct.ReadSplit(mixed_files, rows=True)
            assert_that(rows, equal_to(expected[1:]))


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_split_rows_equal_the_whole_read(tmp_path, kind):
    path = str(tmp_path / f"a.{kind}")
    if kind == "jsonl":
        write_lines(path, sample_rows(10))
    else:
        pq.write_table(pa.Table.from_pylist(sample_rows(10)), path, row_group_size=3)
    source = ct.ReadSplit(path, rows=True, chunk_bytes=60, batch_rows=2).source
    assert source_test_utils.read_from_source(source) == sample_rows(10)
    for desired in (1, 100, 400, float("inf")):
        bundles = list(source.split(desired))
        source_test_utils.assert_sources_equal_reference_source(
            (source, None, None), [(b.source, b.start_position, b.stop_position) for b in bundles]
        )
    # the concurrent trials re-read the file up to 1000 times: once (JSON Lines) is enough
    source_test_utils.assert_split_at_fraction_exhaustive(source, perform_multi_threaded_test=kind == "jsonl")


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
            assert [plain(f) for f in files] == [f"train-0000{i}-of-00003.parquet" for i in range(3)]
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


def not_seven(row: dict) -> bool:
    return row["k"] != 7


def test_key_dedupe_keeps_the_first_row_on_every_runner(tmp_path):
    # duplicates of a key differ outside it, and a later duplicate has the smaller canonical JSON
    rows = [{"k": i % 700, "v": 10_000 - i, "text": "x" * (i % 11)} for i in range(3000)]
    path = str(tmp_path / "in.jsonl")
    write_lines(path, rows)
    expected = Counter(canon(r) for r in rows if r["k"] != 7 and r["v"] > 10_000 - 700)
    ds = cd.load(path, split="train", streaming=True).filter(not_seven).dedupe(key="k")
    local = ds.write_jsonl(str(tmp_path / "local"), num_shards=2)
    beam_run = ds.write_jsonl(str(tmp_path / "direct"), num_shards=2, runner="direct")
    out = str(tmp_path / "transforms")
    with beam.Pipeline(runner=FnApiRunner()) as root:
        _ = (
            root
            | ct.ReadSplit(path, batch_rows=50, chunk_bytes=4096)
            | ct.Filter(not_seven)  # a per-batch stage keeps the batches' positions
            | ct.Dedupe(key="k")
            | ct.WriteSplit(JsonlSink(out))
        )
    for folder in (local.path, beam_run.path, out):
        data = os.path.join(folder, "data")
        lines = [line for f in os.listdir(data) for line in open(os.path.join(data, f), "rb")]
        assert Counter(canon(orjson.loads(line)) for line in lines) == expected, folder


def test_batches_carry_their_position_through_per_batch_stages(tmp_path):
    path = str(tmp_path / "in.jsonl")
    write_lines(path, sample_rows(40))
    source = source_of([path], chunk_bytes=200, batch_rows=3, kind=SplitSource)
    batches = source_test_utils.read_from_source(source)
    positions = [b.position for b in batches]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(0 <= p[0] < 1 for p in positions)
    [out] = ct.ApplyStages([RowFilter(is_even)]).stages[0].apply(iter(batches[1:2]), ct.StageCounter())
    assert out.position == batches[1].position
    assert pickle.loads(pickle.dumps(out)).position == out.position


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
    assert [plain(f) for f in files] == ["train-00000-of-00002.jsonl", "train-00001-of-00002.jsonl"]
    ids = [orjson.loads(line)["id"] for f in files for line in open(os.path.join(out, "data", f), "rb")]
    assert sorted(ids) == list(range(0, 20000, 2))


class FirstOfEach(ct.KeyedStage):
    def key(self, row, position):
        return row["id"]

    def choose(self, a, b):
        return min(a, b, key=lambda pair: pair[0])

    def order(self, key, position):
        return position


def test_for_stage_maps_stages_to_transforms():
    assert isinstance(ct.for_stage(FirstOfEach()), ct.Keyed)
    assert isinstance(ct.for_stage(ct.ShuffleStage(seed=1)), ct.Shuffle)
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
