"""Incremental writes: a sequence of runs over inputs that grow, change and shrink, on local disk,
on the GCS emulator and over the test Hub server. After every generation the split equals a full
run over the same inputs (the same rows), ``cd.load`` and ``datasets.load_dataset`` read it, the
shards of unchanged inputs are the same files, and the manifest records each shard's input and
a history of the runs."""

from __future__ import annotations

import json
import os
import shutil
import time

import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.sinks import card as cards
from crucible_datasets.storage import filesystem as fs

LOAD_IDS = (  # run by the real datasets client: the sorted ids of the split at ARGS["p"]
    "import datasets, json\nprint(json.dumps(sorted(datasets.load_dataset(ARGS['p'], split='train')['id'])))"
)


def lines(ids: range, tag: str = "") -> bytes:
    return b"".join(json.dumps({"id": i, "text": f"row {i}{tag}"}).encode() + b"\n" for i in ids)


def split_entry(out: str) -> dict:
    with fs.open_input(fs.join(out, "README.md")) as f:
        manifest = cards.embedded_manifest(f.read().decode())
    return manifest["configs"]["default"]["splits"]["train"]


def shard_rows(out: str) -> list[dict]:
    rows = []
    for shard in split_entry(out)["shards"]:
        with fs.open_input(fs.join(out, shard["file"])) as f:
            rows += schemas.to_pylist(pq.read_table(f))
    return rows


def by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["id"])


def label(row: dict) -> dict:
    return {**row, "label": row["id"] % 3}


def incremental(src: str, out: str, **kwargs) -> cd.WriteSummary:
    ds = cd.load(src, split="train", streaming=True).map(label).where("id >= 0")
    return ds.write_parquet(out, incremental=True, **kwargs)


def full(src: str, out: str) -> list[dict]:
    """The rows of a full (not incremental) run over ``src``."""
    cd.load(src, split="train", streaming=True).map(label).where("id >= 0").write_parquet(out)
    return by_id(shard_rows(out))


def check_generation(src: str, out: str, full_out: str, number: int, files_read: int) -> dict:
    """The split at ``out`` after generation ``number`` equals a full run over ``src``."""
    summary = incremental(src, out)
    expected = full(src, full_out)
    assert summary.counts.files_read == files_read
    assert by_id(shard_rows(out)) == expected
    assert by_id(cd.load(out, split="train").to_list()) == expected
    entry = split_entry(out)
    assert entry["generation"].startswith(f"g{number:06d}-")
    assert entry["rows"] == len(expected) == summary.rows
    assert entry["data_files"] == [s["file"] for s in entry["shards"]]  # the card lists every shard
    assert len(entry["history"]) == number
    for name in ("README.md", "manifest.json") if os.path.isabs(src) else ():
        with fs.open_input(f"{out}/{name}") as f:  # the card and the manifest never show a local path
            assert src.encode() not in f.read()
    for shard in entry["shards"]:
        (source,) = shard["inputs"]
        assert source["file"] in entry["inputs"] and entry["inputs"][source["file"]] == source["fingerprint"]
    return entry


def names_by_input(entry: dict) -> dict[str, str]:
    return {s["inputs"][0]["file"].rsplit("/", 1)[-1]: s["file"] for s in entry["shards"]}


def test_a_local_sequence_equals_a_full_run_after_every_generation(tmp_path, hf_python):
    src, out = tmp_path / "src", str(tmp_path / "out")
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(range(0, 5)))
    (src / "b.jsonl").write_bytes(lines(range(5, 8)))
    seen = []

    first = check_generation(str(src), out, str(tmp_path / "full1"), 1, files_read=2)
    seen.append(by_id(shard_rows(out)))
    (src / "c.jsonl").write_bytes(lines(range(8, 12)))  # added
    b_shard = os.path.join(out, names_by_input(first)["b.jsonl"])
    b_stat = os.stat(b_shard)
    second = check_generation(str(src), out, str(tmp_path / "full2"), 2, files_read=1)
    seen.append(by_id(shard_rows(out)))
    assert names_by_input(second)["b.jsonl"] == names_by_input(first)["b.jsonl"]  # kept: the same file
    assert os.stat(b_shard).st_mtime_ns == b_stat.st_mtime_ns and os.stat(b_shard).st_ino == b_stat.st_ino
    history = second["history"][-1]
    assert (history["added"]["files"], history["changed"]["count"], history["kept"]["count"]) == (
        ["c.jsonl"],  # named relative to the source folder: no local absolute path in the card
        0,
        2,
    )
    time.sleep(0.01)
    (src / "a.jsonl").write_bytes(lines(range(0, 6), " changed"))  # changed
    third = check_generation(str(src), out, str(tmp_path / "full3"), 3, files_read=1)
    seen.append(by_id(shard_rows(out)))
    assert names_by_input(third)["a.jsonl"] != names_by_input(second)["a.jsonl"]
    assert not os.path.exists(os.path.join(out, names_by_input(second)["a.jsonl"]))  # the old shard is gone
    assert third["history"][-1]["changed"]["files"] == ["a.jsonl"]
    (src / "b.jsonl").unlink()  # removed
    fourth = check_generation(str(src), out, str(tmp_path / "full4"), 4, files_read=0)
    seen.append(by_id(shard_rows(out)))
    assert sorted(names_by_input(fourth)) == ["a.jsonl", "c.jsonl"]
    assert not os.path.exists(b_shard)
    assert fourth["history"][-1]["removed"]["files"] == ["b.jsonl"]
    assert [h["rows"] for h in fourth["history"]] == [8, 12, 13, 10]
    assert sorted(os.listdir(os.path.join(out, "data"))) == sorted(
        s["file"].rsplit("/", 1)[-1] for s in fourth["shards"]
    )
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        assert json.load(f)["configs"]["default"]["splits"]["train"]["generation"] == fourth["generation"]
    assert hf_python(LOAD_IDS, p=out) == [r["id"] for r in seen[-1]]


def test_each_generation_is_loadable_by_datasets(tmp_path, hf_python):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(range(3)))
    copies, expected = [], []
    for step in range(3):
        if step == 1:
            (src / "b.jsonl").write_bytes(lines(range(3, 5)))
        if step == 2:
            (src / "a.jsonl").unlink()
        incremental(str(src), str(out))
        copy = tmp_path / f"gen{step}"
        shutil.copytree(out, copy)  # a snapshot of this generation
        copies.append(str(copy))
        expected.append(sorted(r["id"] for r in shard_rows(str(out))))
    got = hf_python(
        "import datasets, json\n"
        "print(json.dumps([sorted(datasets.load_dataset(p, split='train')['id']) for p in ARGS['paths']]))",
        paths=copies,
    )
    assert got == expected == [[0, 1, 2], [0, 1, 2, 3, 4], [3, 4]]


def test_a_new_column_rewrites_the_kept_parquet_shards(tmp_path, hf_python):
    src, out = tmp_path / "src", str(tmp_path / "out")
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(range(3)))
    incremental(str(src), out)
    (src / "b.jsonl").write_bytes(
        b"".join(json.dumps({"id": i, "text": "t", "extra": i}).encode() + b"\n" for i in (7, 8))
    )
    summary = incremental(str(src), out)
    assert summary.counts.files_read == 1
    assert by_id(shard_rows(out)) == full(str(src), str(tmp_path / "full"))
    assert len(summary.files) == 2 and "extra" in summary.schema.names
    assert all(pq.read_schema(f).remove_metadata().equals(summary.schema) for f in summary.files)
    got = hf_python(
        "import datasets, json\nd = datasets.load_dataset(ARGS['p'], split='train')\n"
        "print(json.dumps(sorted([r['id'], r['extra']] for r in d)))",
        p=out,
    )
    assert got == [[0, None], [1, None], [2, None], [7, 7], [8, 8]]


def test_stages_that_need_the_whole_stream_cannot_run_incrementally(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(range(3)))
    ds = cd.load(str(src), split="train", streaming=True)
    out = str(tmp_path / "out")
    for name, whole in (("Shuffle", ds.shuffle(seed=1)), ("Take", ds.take(2)), ("Dedupe", ds.dedupe())):
        with pytest.raises(ValueError, match=f"stages {name} need the whole stream"):
            whole.write_parquet(out, incremental=True)
    with pytest.raises(ValueError, match="num_shards=2 cannot be combined with incremental"):
        ds.write_parquet(out, incremental=True, num_shards=2)
    with pytest.raises(ValueError, match="load the input with streaming=True"):
        cd.load(str(src), split="train").write_parquet(out, incremental=True)
    assert not os.path.exists(out)  # refused before any work


def test_a_sequence_on_the_gcs_emulator(gcs_emulator, tmp_path):
    src, out = gcs_emulator.path("src"), gcs_emulator.path("out")

    def put(name: str, data: bytes) -> None:
        with fs.open_output(fs.join(src, name)) as f:
            f.write(data)

    put("a.jsonl", lines(range(0, 4)))
    put("b.jsonl", lines(range(4, 6)))
    check_generation(src, out, gcs_emulator.path("full1"), 1, files_read=2)
    put("c.jsonl", lines(range(6, 9)))
    second = check_generation(src, out, gcs_emulator.path("full2"), 2, files_read=1)
    put("a.jsonl", lines(range(0, 2), " changed"))  # a new object generation
    third = check_generation(src, out, gcs_emulator.path("full3"), 3, files_read=1)
    assert names_by_input(third)["b.jsonl"] == names_by_input(second)["b.jsonl"]
    fs.delete(fs.join(src, "b.jsonl"))
    fourth = check_generation(src, out, gcs_emulator.path("full4"), 4, files_read=0)
    assert sorted(names_by_input(fourth)) == ["a.jsonl", "c.jsonl"]
    listed = sorted(p.rsplit("/", 1)[-1] for p in fs.list_files(fs.join(out, "data")))
    assert listed == sorted(s["file"].rsplit("/", 1)[-1] for s in fourth["shards"])


def test_a_sequence_of_commits_on_the_hub(hub_server, tmp_path, hf_python):
    repo = hub_server.add_repo(
        "test/growing", {"data/a.jsonl": lines(range(0, 4)), "data/b.jsonl": lines(range(4, 6))}
    )
    src, out = "test/growing", str(tmp_path / "out")
    first = check_generation(src, out, str(tmp_path / "full1"), 1, files_read=2)
    assert set(names_by_input(first)) == {"a.jsonl", "b.jsonl"}
    assert all("@" not in key for key in first["inputs"])  # remembered without the commit
    repo.commit({"data/c.jsonl": lines(range(6, 9))})
    second = check_generation(src, out, str(tmp_path / "full2"), 2, files_read=1)
    repo.commit({"data/a.jsonl": lines(range(0, 3), " changed")})
    third = check_generation(src, out, str(tmp_path / "full3"), 3, files_read=1)
    assert (
        names_by_input(third)["b.jsonl"]
        == names_by_input(second)["b.jsonl"]
        == names_by_input(first)["b.jsonl"]
    )
    snapshot = dict(repo.commits[repo.refs["main"]])
    del snapshot["data/b.jsonl"]
    repo.commit(snapshot, replace=True)
    fourth = check_generation(src, out, str(tmp_path / "full4"), 4, files_read=0)
    assert sorted(names_by_input(fourth)) == ["a.jsonl", "c.jsonl"]
    assert hf_python(LOAD_IDS, p=out) == sorted(r["id"] for r in shard_rows(out))


def test_the_command_line_runs_incrementally(tmp_path, capsys):
    from crucible_datasets.cli import main

    src, out = tmp_path / "src", str(tmp_path / "out")
    src.mkdir()
    (src / "a.jsonl").write_bytes(lines(range(3)))
    command = ["run", "convert", "--input", str(src), "--output", out, "--runner", "local", "--incremental"]
    assert main(command) == 0
    (src / "b.jsonl").write_bytes(lines(range(3, 5)))
    assert main(command) == 0
    assert "read 2," in capsys.readouterr().out  # the second run read the new file only
    entry = split_entry(out)
    assert entry["generation"].startswith("g000002-") and entry["history"][-1]["added"]["count"] == 1
    assert sorted(cd.load(out, split="train")["id"]) == [0, 1, 2, 3, 4]
