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
