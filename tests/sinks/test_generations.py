"""Atomic publish by generations: a writer killed (SIGKILL) at every step of its publish leaves a
folder whose readers (cd.load, a glob over the card's data_files, datasets) see the whole previous
split or the whole new one, with a manifest that matches; a rerun completes it. One writer at a
time (the lease); dead letters per run."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets import schema as schemas
from crucible_datasets.sinks import ParquetSink
from crucible_datasets.sinks import card as cards
from crucible_datasets.sinks.lease import Lease, LeaseHeldError
from crucible_datasets.sinks.publish import KILL_AT_RENAME_ENV, PLAN_NAME
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.discovery import LayoutError
from crucible_datasets.storage.readme import split_front_matter
from tests.sinks.helpers import write

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD, NEW = 3, 5  # rows of the previous good output and of the killed run

KILLED = textwrap.dedent(
    """
    import pickle, sys
    from crucible_datasets.batch import Batch
    from crucible_datasets.sinks import ParquetSink
    root, results_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sink = ParquetSink(root, max_rows_per_shard=2, run_id="killed-run")
    with sink.open_task(0) as writer:
        writer.write(Batch.from_rows([{"id": i, "text": f"new {i}"} for i in range(n)]))
    with open(results_path, "wb") as f:
        pickle.dump([writer.result], f)
    sink.finalize([writer.result], source="new")
    """
)


def rows(n: int, word: str) -> list[dict]:
    return [{"id": i, "text": f"{word} {i}"} for i in range(n)]


def read_text(path: str) -> str:
    with fs.open_input(path) as f:
        return f.read().decode()


def card_reader(root: str) -> tuple[list[dict], dict]:
    """A reader that globs the card's data_files (as datasets does) and the card's manifest."""
    text = read_text(fs.join(root, "README.md"))
    meta, _ = split_front_matter(text)
    (entry,) = [c for c in meta["configs"] if c["config_name"] == "default"]
    (item,) = [d for d in entry["data_files"] if d["split"] == "train"]
    paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
    found = sorted({f for p in paths for f in fs.glob(fs.join(root, p))})
    got = []
    for path in found:
        with fs.open_input(path) as f:
            got += schemas.to_pylist(pq.read_table(f))
    manifest = cards.embedded_manifest(text)
    split = manifest["configs"]["default"]["splits"]["train"]
    assert [fs.join(root, s["file"]) for s in split["shards"]] == found  # the card's manifest matches it
    assert split["rows"] == len(got)
    return got, split


def check_whole(root: str) -> str:
    """Every reader sees one whole version; which one ("old" or "new")."""
    got, _ = card_reader(root)
    assert got in (rows(OLD, "old"), rows(NEW, "new")), got
    version = "old" if got == rows(OLD, "old") else "new"
    assert cd.load(root, split="train")["text"] == [r["text"] for r in got]
    manifest = orjson.loads(read_text(fs.join(root, "manifest.json")))
    assert manifest["configs"]["default"]["splits"]["train"]["rows"] in (OLD, NEW)  # the copy may lag
    return version


def kill_at(root: str, step: int, results: str) -> int:
    env = {**os.environ, KILL_AT_RENAME_ENV: str(step)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED, root, results, str(NEW)], env=env, cwd=ROOT, timeout=180
    )
    return proc.returncode


def rerun(root: str, results: str) -> None:
    with open(results, "rb") as f:
        done = ParquetSink(root, max_rows_per_shard=2, run_id="killed-run").finalize(pickle.load(f))
    assert done.rows == NEW and card_reader(root)[0] == rows(NEW, "new")
    published = [p for p in fs.list_files(root) if "/.crucible-tmp/" not in p]
    assert sorted(p.rsplit("/", 1)[-1] for p in published if "/data/" in p) == sorted(
        f.rsplit("/", 1)[-1] for f in done.files
    )  # the previous generation is gone
    if fs.is_remote(root):  # the killed run's temp files and lease are gone
        assert [p for p in fs.list_files(root) if "/.crucible-tmp/" in p] == []
    else:
        assert not os.path.exists(os.path.join(root, ".crucible-tmp"))
    assert (
        orjson.loads(read_text(fs.join(root, "manifest.json")))["configs"]["default"]["splits"]["train"][
            "rows"
        ]
        == NEW
    )


def test_killed_at_every_step_of_the_publish_readers_see_one_whole_version(tmp_path, hf_python):
    template = str(tmp_path / "template")
    write(ParquetSink(template, max_rows_per_shard=2), [[rows(OLD, "old")]])
    steps = 3 + 1 + 1 + 2  # three shard renames, the card switch, manifest.json, two old shards deleted
    seen = []
    for step in range(1, steps + 2):
        root = str(tmp_path / f"kill-{step}")
        shutil.copytree(template, root)
        code = kill_at(root, step, str(tmp_path / f"r{step}.pkl"))
        assert code == (-signal.SIGKILL if step <= steps else 0), step
        seen.append(check_whole(root))
        if step <= steps:
            rerun(root, str(tmp_path / f"r{step}.pkl"))
    assert (
        seen == ["old"] * 4 + ["new"] * 4
    )  # the switch is step 4: before it the old split, after it the new
    before, after = str(tmp_path / "before"), str(tmp_path / "after")
    for root, step in ((before, 4), (after, 5)):
        shutil.copytree(template, root)
        assert kill_at(root, step, str(tmp_path / "x.pkl")) == -signal.SIGKILL
    got = hf_python(
        "import datasets, json\n"
        "print(json.dumps([list(datasets.load_dataset(p, split='train')['text']) for p in ARGS['paths']]))",
        paths=[before, after],
    )
    assert got == [[r["text"] for r in rows(OLD, "old")], [r["text"] for r in rows(NEW, "new")]]


def test_killed_on_gcs_at_the_steps_around_the_switch(gcs_emulator, tmp_path):
    for step in (1, 4, 5, 6):
        root = gcs_emulator.path(f"kill-{step}")
        write(ParquetSink(root, max_rows_per_shard=2), [[rows(OLD, "old")]])
        assert kill_at(root, step, str(tmp_path / f"r{step}.pkl")) == -signal.SIGKILL
        assert check_whole(root) == ("old" if step <= 4 else "new")
        rerun(root, str(tmp_path / f"r{step}.pkl"))


def test_an_older_layout_is_pinned_before_the_new_shards_appear(tmp_path):
    root = str(tmp_path / "out")
    os.makedirs(f"{root}/data")
    pq.write_table(
        pa.Table.from_batches([schemas.from_pylist(rows(OLD, "old"))]),
        f"{root}/data/train-00000-of-00001.parquet",
    )
    with open(f"{root}/README.md", "w") as f:
        f.write("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n")
        f.write("    path: data/train-*\n---\n")
    assert kill_at(root, 2, str(tmp_path / "r.pkl")) == -signal.SIGKILL  # after the pin and one rename
    assert cd.load(root, split="train")["text"] == [r["text"] for r in rows(OLD, "old")]
    meta, _ = split_front_matter(read_text(f"{root}/README.md"))
    assert meta["configs"][0]["data_files"] == [
        {"split": "train", "path": ["data/train-00000-of-00001.parquet"]}
    ]
    with open(tmp_path / "r.pkl", "rb") as f:
        ParquetSink(root, max_rows_per_shard=2, run_id="killed-run").finalize(pickle.load(f))
    assert cd.load(root, split="train")["text"] == [r["text"] for r in rows(NEW, "new")]
    assert not os.path.exists(f"{root}/data/train-00000-of-00001.parquet")


def test_publishing_one_split_keeps_the_others(tmp_path, hf_python):
    root = str(tmp_path / "out")
    write(ParquetSink(root), [[rows(2, "train")]])
    write(ParquetSink(root, split="test"), [[rows(1, "test")]])
    write(ParquetSink(root, config="extra"), [[rows(1, "extra")]])
    write(ParquetSink(root), [[rows(3, "again")]])
    assert cd.load(root, split="test")["text"] == ["test 0"]
    assert cd.load(root, split="train")["text"] == ["again 0", "again 1", "again 2"]
    assert cd.load(root, config="extra", split="train")["text"] == ["extra 0"]
    got = hf_python(
        "import datasets, json\n"
        "d = datasets.load_dataset(ARGS['p'])\n"
        "print(json.dumps([list(d['train']['text']), list(d['test']['text']),"
        " list(datasets.load_dataset(ARGS['p'], 'extra', split='train')['text'])]))",
        p=root,
    )
    assert got == [["again 0", "again 1", "again 2"], ["test 0"], ["extra 0"]]


# --- one writer at a time --------------------------------------------------------------------------

HOLD = textwrap.dedent(
    """
    import sys, time
    from crucible_datasets.sinks.lease import Lease
    lease = Lease(sys.argv[1], "holder-run").__enter__()
    print("held", flush=True)
    time.sleep(120)
    """
)


def test_a_second_writer_fails_naming_the_first_and_takes_over_once_it_is_killed(tmp_path):
    root = str(tmp_path / "out")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, root], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaseHeldError, match=rf"run holder-run \(host .+, pid {holder.pid}, started 20"):
            ParquetSink(root).finalize([])
        assert not os.path.exists(os.path.join(root, "README.md"))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    summary = write(ParquetSink(root), [[rows(1, "x")]])
    assert any(
        f"took over the lease of {root} from run holder-run" in w and "is gone" in w for w in summary.warnings
    )
    assert not os.path.exists(os.path.join(root, ".crucible-tmp"))


def test_a_lease_without_heartbeat_is_stale(tmp_path):
    root = str(tmp_path / "out")
    os.makedirs(f"{root}/.crucible-tmp")
    stale = {
        "run_id": "far",
        "host": "elsewhere",
        "pid": 1,
        "started": 0,
        "heartbeat": time.time() - 100,
        "ttl": 60,
    }
    with open(f"{root}/.crucible-tmp/lease.json", "wb") as f:
        f.write(orjson.dumps({**stale, "heartbeat": time.time()}))
    with pytest.raises(LeaseHeldError, match="run far .host elsewhere, pid 1"):
        Lease(root, "mine").acquire()
    with open(f"{root}/.crucible-tmp/lease.json", "wb") as f:
        f.write(orjson.dumps(stale))
    with Lease(root, "mine") as lease:
        assert "no heartbeat for 100 s" in lease.notes[0]


def test_the_lease_on_gcs(gcs_emulator):
    root = gcs_emulator.path("leased")
    with Lease(root, "first", ttl=0.4):
        with pytest.raises(LeaseHeldError, match="run first"):
            Lease(root, "second").acquire()
        time.sleep(0.5)  # longer than the ttl, but the holder's heartbeat keeps the lease alive
        with pytest.raises(LeaseHeldError, match="run first"):
            Lease(root, "second").acquire()
    with Lease(root, "second") as second:
        assert second.owned and not second.notes
    assert not fs.exists(fs.join(root, ".crucible-tmp/lease.json"))


WRITER = textwrap.dedent(
    """
    import sys
    import crucible_datasets as cd
    from crucible_datasets.sinks.lease import LeaseHeldError
    root, word = sys.argv[1], sys.argv[2]
    ds = cd.Dataset.from_list([{"id": i, "text": f"{word} {i}"} for i in range(20000)])
    try:
        ds.write_parquet(root, num_shards=4)
        print("wrote")
    except LeaseHeldError as exc:
        print("refused", exc)
    """
)


def test_two_concurrent_writers_never_mix(tmp_path):
    root = str(tmp_path / "out")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, root, w], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for w in ("a", "b")
    ]
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert any(o.startswith("wrote") for o in outs)
    texts = cd.load(root, split="train")["text"]
    assert texts in ([f"a {i}" for i in range(20000)], [f"b {i}" for i in range(20000)])
    for out in outs:
        if out.startswith("refused"):
            assert "is being written by run" in out and "pid" in out


# --- dead letters per run ------------------------------------------------------------------------


def dirty(path, bad: int) -> str:
    lines = [b'{"x": 1}'] + [b"not json"] * bad + [b'{"x": 2}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)


def letters(root: str) -> list[dict]:
    folder = os.path.join(root, "_errors", "train")
    return [
        orjson.loads(line)
        for name in sorted(os.listdir(folder))
        for line in open(os.path.join(folder, name), "rb")
    ]


def test_dead_letters_are_replaced_by_each_run(tmp_path):
    root = str(tmp_path / "out")
    first = cd.load(dirty(tmp_path / "a.jsonl", 3), split="train", streaming=True, on_error="dead_letter")
    assert first.write_parquet(root).counts.rows_bad == 3 and len(letters(root)) == 3
    second = cd.load(dirty(tmp_path / "b.jsonl", 1), split="train", streaming=True, on_error="dead_letter")
    assert second.write_parquet(root).counts.rows_bad == 1
    assert [r["file"] for r in letters(root)] == [str(tmp_path / "b.jsonl")]
    entry = orjson.loads(open(os.path.join(root, "manifest.json"), "rb").read())["configs"]["default"]
    assert [n.rsplit("/", 1)[0] for n in entry["splits"]["train"]["dead_letters"]] == ["_errors/train"]


KILLED_WITH_LETTERS = textwrap.dedent(
    """
    import sys
    import crucible_datasets as cd
    cd.load(sys.argv[1], split="train", streaming=True, on_error="dead_letter").write_parquet(sys.argv[2])
    """
)


def test_a_killed_first_run_leaves_no_dead_letters_for_readers(tmp_path, hf_python):
    root = str(tmp_path / "out")
    env = {**os.environ, KILL_AT_RENAME_ENV: "3"}  # placeholder card, the shard in place; not the card
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WITH_LETTERS, dirty(tmp_path / "a.jsonl", 2), root],
        env=env,
        cwd=ROOT,
        timeout=180,
    )
    assert proc.returncode == -signal.SIGKILL
    assert [p for p in fs.list_files(root)] and all("_errors" not in p for p in fs.list_files(root))
    temp = [
        p for p, _, names in os.walk(os.path.join(root, ".crucible-tmp")) for n in names if "errors-" in n
    ]
    assert temp  # they are in the run's hidden temp folder until its publish
    assert not os.path.exists(os.path.join(root, PLAN_NAME))
    with pytest.raises(LayoutError, match="matches no data files"):
        cd.load(root, split="train")  # no data yet, as before the run: not the unpublished shard
    got = hf_python(
        "import datasets, json\n"
        "try:\n"
        "    print(json.dumps(list(datasets.load_dataset(ARGS['p'], split='train')['x'])))\n"
        "except Exception as exc:\n"
        "    print(json.dumps(type(exc).__name__))",
        p=root,
    )
    assert got == "FileNotFoundError"
