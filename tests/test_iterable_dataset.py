"""IterableDataset: the datasets-style operations, lazily, over real files."""

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import crucible_datasets as cd


@pytest.fixture
def numbers(tmp_path):
    path = tmp_path / "n.jsonl"
    path.write_bytes(
        b"".join(
            orjson.dumps({"i": i, "sq": i * i, "tag": "even" if i % 2 == 0 else "odd"}) + b"\n"
            for i in range(100)
        )
    )
    return cd.load(str(path), split="train", streaming=True)


def test_map_filter_take_skip(numbers):
    out = list(numbers.filter(lambda r: r["i"] % 3 == 0).map(lambda r: {"half": r["i"] / 2}).skip(2).take(3))
    assert [r["i"] for r in out] == [6, 9, 12]
    assert out[0]["half"] == 3.0 and out[0]["sq"] == 36


def test_map_remove_columns_and_input_columns(numbers):
    out = list(numbers.map(lambda i: {"j": i + 1}, input_columns="i", remove_columns=["sq", "tag"]).take(2))
    assert out == [{"i": 0, "j": 1}, {"i": 1, "j": 2}]


def test_batched_map_can_change_row_count(numbers):
    def explode(cols):
        return {"v": [x for x in cols["i"] for _ in range(2)]}

    out = list(numbers.map(explode, batched=True, batch_size=10, remove_columns=["i", "sq", "tag"]))
    assert len(out) == 200
    with pytest.raises(ValueError, match="remove_columns"):
        list(numbers.map(explode, batched=True, batch_size=10))


def test_batched_filter_and_fn_kwargs(numbers):
    out = list(numbers.filter(lambda cols, k: [x > k for x in cols["i"]], batched=True, fn_kwargs={"k": 95}))
    assert [r["i"] for r in out] == [96, 97, 98, 99]


def test_batch(numbers):
    batches = list(numbers.select_columns("i").batch(40))
    assert [len(b["i"]) for b in batches] == [40, 40, 20]
    assert len(list(numbers.batch(40, drop_last_batch=True))) == 2


def test_shuffle_is_a_seeded_permutation(numbers):
    a = [r["i"] for r in numbers.shuffle(seed=1, buffer_size=10)]
    b = [r["i"] for r in numbers.shuffle(seed=1, buffer_size=10)]
    assert a == b and sorted(a) == list(range(100)) and a != list(range(100))


def test_columns_ops(numbers):
    row = next(iter(numbers.rename_column("sq", "square").remove_columns("tag")))
    assert row == {"i": 0, "square": 0}
    with pytest.raises(ValueError, match="available columns: i, sq, tag"):
        list(numbers.select_columns(["nope"]))


def test_iter_python_and_arrow(numbers):
    first = next(numbers.iter(batch_size=8))
    assert first["i"] == list(range(8))
    table = next(numbers.iter(batch_size=8, format="arrow"))
    assert isinstance(table, pa.Table) and table.num_rows == 8


def test_where_dedupe_sample_flat_map(numbers):
    assert len(list(numbers.where("i >= 90 and tag == 'odd'"))) == 5
    assert sorted(r["tag"] for r in numbers.dedupe(key="tag")) == ["even", "odd"]
    kept = [r["i"] for r in numbers.sample(0.5, seed=3)]
    assert 25 < len(kept) < 75 and kept == [r["i"] for r in numbers.sample(0.5, seed=3)]
    assert len(list(numbers.take(3).flat_map(lambda r: [r, r]))) == 6


def test_iteration_is_repeatable(numbers):
    ds = numbers.filter(lambda r: r["i"] < 5)
    assert list(ds) == list(ds)


def test_map_removes_columns_before_the_update(numbers):
    """As in datasets: a column the function returns is kept even if named in remove_columns."""
    row = next(iter(numbers.map(lambda r: {"sq": -1, "new": 1}, remove_columns=["sq", "tag"])))
    assert row == {"i": 0, "sq": -1, "new": 1}


def test_a_missing_column_is_an_error_naming_the_file_not_an_empty_result(numbers):
    path = numbers.pipeline.source.files[0]
    for op in (
        lambda ds: ds.where("sq > 1 and typo > 1"),
        lambda ds: ds.select_columns(["typo"]),
        lambda ds: ds.remove_columns("typo"),
        lambda ds: ds.rename_column("typo", "x"),
    ):
        with pytest.raises(cd.errors.ColumnNotFoundError, match="column 'typo' not found in (.*)$") as info:
            list(op(numbers))
        assert str(info.value).endswith(f"not found in {path}; available columns: i, sq, tag")
    with pytest.raises(cd.errors.ColumnNotFoundError, match=f"column 'tag' already exists in {path}"):
        list(numbers.rename_column("sq", "tag"))
    assert len(list(numbers.map(lambda r: {"typo": 2}).where("typo > 1"))) == 100


def test_a_json_key_that_no_file_has_names_every_file_read(tmp_path):
    for i in range(5):
        (tmp_path / f"part-{i}.jsonl").write_text('{"a": 1}\n' if i else '{"a": 1, "late": 1}\n')
    ds = cd.load(str(tmp_path / "part-*.jsonl"), split="train", streaming=True)
    assert list(ds.where("late > 0")) == [{"a": 1, "late": 1}]  # one row of one file is enough
    expected = (
        f"column 'typo' not found in {tmp_path}/part-0.jsonl, {tmp_path}/part-1.jsonl, "
        f"{tmp_path}/part-2.jsonl and 2 more files; available columns: a, late"
    )
    with pytest.raises(cd.errors.ColumnNotFoundError) as info:
        list(ds.where("typo > 0"))
    assert str(info.value).endswith(expected)


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_writes_fail_with_the_same_column_error_on_beam(tmp_path, runner):
    import pyarrow.parquet as pq

    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text('{"question": "1+1", "answer": "2"}\n')
    parquet = tmp_path / "q.parquet"
    pq.write_table(pa.table({"question": ["1+1"], "answer": ["2"]}), parquet)
    missing = "filter expression 'b > 1': column 'b' not found"
    clash = "rename_column: column 'answer' already exists"
    for path, op, message in [
        (jsonl, lambda ds: ds.where("b > 1"), missing),
        (parquet, lambda ds: ds.where("b > 1"), missing),
        (jsonl, lambda ds: ds.rename_column("question", "answer"), clash),
    ]:
        ds = op(cd.load(str(path), split="train", streaming=True))
        with pytest.raises(cd.errors.ColumnNotFoundError) as info:
            ds.write_parquet(str(tmp_path / "out"), runner=runner)
        assert str(info.value).startswith(f"{message} in {path}")
        assert str(info.value).endswith("; available columns: question, answer")
    assert not (tmp_path / "out" / "data").exists()


class Shout(cd.Stage):
    """A user's stage: upper-cases the tag column, one Arrow batch at a time."""

    def process(self, batch: cd.Batch) -> cd.Batch:
        table = batch.arrow
        index = table.schema.get_field_index("tag")
        return cd.Batch.from_arrow(table.set_column(index, "tag", pc.utf8_upper(table["tag"])))


def test_apply_adds_a_user_stage_lazily(numbers):
    shouted = numbers.filter(lambda r: r["i"] < 4).apply(Shout())
    assert isinstance(shouted, cd.IterableDataset) and shouted.split == "train"
    assert [type(s) for s in shouted.pipeline.stages][-1] is Shout and len(numbers.pipeline.stages) == 0
    assert [r["tag"] for r in shouted] == ["EVEN", "ODD", "EVEN", "ODD"]


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_a_user_stage_is_written_by_every_runner(numbers, tmp_path, runner):
    summary = numbers.apply(Shout()).write_parquet(str(tmp_path / "out"), num_shards=2, runner=runner)
    assert summary.counts.rows_written == 100
    assert set(cd.load(str(tmp_path / "out"), split="train")["tag"]) == {"EVEN", "ODD"}


def test_apply_rejects_what_is_not_a_stage(numbers):
    with pytest.raises(TypeError, match="got str; for a function of rows use map"):
        numbers.apply("tag == 'odd'")
    with pytest.raises(TypeError, match=r"got the class Shout; pass Shout\(\)$"):
        numbers.apply(Shout)


# --- Hugging Face parity: indices, whole batches, n_shards, num_rows, features, cast, from_generator ---


@pytest.fixture
def three_files(tmp_path):
    """Rows 0..299 in three JSON Lines files (one part each), read in file order."""
    folder = tmp_path / "three"
    folder.mkdir()
    for f in range(3):
        lines = (orjson.dumps({"i": i}) + b"\n" for i in range(f * 100, (f + 1) * 100))
        (folder / f"train-{f:05d}-of-00003.jsonl").write_bytes(b"".join(lines))
    return str(folder)


def test_with_indices_counts_rows_across_the_files_of_a_stream(three_files):
    ds = cd.load(three_files, split="train", streaming=True)
    assert ds.n_shards == 3
    out = list(ds.map(lambda r, idx: {"idx": idx}, with_indices=True))
    assert [r["idx"] for r in out] == [r["i"] for r in out] == list(range(300))
    kept = ds.filter(lambda r, idx: idx % 100 == 99, with_indices=True)
    assert [r["i"] for r in kept] == [99, 199, 299]
    batches = []
    ds.map(lambda cols, idx: batches.append(idx[0]) or {}, batched=True, batch_size=64, with_indices=True)
    assert batches == []  # lazy: nothing runs until iterated
    lazy = ds.map(
        lambda cols, idx: batches.append(idx[0]) or {}, batched=True, batch_size=64, with_indices=True
    )
    list(lazy)
    assert batches == [0, 64, 128, 192, 256]
    ranks = {r["rank"] for r in ds.map(lambda r, rank: {"rank": rank}, with_rank=True)}
    assert ranks == {None}


def test_a_stage_needing_global_indices_or_every_row_is_whole_stream(three_files):
    from crucible_datasets.transforms.base import StageKind

    ds = cd.load(three_files, split="train", streaming=True)

    def kinds(out):
        return [s.kind for s in out.pipeline.stages]

    assert kinds(ds.map(lambda r, i: {}, with_indices=True)) == [StageKind.WHOLE_STREAM]
    assert kinds(ds.filter(lambda r, i: True, with_indices=True)) == [StageKind.WHOLE_STREAM]
    assert kinds(ds.map(lambda c: {}, batched=True, batch_size=None)) == [StageKind.WHOLE_STREAM]
    assert kinds(ds.map(lambda c, i: {}, batched=True, with_indices=True)) == [StageKind.WHOLE_STREAM]
    assert kinds(ds.map(lambda r: {}).map(lambda c: {}, batched=True)) == [
        StageKind.PER_BATCH,
        StageKind.REGROUPING,
    ]
    sizes = []
    list(ds.map(lambda cols: sizes.append(len(cols["i"])) or {}, batched=True, batch_size=None))
    assert sizes == [300]  # one batch of the whole stream, as datasets does with batch_size=None


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_indices_are_global_when_written_on_beam(three_files, tmp_path, runner):
    ds = cd.load(three_files, split="train", streaming=True)
    out = str(tmp_path / "out")
    summary = ds.map(lambda r, idx: {"idx": idx}, with_indices=True).write_parquet(
        out, num_shards=3, runner=runner
    )
    assert summary.counts.rows_written == 300
    rows = cd.load(out, split="train").to_list()
    assert sorted(r["idx"] for r in rows) == list(range(300))
    assert all(r["idx"] == r["i"] for r in rows)


def test_num_rows_where_known(tmp_path, numbers):
    import pyarrow.parquet as pq

    for f in range(2):
        pq.write_table(pa.table({"x": list(range(10))}), tmp_path / f"p{f}.parquet")
    stream = cd.load(str(tmp_path / "p*.parquet"), split="train", streaming=True)
    assert stream.num_rows == 20 and stream.n_shards >= 2
    assert stream.map(lambda r: {"y": 1}).select_columns("x").take(15).skip(3).num_rows == 12
    assert stream.filter(lambda r: True).num_rows is None
    assert numbers.num_rows is None  # JSON Lines: not known without reading
    assert cd.Dataset.from_dict({"x": [1, 2]}).to_iterable_dataset().num_rows == 2


def test_features_and_cast_on_a_stream(numbers):
    from crucible_datasets.features import Value

    assert numbers.features == {"i": Value("int64"), "sq": Value("int64"), "tag": Value("string")}
    cast = numbers.cast_column("i", "float32").cast({"tag": "string", "i": "float64", "sq": "int32"})
    first = next(iter(cast))
    assert first == {"tag": "even", "i": 0.0, "sq": 0} and isinstance(first["i"], float)
    assert cast.features == {"tag": Value("string"), "i": Value("float64"), "sq": Value("int32")}
    with pytest.raises(ValueError, match="must be identical"):
        list(numbers.cast({"i": "int8"}))
    assert numbers.take(3).to_list() == [
        {"i": i, "sq": i * i, "tag": t} for i, t in enumerate(["even", "odd", "even"])
    ]
    assert numbers.take(2).to_dict() == {"i": [0, 1], "sq": [0, 1], "tag": ["even", "odd"]}


def gen_rows(names, repeat=1):
    """A module-level generator (Beam's workers unpickle it): a list of names, per gen_kwargs shard."""
    for name in names:
        for k in range(repeat):
            yield {"name": name, "k": k}


def test_from_generator_streams_its_shards():
    ds = cd.IterableDataset.from_generator(gen_rows, gen_kwargs={"names": ["a", "b", "c"], "repeat": 2})
    assert isinstance(ds, cd.IterableDataset) and ds.split == "train"
    assert ds.n_shards == 3 and ds.num_rows is None
    assert [(r["name"], r["k"]) for r in ds] == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0), ("c", 1)]
    assert sorted(r["name"] for r in ds.shuffle(seed=1, buffer_size=2)) == ["a", "a", "b", "b", "c", "c"]
    typed = cd.IterableDataset.from_generator(
        gen_rows, features={"name": "string", "k": "float32"}, gen_kwargs={"names": ["a"]}
    )
    assert list(typed) == [{"name": "a", "k": 0.0}]
    one = cd.IterableDataset.from_generator(gen_rows, gen_kwargs={"names": "xy"})  # not a list: one shard
    assert one.n_shards == 1 and [r["name"] for r in one] == ["x", "y"]
    with pytest.raises(ValueError, match="Sharding is ambiguous"):
        cd.IterableDataset.from_generator(gen_rows, gen_kwargs={"names": ["a"], "other": [1, 2]})


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_from_generator_is_written_by_every_runner(tmp_path, runner):
    ds = cd.IterableDataset.from_generator(
        gen_rows, gen_kwargs={"names": [f"n{i}" for i in range(6)], "repeat": 5}
    )
    summary = ds.map(lambda r: {"upper": r["name"].upper()}).write_jsonl(
        str(tmp_path / "out"), num_shards=2, runner=runner
    )
    assert summary.counts.rows_written == 30
    rows = cd.load(str(tmp_path / "out"), split="train").to_list()
    assert sorted((r["name"], r["k"]) for r in rows) == sorted(
        (f"n{i}", k) for i in range(6) for k in range(5)
    )
    assert {r["upper"] for r in rows} == {f"N{i}" for i in range(6)}


def test_a_shard_exports_its_own_rows_and_counts_its_own_parts(three_files):
    ds = cd.load(three_files, split="train", streaming=True)
    first = ds.shard(3, 0)
    assert first.n_shards == 1 and first.num_rows is None
    assert first.to_dict()["i"] == list(range(100))
    assert [r["i"] for r in ds.shard(3, 2).to_list()][:2] == [200, 201]


def test_a_user_function_error_while_streaming_names_its_stage(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 0}\n')

    def invert(row):
        return {"b": 1 / row["a"]}

    expected = r"function \S*invert \(stage RowMap\) raised ZeroDivisionError"
    with pytest.raises(ZeroDivisionError, match=expected) as e:
        list(cd.load(str(path), split="train", streaming=True).map(invert))
    assert isinstance(e.value.__cause__, ZeroDivisionError)
