"""Dataset: eager operations, indexing, Arrow access, writes."""

import re

import pyarrow.compute as pc
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


class Square(cd.Stage):
    """A user's stage: one vectorised step per batch."""

    def process(self, batch: cd.Batch) -> cd.Batch:
        table = batch.arrow
        return cd.Batch.from_arrow(table.append_column("sq", pc.multiply(table["i"], table["i"])))


def test_apply_runs_a_user_stage_eagerly(ds):
    out = cd.Dataset.from_list(ds.to_pylist(), split="train").apply(Square())
    assert isinstance(out, cd.Dataset) and out.split == "train"
    assert out["sq"] == [i * i for i in range(10)] and out.column_names == ["i", "s", "sq"]


def test_apply_takes_only_a_stage_instance(ds):
    with pytest.raises(TypeError, match=r"got function; for a function of rows use map\(\)"):
        ds.apply(lambda r: r)
    with pytest.raises(TypeError, match=r"got the class Square; pass Square\(\)$"):
        ds.apply(Square)


def _loaded(folder, fmt: str) -> tuple[str, cd.Dataset]:
    """Two question/answer rows in a ``fmt`` file, loaded eagerly: (path, dataset)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"question": "1+1", "answer": "2"}, {"question": "2+2", "answer": "4"}]
    path = str(folder / f"train.{fmt}")
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    with open(path, "a") as f:
        if fmt == "jsonl":
            f.writelines(f'{{"question": "{r["question"]}", "answer": "{r["answer"]}"}}\n' for r in rows)
        elif fmt == "csv":
            f.write("question,answer\n" + "".join(f"{r['question']},{r['answer']}\n" for r in rows))
    return path, cd.load(path, split="train")


CLASH = "rename_column: column 'answer' already exists"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
@pytest.mark.parametrize(
    "op, message",
    [
        (lambda ds: ds.where("b > 1"), r"filter expression 'b > 1': column 'b' not found"),
        (lambda ds: ds.select_columns(["typo"]), "select_columns: column 'typo' not found"),
        (lambda ds: ds.remove_columns(["typo"]), "remove_columns: column 'typo' not found"),
        (lambda ds: ds.rename_column("typo", "x"), "rename_column: column 'typo' not found"),
        (lambda ds: ds.rename_column("question", "answer"), CLASH),
        (lambda ds: ds.rename_columns({"question": "answer"}), CLASH),
    ],
)
def test_a_missing_or_clashing_column_is_an_error_naming_the_file(tmp_path, fmt, op, message):
    path, ds = _loaded(tmp_path, fmt)
    expected = rf"^{message} in {re.escape(path)}.*; available columns: question, answer$"
    with pytest.raises(cd.errors.ColumnNotFoundError, match=expected):
        op(ds)
    assert ds.rename_column("question", "prompt").column_names == ["prompt", "answer"]
    assert len(ds.map(lambda r: {"b": 2}).where("b > 1")) == 2


def test_in_memory_dataset_errors_name_the_columns(ds):
    expected = r"in <in-memory table>.*; available columns: i, s$"
    with pytest.raises(cd.errors.ColumnNotFoundError, match=expected):
        ds.rename_columns({"i": "s"})
    with pytest.raises(ValueError, match="must all be different"):
        ds.rename_columns({"i": "x", "s": "x"})
