"""split_dataset_by_node and IterableDataset.shard: whole parts or every n-th row, union exact."""

import pytest

import crucible_datasets as cd
from tests.training_data import ROWS_PER_FILE, write_jsonl_folder, write_parquet_folder


@pytest.fixture(params=["jsonl", "parquet"])
def stream(request, tmp_path):
    writer = write_jsonl_folder if request.param == "jsonl" else write_parquet_folder
    folder = writer(tmp_path / request.param)
    return cd.load(str(folder), split="train", streaming=True)


@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
@pytest.mark.parametrize("shuffled", [False, True])
def test_ranks_together_see_every_row_once(stream, world_size, shuffled):
    ds = stream.shuffle(seed=4, buffer_size=100) if shuffled else stream
    total = len(list(stream))
    ranks = [cd.split_dataset_by_node(ds, rank=r, world_size=world_size) for r in range(world_size)]
    seen = [[r["i"] for r in rank] for rank in ranks]
    flat = [i for rank in seen for i in rank]
    assert sorted(flat) == list(range(total)) and len(flat) == len(set(flat))
    assert all(seen)  # every rank gets rows
    again = [r["i"] for r in cd.split_dataset_by_node(ds, rank=world_size - 1, world_size=world_size)]
    assert again == seen[-1]  # deterministic


def test_whole_parts_when_enough_else_rows(tmp_path):
    ds = cd.load(str(write_jsonl_folder(tmp_path / "j", files=4)), split="train", streaming=True)
    by_parts = [r["i"] for r in cd.split_dataset_by_node(ds, rank=1, world_size=2)]
    assert {i // ROWS_PER_FILE for i in by_parts} == {1, 3}  # whole files 1 and 3
    by_rows = [r["i"] for r in cd.split_dataset_by_node(ds, rank=1, world_size=8)]
    assert by_rows == list(range(1, 4 * ROWS_PER_FILE, 8))
    with pytest.raises(ValueError, match="cannot give 8 shards whole input parts: 4 parts"):
        cd.split_dataset_by_node(ds, rank=0, world_size=8, strategy="shards")
    examples = [r["i"] for r in cd.split_dataset_by_node(ds, rank=0, world_size=2, strategy="examples")]
    assert examples == list(range(0, 4 * ROWS_PER_FILE, 2))


def test_shard_after_take_shards_the_taken_rows(tmp_path):
    ds = cd.load(str(write_jsonl_folder(tmp_path / "j", files=4)), split="train", streaming=True).take(10)
    shards = [[r["i"] for r in ds.shard(3, k)] for k in range(3)]
    assert shards == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    head = [r["i"] for r in cd.load(str(tmp_path / "j"), split="train", streaming=True).shard(4, 2).take(3)]
    assert head == [2 * ROWS_PER_FILE, 2 * ROWS_PER_FILE + 1, 2 * ROWS_PER_FILE + 2]  # shard, then take


def test_a_dataset_splits_in_contiguous_chunks():
    ds = cd.Dataset.from_list([{"i": i} for i in range(10)])
    assert [cd.split_dataset_by_node(ds, rank=r, world_size=3)["i"] for r in range(3)] == [
        [0, 1, 2, 3], [4, 5, 6], [7, 8, 9]
    ]
    with pytest.raises(ValueError, match="rank must be in"):
        cd.split_dataset_by_node(ds, rank=3, world_size=3)
