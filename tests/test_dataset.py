"""Dataset: eager operations, indexing, Arrow access, writes."""

import pytest

import crucible_datasets as cd


@pytest.fixture
def ds():
    return cd.Dataset.from_list([{"i": i, "s": str(i)} for i in range(10)])


def test_len_index_slice_column(ds):
    assert len(ds) == 10 and ds[3] == {"i": 3, "s": "3"} and ds[-1]["i"] == 9
    assert ds[2:4] == {"i": [2, 3], "s": ["2", "3"]}
    assert ds["i"] == list(range(10))
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(KeyError, match="available columns: i, s"):
        ds["x"]


def test_ops_are_eager_and_return_datasets(ds):
    out = ds.filter(lambda r: r["i"] % 2).map(lambda r: {"d": r["i"] * 2}).select_columns(["i", "d"])
    assert isinstance(out, cd.Dataset)
    assert out.to_pylist()[:2] == [{"i": 1, "d": 2}, {"i": 3, "d": 6}]
    assert out.to_arrow().num_rows == 5


def test_shuffle_take_skip_select(ds):
    assert sorted(ds.shuffle(seed=0)["i"]) == list(range(10))
    assert ds.shuffle(seed=0)["i"] == ds.shuffle(seed=0)["i"]
    assert ds.take(2)["i"] == [0, 1] and ds.skip(8)["i"] == [8, 9]
    assert ds.select([5, 1])["i"] == [5, 1]


def test_write_and_reload(ds, tmp_path):
    summary = ds.write_parquet(str(tmp_path / "out"), num_shards=2)
    assert summary.counts.rows_written == 10
    again = cd.load(str(tmp_path / "out"), split="train")
    assert sorted(again["i"]) == list(range(10))
    assert list(ds.to_iterable_dataset().take(2)) == [{"i": 0, "s": "0"}, {"i": 1, "s": "1"}]
