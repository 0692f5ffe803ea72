"""ParquetSink (and the shared Sink/TaskWriter machinery) on real files."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import ParquetSink, TaskResult, WriteSummary
from crucible_datasets.sinks.shards import shard_counts
from tests.sinks.helpers import (
    card_front_matter,
    files_under,
    filled,
    manifest,
    plain,
    read_parquet_rows,
    write,
)


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"id": i, "text": f"row {i}"} for i in range(start, start + n)]


def listed(folder) -> list[str]:
    """The names in ``folder``, sorted, without their publish generation."""
    return sorted(plain(name) for name in os.listdir(folder))


# --- naming and caps -----------------------------------------------------------------------------


def test_one_task_one_shard(tmp_path):
    summary = write(ParquetSink(tmp_path), [[rows(3)]])
    assert files_under(tmp_path) == ["README.md", "data/train-00000-of-00001.parquet", "manifest.json"]
    assert [plain(f) for f in summary.files] == [os.path.join(tmp_path, "data/train-00000-of-00001.parquet")]
    assert summary.file_rows == [3] and summary.rows == 3
    assert summary.file_bytes == [os.path.getsize(summary.files[0])]
    assert read_parquet_rows(summary.files) == rows(3)


def test_row_cap_rolls_over_and_names_follow_task_then_roll(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=4)
    # task 0: 10 rows in batches of 3 -> 4, 4, 2; task 1: 0 rows; task 2: 5 rows -> 4, 1
    summary = write(sink, [[rows(3), rows(3, 3), rows(3, 6), rows(1, 9)], [], [rows(5, 100)]])
    names = [os.path.relpath(f, tmp_path) for f in summary.files]
    assert [plain(n) for n in names] == [f"data/train-{i:05d}-of-00005.parquet" for i in range(5)]
    assert len({n[len("data/train-00000-of-00005") : -len(".parquet")] for n in names}) == 1  # one generation
    assert summary.file_rows == [4, 4, 2, 4, 1]
    assert [pq.read_metadata(f).num_rows for f in summary.files] == [4, 4, 2, 4, 1]
    assert read_parquet_rows(summary.files) == rows(10) + rows(5, 100)
    assert not os.path.exists(tmp_path / ".crucible-tmp")


def test_config_and_split_names(tmp_path):
    summary = write(ParquetSink(tmp_path, split="validation", config="en"), [[rows(2)]])
    assert plain(os.path.relpath(summary.files[0], tmp_path)) == "en/validation-00000-of-00001.parquet"
    meta = card_front_matter(tmp_path)
    assert meta["configs"] == [
        {"config_name": "en", "data_files": [{"split": "validation", "path": "en/validation-*.parquet"}]}
    ]
    assert meta["dataset_info"]["config_name"] == "en"


@pytest.mark.parametrize("split", ["train-x", "a/b", "", "x y"])
def test_bad_split_names_are_refused(tmp_path, split):
    with pytest.raises(ValueError, match="split name"):
        ParquetSink(tmp_path, split=split)


def test_byte_cap_rolls_over(tmp_path):
    sink = ParquetSink(tmp_path, max_bytes_per_shard=1000)
    big = [{"text": "x" * 600} for _ in range(4)]
    summary = write(sink, [[[r] for r in big]])
    assert summary.file_rows == [2, 2]


def test_row_groups_are_bounded(tmp_path):
    summary = write(ParquetSink(tmp_path, row_group_rows=10), [[rows(25), rows(7, 25)]])
    meta = pq.read_metadata(summary.files[0])
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 10, 2]


def test_compression_is_applied(tmp_path):
    summary = write(ParquetSink(tmp_path, compression="zstd"), [[rows(5)]])
    assert pq.read_metadata(summary.files[0]).row_group(0).column(0).compression == "ZSTD"


# --- num_shards: the rows re-cut into balanced shards --------------------------------------------


def finalize_tasks(sink: ParquetSink, tasks: list[list[list[dict]]], num_shards: int) -> WriteSummary:
    results = []
    for i, batches in enumerate(tasks):
        with sink.open_task(i) as writer:
            for batch in batches:
                writer.write(Batch.from_rows(batch))
        results.append(writer.result)
    return sink.finalize(results, counts=RunCounts(), num_shards=num_shards)


def test_num_shards_recuts_uneven_tasks_into_balanced_contiguous_shards(tmp_path):
    # the README case: a filter left 5, 247, 247 and 0 rows in the four tasks
    tasks = [[rows(5)], [rows(200, 5), rows(47, 205)], [rows(247, 252)], []]
    summary = finalize_tasks(ParquetSink(tmp_path, row_group_rows=100), tasks, 4)
    names = [plain(os.path.relpath(f, tmp_path)) for f in summary.files]
    assert names == [f"data/train-{i:05d}-of-00004.parquet" for i in range(4)]
    assert summary.file_rows == [125, 125, 125, 124]
    assert [pq.read_metadata(f).num_rows for f in summary.files] == [125, 125, 125, 124]
    assert read_parquet_rows(summary.files) == rows(499)  # in task order
    assert summary.file_bytes == [os.path.getsize(f) for f in summary.files]
    assert [s["rows"] for s in manifest(tmp_path)["configs"]["default"]["splits"]["train"]["shards"]] == [
        125, 125, 125, 124
    ]  # fmt: skip
    assert not os.path.exists(tmp_path / ".crucible-tmp")


def test_num_shards_renames_a_temp_file_that_is_exactly_one_shard(tmp_path):
    sink = ParquetSink(tmp_path)
    results = []
    for i in range(2):
        with sink.open_task(i) as writer:
            writer.write(Batch.from_rows(rows(3, 3 * i)))
        results.append(writer.result)
    inodes = [os.stat(r.shards[0].path).st_ino for r in results]
    summary = sink.finalize(results, num_shards=2)
    assert [os.stat(f).st_ino for f in summary.files] == inodes
    assert read_parquet_rows(summary.files) == rows(6)


def _task_results(sink, counts):
    results, start = [], 0
    for i, n in enumerate(counts):
        with sink.open_task(i) as writer:
            writer.write(Batch.from_rows(rows(n, start)))
        results.append(writer.result)
        start += n
    return results


def test_task_aligned_files_within_one_write_batch_are_published_as_they_are(tmp_path):
    sink = ParquetSink(tmp_path)
    results = _task_results(sink, [30_000, 30_900])  # 900 rows apart: less than one write batch
    inodes = [os.stat(r.shards[0].path).st_ino for r in results]
    summary = sink.finalize(results, num_shards=2, task_aligned=True)
    assert summary.file_rows == [30_000, 30_900]
    assert [os.stat(f).st_ino for f in summary.files] == inodes  # renamed, not rewritten
    assert read_parquet_rows(summary.files) == rows(60_900)


@pytest.mark.parametrize(
    "counts, aligned",
    [([30_000, 33_000], True), ([5, 247], True), ([30_000, 30_900], False)],
    ids=["more-than-a-batch-apart", "more-than-a-tenth-apart", "not-task-aligned"],
)
def test_uneven_or_unaligned_files_are_recut(tmp_path, counts, aligned):
    sink = ParquetSink(tmp_path)
    summary = sink.finalize(_task_results(sink, counts), num_shards=2, task_aligned=aligned)
    assert summary.file_rows == shard_counts(sum(counts), 2)
    assert read_parquet_rows(summary.files) == rows(sum(counts))


def test_fewer_rows_than_num_shards_gives_one_shard_per_row(tmp_path):
    summary = finalize_tasks(ParquetSink(tmp_path), [[rows(2)], [rows(1, 2)]], 5)
    assert summary.file_rows == [1, 1, 1]
    assert plain(os.path.basename(summary.files[-1])) == "train-00002-of-00003.parquet"
    assert read_parquet_rows(summary.files) == rows(3)


def test_num_shards_with_a_row_cap_adds_balanced_shards(tmp_path):
    summary = finalize_tasks(ParquetSink(tmp_path, max_rows_per_shard=4), [[rows(10)]], 2)
    assert summary.file_rows == [4, 3, 3]
    assert read_parquet_rows(summary.files) == rows(10)


def test_num_shards_recut_unifies_the_schema(tmp_path):
    tasks = [[[{"id": 0, "text": None}]], [[{"id": 1, "text": "b"}, {"id": 2, "text": "c"}]]]
    summary = finalize_tasks(ParquetSink(tmp_path), tasks, 2)
    assert summary.file_rows == [2, 1]
    assert {str(pq.read_schema(f).field("text").type) for f in summary.files} == {"string"}
    assert read_parquet_rows(summary.files) == [{"id": i, "text": t} for i, t in enumerate([None, "b", "c"])]


@pytest.mark.parametrize("bad", [0, -1])
def test_num_shards_below_one_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="num_shards"):
        finalize_tasks(ParquetSink(tmp_path), [[rows(2)]], bad)


# --- empty data ----------------------------------------------------------------------------------


def test_empty_split_with_a_known_schema_gets_one_empty_shard(tmp_path):
    sink = ParquetSink(tmp_path)
    writer = sink.open_task(0)
    writer.write(Batch.from_arrow(pa.table({"a": pa.array([], pa.int64())})))
    summary = sink.finalize([writer.close(), sink.open_task(1).close()], counts=RunCounts())
    assert summary.file_rows == [0]
    table = pq.read_table(summary.files[0])
    assert table.num_rows == 0 and table.schema.names == ["a"]
    # the config's only split: listed (datasets streams it; beside splits with rows it is left out)
    data_files = card_front_matter(tmp_path)["configs"][0]["data_files"]
    assert data_files == [{"split": "train", "path": "data/train-*.parquet"}]
    assert manifest(tmp_path)["configs"]["default"]["splits"]["train"]["shards"][0]["rows"] == 0


def test_empty_split_without_a_schema_writes_no_shard_and_removes_the_old_ones(tmp_path):
    write(ParquetSink(tmp_path), [[rows(3)]])
    sink = ParquetSink(tmp_path)
    summary = sink.finalize([sink.open_task(0).close()], counts=RunCounts())
    assert [plain(f) for f in summary.files] == [] and not os.listdir(tmp_path / "data")
    assert "configs" not in card_front_matter(tmp_path)  # nothing to load
    assert manifest(tmp_path)["configs"]["default"]["splits"]["train"]["rows"] == 0


# --- reruns, other splits, failures --------------------------------------------------------------


def test_rerun_replaces_the_split_and_keeps_other_splits(tmp_path):
    write(ParquetSink(tmp_path, split="test"), [[rows(2)]], source="first")
    write(ParquetSink(tmp_path, max_rows_per_shard=2), [[rows(6)]])
    assert listed(tmp_path / "data") == [
        "test-00000-of-00001.parquet",
        *(f"train-0000{i}-of-00003.parquet" for i in range(3)),
    ]
    summary = write(ParquetSink(tmp_path), [[rows(1, 50)]], source="second")
    assert listed(tmp_path / "data") == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
    ]
    assert read_parquet_rows(summary.files) == rows(1, 50)

    splits = manifest(tmp_path)["configs"]["default"]["splits"]
    assert set(splits) == {"test", "train"}
    assert splits["train"]["rows"] == 1 and splits["train"]["source"] == "second"
    assert splits["test"]["rows"] == 2 and splits["test"]["source"] == "first"
    meta = card_front_matter(tmp_path)
    assert meta["configs"][0]["data_files"] == [
        {"split": "test", "path": "data/test-*.parquet"},
        {"split": "train", "path": "data/train-*.parquet"},
    ]
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == {"test": 2, "train": 1}


def test_rerun_removes_shards_named_by_push_to_hub(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000-of-00002-0123456789abcdef.parquet").write_bytes(b"old")
    (tmp_path / "data" / "train-notes.txt").write_text("mine")
    summary = write(ParquetSink(tmp_path), [[rows(1)]])
    assert listed(tmp_path / "data") == ["train-00000-of-00001.parquet", "train-notes.txt"]
    # the user's file is kept; the card names only the new generation, so no reader takes it for the split
    (entry,) = card_front_matter(tmp_path)["configs"]
    assert entry["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]
    assert not any("train-notes.txt" in w for w in summary.warnings)
    assert cd.load(str(tmp_path), split="train")["id"] == [0]


def test_exception_mid_write_leaves_no_shard_and_the_next_run_works(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=2)
    with pytest.raises(RuntimeError), sink.open_task(0) as writer:
        writer.write(Batch.from_rows(rows(5)))
        raise RuntimeError("map function failed")
    assert not os.path.exists(tmp_path / "data")
    assert [f for f in files_under(tmp_path) if not f.startswith(".crucible-tmp")] == []
    # another task of the same failed run got further; the runner dies before finalize
    other = sink.open_task(1)
    other.write(Batch.from_rows(rows(3)))
    other.close()
    assert files_under(tmp_path)  # only temp files
    assert all(f.startswith(".crucible-tmp/") for f in files_under(tmp_path))

    summary = write(ParquetSink(tmp_path), [[rows(2)]])
    assert files_under(tmp_path) == ["README.md", "data/train-00000-of-00001.parquet", "manifest.json"]
    assert read_parquet_rows(summary.files) == rows(2)


def test_abort_removes_the_temp_files(tmp_path):
    write(ParquetSink(tmp_path), [[rows(1)]])
    sink = ParquetSink(tmp_path)
    writer = sink.open_task(0)
    writer.write(Batch.from_rows(rows(3)))
    writer.close()
    sink.abort()
    assert files_under(tmp_path) == ["README.md", "data/train-00000-of-00001.parquet", "manifest.json"]


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from crucible_datasets.batch import Batch
    from crucible_datasets.sinks import ParquetSink
    sink = ParquetSink(sys.argv[1], max_rows_per_shard=1000, row_group_rows=100)
    writer = sink.open_task(0)
    i = 0
    while True:
        writer.write(Batch.from_rows([{"id": i + k, "text": "x" * 50} for k in range(100)]))
        i += 100
        if i == 2500:
            print("written", flush=True)
        time.sleep(0.001)
    """
)


def test_a_process_killed_mid_write_leaves_no_shard_and_the_next_run_cleans_up(tmp_path):
    write(ParquetSink(tmp_path, split="test"), [[rows(1)]])
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "written"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    temp = [f for f in files_under(tmp_path) if f.startswith(".crucible-tmp/")]
    assert len(temp) >= 3  # two full temp shards and the one being written
    assert listed(tmp_path / "data") == ["test-00000-of-00001.parquet"]

    write(ParquetSink(tmp_path), [[rows(4)]])
    assert files_under(tmp_path) == [
        "README.md",
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
        "manifest.json",
    ]


def test_a_retried_task_overwrites_its_own_temp_files(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=2)
    first = sink.open_task(0)
    first.write(Batch.from_rows(rows(5)))  # attempt 1 dies after writing 3 temp files
    first._file.close()
    first._file = None
    retry = sink.open_task(0)
    retry.write(Batch.from_rows(rows(4, 10)))
    result = retry.close()
    assert [s.path for s in result.shards] == [sink.temp_path(0, 0), sink.temp_path(0, 1)]
    summary = sink.finalize([result], counts=RunCounts(rows_written=4))
    assert read_parquet_rows(summary.files) == rows(4, 10)
    assert not os.path.exists(tmp_path / ".crucible-tmp")


def test_results_of_another_run_are_refused(tmp_path):
    one, two = ParquetSink(tmp_path), ParquetSink(tmp_path)
    writer = one.open_task(0)
    writer.write(Batch.from_rows(rows(1)))
    with pytest.raises(ValueError, match="run"):
        two.finalize([writer.close()])


# --- schema drift --------------------------------------------------------------------------------

DRIFTING = [
    [{"a": None, "b": 1}],
    [{"a": "x", "b": 2}],  # a: null -> string
    [{"a": "y", "b": 2.5}],  # b: int -> float
    [{"a": "z", "b": 3, "c": {"k": 1}}],  # new column
    [{"a": None, "b": [1, 2], "c": {"k": 2, "j": "q"}}],  # b: float -> JSON text, c: struct widened
    [{"a": "w", "b": "text", "c": None}],
]


def test_schema_drift_in_one_task_keeps_every_value(tmp_path):
    summary = write(ParquetSink(tmp_path), [DRIFTING])
    assert len(summary.files) == 1
    table = pq.read_table(summary.files[0])
    assert table.schema.field("a").type == pa.string()
    assert schemas.is_json_text(table.schema.field("b"))
    # objects whose keys differ between batches ({"k"}, then {"k", "j"}): JSON text, so each row
    # comes back as written, with no "j": None it never had
    assert schemas.is_json_text(table.schema.field("c"))
    got = schemas.to_pylist(table)
    expected = filled([r for batch in DRIFTING for r in batch])
    assert got == expected and "j" not in got[3]["c"]
    assert [type(r["b"]) for r in got] == [float, float, float, float, list, str]  # promoted, then JSON text
    assert files_under(tmp_path) == ["README.md", "data/train-00000-of-00001.parquet", "manifest.json"]


def test_schema_drift_across_shards_and_tasks_gives_every_shard_the_same_schema(tmp_path):
    tasks = [DRIFTING[:2], [[{"b": 7}]], DRIFTING[2:], [[{"a": None}]], [[{"d": True, "b": 1}]]]
    summary = write(ParquetSink(tmp_path, max_rows_per_shard=1), tasks)
    assert len(summary.files) == 9
    shard_schemas = [pq.read_schema(f) for f in summary.files]
    assert all(s.equals(shard_schemas[0], check_metadata=True) for s in shard_schemas)
    assert shard_schemas[0].names == ["a", "b", "c", "d"]
    expected = filled([r for batches in tasks for batch in batches for r in batch])
    assert schemas.is_json_text(shard_schemas[0].field("c"))  # its keys differ across tasks
    assert read_parquet_rows(summary.files) == expected
    assert summary.schema.equals(shard_schemas[0].remove_metadata(), check_metadata=True)


def test_list_then_string_across_tasks_round_trips_as_json_text(tmp_path):
    summary = write(ParquetSink(tmp_path), [[[{"v": [1, 2]}]], [[{"v": "s"}]], [[{"v": {"k": None}}]]])
    assert all(schemas.is_json_text(pq.read_schema(f).field("v")) for f in summary.files)
    assert read_parquet_rows(summary.files) == [{"v": [1, 2]}, {"v": "s"}, {"v": {"k": None}}]
    features = card_front_matter(tmp_path)["dataset_info"]["features"]
    assert features == [{"name": "v", "dtype": "json"}]  # datasets 5's Json feature


def test_declared_schema_is_used_and_extra_columns_refused(tmp_path):
    declared = pa.schema([("id", pa.int32()), ("text", pa.large_string()), ("extra", pa.float32())])
    summary = write(ParquetSink(tmp_path, schema=declared), [[rows(2)], [rows(1, 5)]])
    assert all(pq.read_schema(f).equals(declared) for f in summary.files)
    sink = ParquetSink(tmp_path, schema=declared)
    with pytest.raises(ValueError, match="not in the sink's declared schema"), sink.open_task(0) as w:
        w.write(Batch.from_rows([{"id": 1, "other": 2}]))


def test_arrow_batches_and_row_batches_mix(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=3)
    with sink.open_task(0) as writer:
        writer.write(Batch.from_arrow(pa.table({"id": [0, 1], "text": ["row 0", "row 1"]})))
        writer.write(Batch.from_rows(rows(3, 2)))
    summary = sink.finalize([writer.result])
    assert read_parquet_rows(summary.files) == rows(5)
    assert summary.file_rows == [3, 2]


# --- pickling and other processes ---------------------------------------------------------------


def test_sink_writer_and_result_pickle(tmp_path):
    sink = pickle.loads(pickle.dumps(ParquetSink(tmp_path, max_rows_per_shard=2)))
    writer = pickle.loads(pickle.dumps(sink.open_task(0)))
    writer.write(Batch.from_rows(rows(3)))
    with pytest.raises(TypeError, match="open file"):
        pickle.dumps(writer)
    result = pickle.loads(pickle.dumps(writer.close()))
    assert isinstance(result, TaskResult) and result.rows == 3
    assert read_parquet_rows(sink.finalize([result]).files) == rows(3)


def _write_task_in_worker(sink: ParquetSink, task_index: int, batches: list[list[dict]]) -> TaskResult:
    with sink.open_task(task_index) as writer:
        for batch in batches:
            writer.write(Batch.from_rows(batch))
    return writer.result


def test_tasks_written_in_other_processes(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=3)
    tasks = [[rows(4)], [[{"id": 10, "text": None}]], [[{"id": 20, "text": "t", "score": 0.5}]]]
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_write_task_in_worker, [sink] * 3, range(3), tasks))
    summary = sink.finalize(results, counts=RunCounts(rows_read=6, rows_written=6), source="procs")
    assert summary.file_rows == [3, 1, 1, 1]
    assert read_parquet_rows(summary.files) == filled([r for t in tasks for b in t for r in b])


# --- summary, manifest ---------------------------------------------------------------------------


def test_summary_text_and_dict(tmp_path):
    sink = ParquetSink(tmp_path, max_rows_per_shard=2)
    with sink.open_task(0) as writer:
        writer.write(Batch.from_rows(rows(3)))
    counts = RunCounts(rows_read=5, rows_written=3, rows_filtered=1, rows_bad=1)
    summary = sink.finalize([writer.result], counts=counts, source="src.jsonl", wall_seconds=1.25)
    assert isinstance(summary, WriteSummary)
    text = str(summary)
    assert text.startswith("train: 3 rows in 2 shards (")
    assert "data/train-*.parquet; read 5, filtered 1, bad 1; 1.2 s" in text
    with_bytes = RunCounts(rows_read=3, rows_written=3, files_read=2, bytes_read=3 * 1024)
    again = ParquetSink(tmp_path, split="other")
    with again.open_task(0) as writer:
        writer.write(Batch.from_rows(rows(3)))
    assert "; 3.0 KiB from 2 files" in str(again.finalize([writer.result], counts=with_bytes))
    d = summary.as_dict()
    assert d["rows"] == 3 and d["file_rows"] == [2, 1] and d["counts"]["rows_bad"] == 1
    assert d["schema"] == "id: int64\ntext: string"


def test_manifest_describes_the_split(tmp_path):
    summary = write(ParquetSink(tmp_path, max_rows_per_shard=2), [[rows(3)]], source="gsm8k")
    entry = manifest(tmp_path)["configs"]["default"]["splits"]["train"]
    assert entry["rows"] == 3 and entry["format"] == "parquet" and entry["source"] == "gsm8k"
    assert [{**s, "file": plain(s["file"])} for s in entry["shards"]] == [
        {"file": "data/train-00000-of-00002.parquet", "rows": 2, "bytes": summary.file_bytes[0]},
        {"file": "data/train-00001-of-00002.parquet", "rows": 1, "bytes": summary.file_bytes[1]},
    ]
    assert [s["file"] for s in entry["shards"]] == [os.path.relpath(f, tmp_path) for f in summary.files]
    assert entry["data_files"] == f"data/train-*-{entry['generation']}.parquet"
    assert entry["schema"] == "id: int64\ntext: string"
    from crucible_datasets.sinks.manifest import decode_schema

    assert decode_schema(entry["arrow_schema"]).equals(pq.read_schema(summary.files[0]).remove_metadata())
    assert entry["created"].endswith("Z") and entry["counts"]["rows_written"] == 3


def test_a_wider_schema_rewrites_the_open_temp_file(tmp_path):
    sink = ParquetSink(tmp_path)
    writer = sink.open_task(0)
    writer.write(Batch.from_rows([{"a": None}] * 3))
    writer.write(Batch.from_rows([{"a": 1}]))  # null -> int64: rewrite
    writer.write(Batch.from_rows([{"a": 2}]))  # fits
    writer.write(Batch.from_rows([{"a": 0.5, "b": "x"}]))  # int64 -> double and a new column: rewrite
    result = writer.close()
    assert [s.path for s in result.shards] == [sink.temp_path(0, 0, version=2)]
    assert os.listdir(sink.run_dir) == ["task-00000-00000.v2.parquet"]
    assert result.shards[0].schema == pa.schema([("a", pa.float64()), ("b", pa.string())])
    rows_back = read_parquet_rows([result.shards[0].path])
    assert rows_back == [{"a": None, "b": None}] * 3 + [
        {"a": 1.0, "b": None},
        {"a": 2.0, "b": None},
        {"a": 0.5, "b": "x"},
    ]


def test_rows_without_columns(tmp_path):
    sink = ParquetSink(tmp_path)
    with pytest.raises(ValueError, match="no columns"), sink.open_task(0) as writer:
        writer.write(Batch.from_rows([{}, {}]))
    with sink.open_task(1) as writer:
        writer.write(Batch.from_rows([{"a": 1}]))
        writer.write(Batch.from_rows([{}, {}]))  # null rows of the columns seen so far
    summary = sink.finalize([writer.result])
    assert read_parquet_rows(summary.files) == [{"a": 1}, {"a": None}, {"a": None}]


def test_empty_objects_are_kept_as_json_text(tmp_path):
    batches = [
        [{"meta": {}, "deep": {"x": {}}}],
        [{"meta": {"k": 1}, "deep": None}],
        [{"meta": None, "deep": {"x": {"y": 2}}}],
    ]
    summary = write(ParquetSink(tmp_path), [batches, [[{"meta": {}}]]])
    assert all(schemas.is_json_text(pq.read_schema(f).field("meta")) for f in summary.files)
    assert read_parquet_rows(summary.files) == filled([r for b in batches for r in b] + [{"meta": {}}])


def test_finalize_checks_the_temp_files_before_touching_the_split(tmp_path):
    old = write(ParquetSink(tmp_path), [[rows(2)]])
    sink = ParquetSink(tmp_path)
    writer = sink.open_task(0)
    writer.write(Batch.from_rows(rows(3)))
    result = writer.close()
    ParquetSink(tmp_path).abort()  # another run of the split cleans the temp folder
    with pytest.raises(FileNotFoundError, match="temp files"):
        sink.finalize([result])
    assert os.listdir(tmp_path / "data") == [os.path.basename(f) for f in old.files]
    assert read_parquet_rows(old.files) == rows(2)


def test_abort_after_close_voids_the_result(tmp_path):
    sink = ParquetSink(tmp_path)
    writer = sink.open_task(0)
    writer.write(Batch.from_rows(rows(3)))
    writer.close()
    writer.abort()
    assert writer.result is None and not os.listdir(sink.run_dir)
    with pytest.raises(ValueError, match="aborted"):
        writer.close()
