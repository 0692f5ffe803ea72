"""Feeding training: torch's DataLoader with real workers, epochs, and exact resume after kill -9."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import crucible_datasets as cd
from tests.training_data import ROWS_PER_FILE, write_jsonl_folder, write_parquet_folder

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module", params=["jsonl", "parquet"])
def folder(request, tmp_path_factory):
    writer = write_jsonl_folder if request.param == "jsonl" else write_parquet_folder
    return writer(tmp_path_factory.mktemp("in") / request.param)


def loader_ids(ds, num_workers, batch_size=64):
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
    return [int(i) for batch in loader for i in batch["i"]]


def test_it_is_a_torch_iterable_dataset():
    ds = cd.Dataset.from_list([{"i": 1}]).to_iterable_dataset()
    assert isinstance(ds, torch.utils.data.IterableDataset)


def test_registering_does_not_import_torch():
    code = "import sys, crucible_datasets; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"
    code = "import crucible_datasets as cd, torch.utils.data as d; "
    code += "print(issubclass(cd.IterableDataset, d.IterableDataset))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("num_workers", [0, 1, 2])
def test_every_row_once_per_epoch_for_any_workers(folder, num_workers):
    ds = cd.load(str(folder), split="train", streaming=True).shuffle(seed=3, buffer_size=200)
    n = len(list(folder.iterdir())) * ROWS_PER_FILE
    epochs = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        ids = loader_ids(ds.with_format("torch"), num_workers)
        assert sorted(ids) == list(range(n))
        assert ids == loader_ids(ds, num_workers)  # the same order for a seed and epoch
        epochs.append(ids)
    assert epochs[0] != epochs[1]


def test_torch_format_batches_are_tensors(folder):
    ds = cd.load(str(folder), split="train", streaming=True).with_format("torch")
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch["i"].dtype == torch.int64 and batch["v"].shape == (8, 2) and batch["t"][:2] == ["r0", "r1"]


def test_more_workers_than_parts_split_rows(tmp_path):
    folder = write_jsonl_folder(tmp_path / "one", files=1)
    ids = loader_ids(cd.load(str(folder), split="train", streaming=True), num_workers=2, batch_size=10)
    assert sorted(ids) == list(range(ROWS_PER_FILE))


CHILD = textwrap.dedent(
    """
    import json, sys
    import crucible_datasets as cd
    folder, pipeline, state = sys.argv[1], sys.argv[2], sys.argv[3]
    ds = cd.load(folder, split="train", streaming=True)
    if pipeline == "shuffle":
        ds = ds.filter(lambda r: r["i"] % 7 != 3).map(lambda r: {"k": r["i"] * 2})
        ds = ds.shuffle(seed=5, buffer_size=300)
        ds = ds.skip(10).take(9000)
    else:
        ds = ds.shuffle(seed=1, buffer_size=50)
        ds = ds.map(lambda c: {"s": [sum(c["i"])]}, batched=True, batch_size=3,
                    remove_columns=["i", "v", "t"])
        ds = ds.batch(2)
    ds = cd.split_dataset_by_node(ds, rank=1, world_size=2)
    if state != "-":
        ds.load_state_dict(json.loads(state))
    for n, row in enumerate(ds, 1):
        print("ROW", json.dumps(row), flush=True)
        if n % 50 == 0:
            print("STATE", json.dumps(ds.state_dict()), flush=True)
    """
)


def run_child(folder, pipeline, state="-", kill_after=None):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), pipeline, state],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    rows, saved = [], None
    for line in proc.stdout:
        kind, payload = line.split(" ", 1)
        if kind == "ROW":
            rows.append(json.loads(payload))
        elif kill_after is not None and len(rows) >= kill_after:
            saved = (len(rows), payload)
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    return rows, saved


@pytest.mark.timeout(300)
@pytest.mark.parametrize("pipeline", ["shuffle", "batched"])
def test_resume_after_kill_yields_exactly_the_rest(folder, pipeline):
    full, _ = run_child(folder, pipeline)
    assert len(full) >= 400
    for kill_after in (150, len(full) // 2 + 7, len(full) - 60):  # mid shuffle buffer, mid file, near the end
        _, (k, state) = run_child(folder, pipeline, kill_after=kill_after)
        assert len(state) < 20_000  # positions and seeds, not rows
        rest, _ = run_child(folder, pipeline, state=state.strip())
        assert rest == full[k:], (pipeline, k)


def test_resume_with_another_world_size_is_a_clear_error(folder):
    ds = cd.load(str(folder), split="train", streaming=True)
    a = cd.split_dataset_by_node(ds, rank=0, world_size=2)
    it = iter(a)
    next(it)
    b = cd.split_dataset_by_node(ds, rank=0, world_size=3)
    b.load_state_dict(a.state_dict())
    with pytest.raises(cd.resume.StateError, match="saved by shard 0/2, this dataset is shard 0/3"):
        next(iter(b))


def test_stateful_dataloader_resumes_exactly(folder):
    stateful = pytest.importorskip("torchdata.stateful_dataloader")
    ds = cd.load(str(folder), split="train", streaming=True).shuffle(seed=2, buffer_size=100)
    for workers in (0, 2):
        loader = stateful.StatefulDataLoader(ds, batch_size=32, num_workers=workers)
        it = iter(loader)
        head = [int(i) for _ in range(20) for i in next(it)["i"]]
        state = loader.state_dict()
        tail = [int(i) for b in it for i in b["i"]]
        again = stateful.StatefulDataLoader(ds, batch_size=32, num_workers=workers)
        again.load_state_dict(json.loads(json.dumps(state, default=str)) if workers == 0 else state)
        assert [int(i) for b in again for i in b["i"]] == tail
        assert sorted(head + tail) == sorted(r["i"] for r in ds)
