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


# --- Hugging Face parity: map/filter arguments, iter, cast, shard, sort, unique, splits, exports ---


def test_map_and_filter_with_indices_and_rank(ds):
    assert ds.map(lambda r, i: {"idx": i * 10}, with_indices=True)["idx"] == [i * 10 for i in range(10)]
    ranks = ds.map(lambda r, i, rank: {"rank": rank, "k": i}, with_indices=True, with_rank=True)
    assert set(ranks["rank"]) == {None} and ranks["k"] == list(range(10))  # in-process, as in datasets
    assert ds.map(lambda r, rank: {"rank": rank}, with_rank=True)["rank"] == [None] * 10
    assert len(ds.filter(lambda r, rank: rank is None, with_rank=True)) == 10
    by_column = ds.map(
        lambda s, i, k: {"t": f"{s}:{i + k}"}, input_columns="s", with_indices=True, fn_kwargs={"k": 1}
    )
    assert by_column["t"][:2] == ["0:1", "1:2"]
    assert ds.filter(lambda r, i: i % 3 == 0, with_indices=True)["i"] == [0, 3, 6, 9]
    # the indices of a later stage count the rows it gets
    assert ds.filter(lambda r: r["i"] > 6).map(lambda r, i: {"j": i}, with_indices=True)["j"] == [0, 1, 2]


def test_batched_map_and_filter_with_indices_and_one_whole_batch(ds):
    seen = []

    def record(cols, idx):
        seen.append(idx)
        return {"pos": idx}

    assert ds.map(record, batched=True, batch_size=4, with_indices=True)["pos"] == list(range(10))
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    sizes = []
    out = ds.map(lambda cols: sizes.append(len(cols["i"])) or {}, batched=True, batch_size=None)
    assert sizes == [10] and out["i"] == list(range(10))
    sizes.clear()
    ds.map(lambda cols: sizes.append(len(cols["i"])) or {}, batched=True, batch_size=0)
    assert sizes == [10]
    even = ds.filter(lambda c, idx: [x % 2 == 0 for x in idx], batched=True, batch_size=3, with_indices=True)
    assert even["i"] == [0, 2, 4, 6, 8]
    assert ds.filter(lambda cols: [x > 7 for x in cols["i"]], batched=True, batch_size=None)["i"] == [8, 9]


def test_iter_batches_of_columns(ds):
    batches = list(ds.iter(batch_size=4))
    assert [b["i"] for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[0]["s"] == ["0", "1", "2", "3"]
    assert [b["i"] for b in ds.iter(batch_size=4, drop_last_batch=True)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(list(ds.iter(batch_size=5, drop_last_batch=True))) == 2
    with pytest.raises(ValueError, match="batch_size"):
        list(ds.iter(batch_size=0))


def test_features_and_cast(ds):
    import pyarrow as pa

    from crucible_datasets.features import ClassLabel, Features, Value

    assert ds.features == Features({"i": Value("int64"), "s": Value("string")})
    cast = ds.cast({"s": "int32", "i": pa.float64()})
    assert cast.column_names == ["s", "i"] and cast[1] == {"s": 1, "i": 1.0}
    assert cast.features == {"s": Value("int32"), "i": Value("float64")}
    assert ds.cast(Features({"i": Value("int8"), "s": Value("string")})).features["i"] == Value("int8")
    assert ds.cast_column("i", "string")["i"][:2] == ["0", "1"]
    assert ds.cast_column("s", Value("float"))["s"][1] == 1.0
    labels = cd.Dataset.from_dict({"y": [0, 1]}).cast_column("y", ClassLabel(names=["neg", "pos"]))
    assert labels["y"] == [0, 1]
    with pytest.raises(ValueError, match="must be identical as the columns"):
        ds.cast({"i": "int8"})
    with pytest.raises(ValueError, match="not found"):
        ds.cast_column("nope", "int8")
    with pytest.raises(ValueError, match="unknown dtype 'int77'"):
        ds.cast_column("i", "int77")
    with pytest.raises(ValueError, match="cannot cast column 's'"):
        cd.Dataset.from_dict({"s": ["x"]}).cast_column("s", "int64")


def test_shard_as_datasets_cuts_it():
    ds = cd.Dataset.from_dict({"x": list(range(10))})
    assert [ds.shard(3, i)["x"] for i in range(3)] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [ds.shard(3, i, contiguous=False)["x"] for i in range(3)] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert len(ds.shard(20, 19)) == 0
    with pytest.raises(ValueError, match=r"index should be in \[0, num_shards-1\]"):
        ds.shard(3, 3)


def test_sort_and_unique():
    ds = cd.Dataset.from_dict({"k": [2, None, 1, 2], "v": ["b", "x", "c", "a"]})
    assert ds.sort("k")["v"] == ["c", "b", "a", "x"]  # stable, nulls at the end
    assert ds.sort("k", reverse=True)["v"] == ["b", "a", "c", "x"]
    assert ds.sort("k", null_placement="first")["k"] == [None, 1, 2, 2]
    assert ds.sort(["k", "v"], reverse=[False, True])["v"] == ["c", "b", "a", "x"]
    assert ds.unique("k") == [2, None, 1] and ds.unique("v") == ["b", "x", "c", "a"]
    with pytest.raises(ValueError, match="'reverse' should be either a boolean"):
        ds.sort(["k", "v"], reverse=[True])
    with pytest.raises(ValueError, match="null_placement"):
        ds.sort("k", null_placement="middle")
    with pytest.raises(ValueError, match="nope"):
        ds.sort("nope")
    with pytest.raises(ValueError, match="nope"):
        ds.unique("nope")


def test_train_test_split_sizes_and_order():
    ds = cd.Dataset.from_dict({"x": list(range(10))})
    dd = ds.train_test_split(test_size=0.25, shuffle=False)
    assert isinstance(dd, cd.DatasetDict) and list(dd) == ["train", "test"]
    assert dd["train"]["x"] == list(range(7)) and dd["test"]["x"] == [7, 8, 9]  # test rounds up
    assert [len(s) for s in ds.train_test_split(shuffle=False).values()] == [7, 3]  # default 0.25
    assert [len(s) for s in ds.train_test_split(train_size=0.55, shuffle=False).values()] == [5, 5]
    assert [len(s) for s in ds.train_test_split(test_size=2, train_size=3, shuffle=False).values()] == [3, 2]
    a, b = ds.train_test_split(test_size=3, seed=42), ds.train_test_split(test_size=3, seed=42)
    assert a["test"]["x"] == b["test"]["x"] and len(a["test"]) == 3
    assert sorted(a["train"]["x"] + a["test"]["x"]) == list(range(10))
    for kwargs, message in [
        ({"test_size": 10}, "smaller than the number of samples 10"),
        ({"test_size": 1.0}, r"a float in the \(0, 1\) range"),
        ({"test_size": 0.6, "train_size": 0.5}, "The sum of test_size and train_size"),
        ({"test_size": 6, "train_size": 5}, "should be smaller than the number of samples"),
        ({"test_size": "a"}, "Invalid value for test_size"),
    ]:
        with pytest.raises(ValueError, match=message):
            ds.train_test_split(**kwargs)
    empty = cd.Dataset.from_dict({"x": []}).train_test_split(test_size=0.5)
    assert [len(s) for s in empty.values()] == [0, 0]


def test_to_dict_and_to_list(ds):
    assert ds.to_dict() == {"i": list(range(10)), "s": [str(i) for i in range(10)]}
    assert [b["i"] for b in ds.to_dict(batch_size=4, batched=True)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert ds.to_list() == ds.to_pylist() and ds.to_list()[2] == {"i": 2, "s": "2"}


def test_to_pandas_and_from_pandas(ds):
    pd = pytest.importorskip("pandas")
    df = ds.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df["i"]) == list(range(10))
    assert [len(d) for d in ds.to_pandas(batch_size=4, batched=True)] == [4, 4, 2]
    again = cd.Dataset.from_pandas(df)
    assert again.to_list() == ds.to_list()
    typed = cd.Dataset.from_pandas(pd.DataFrame({"a": [1, 2]}), features={"a": "int16"})
    assert typed.schema.field("a").type == "int16"


def test_to_polars(ds):
    pl = pytest.importorskip("polars")
    df = ds.to_polars()
    assert isinstance(df, pl.DataFrame) and df["i"].to_list() == list(range(10))
    assert [len(d) for d in ds.to_polars(batch_size=6, batched=True)] == [6, 4]


@pytest.mark.parametrize("method, package", [("to_pandas", "pandas"), ("to_polars", "polars")])
def test_to_pandas_or_polars_without_it_says_how_to_install_it(method, package):
    import subprocess
    import sys

    code = (  # a finder that refuses the package: as if it were not installed
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {package!r}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Refuse())\n"
        "import crucible_datasets as cd\n"
        "try:\n"
        f"    cd.Dataset.from_dict({{'x': [1]}}).{method}()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert f"{package} is not installed" in done.stdout and f"crucible-datasets[{package}]" in done.stdout


def test_from_list_and_from_dict_take_features():
    from crucible_datasets.features import Features, Value

    ds = cd.Dataset.from_list([{"a": 1, "b": "x"}], features={"a": "float32", "b": "string"})
    assert ds.features == Features({"a": Value("float32"), "b": Value("string")}) and ds[0]["a"] == 1.0
    typed = cd.Dataset.from_dict({"a": [1]}, features=Features({"a": Value("int8")}))
    assert typed.features["a"] == Value("int8")
    assert cd.Dataset.from_dict({"a": [1]}, split="test").split == "test"


def numbers(n, start=0):
    for i in range(start, start + n):
        yield {"i": i}


def test_from_generator():
    ds = cd.Dataset.from_generator(numbers, gen_kwargs={"n": 3})
    assert isinstance(ds, cd.Dataset) and ds["i"] == [0, 1, 2] and ds.split == "train"
    typed = cd.Dataset.from_generator(numbers, features={"i": "int8"}, gen_kwargs={"n": 2, "start": 5})
    assert typed.features["i"].dtype == "int8" and typed["i"] == [5, 6]

    def per_file(names):
        for name in names:
            yield {"name": name}

    assert cd.Dataset.from_generator(per_file, gen_kwargs={"names": ["a", "b"]})["name"] == ["a", "b"]
    with pytest.raises(TypeError, match="generator function"):
        cd.Dataset.from_generator([{"i": 1}])
