"""DatasetDict / IterableDatasetDict: every operation applies to every split."""

import pytest

import crucible_datasets as cd
from crucible_datasets.operations import OPERATIONS


class Tag(cd.Stage):
    """A user's stage: adds a column to every row."""

    def process(self, batch: cd.Batch) -> cd.Batch:
        return cd.Batch.from_rows([{**r, "tagged": True} for r in batch.rows])


# One call of each operation, with arguments that suit the rows below.
CALLS = {
    "apply": ((Tag(),), {}),
    "map": ((lambda r: {"j": r["i"] + 1},), {}),
    "filter": ((lambda r: r["i"] % 2 == 0,), {}),
    "where": (("i > 1",), {}),
    "sql": (("SELECT i * 2 AS j FROM batch WHERE i > 1",), {}),
    "with_columns": (({"j": "i * 2", "n": "len(s)"},), {}),
    "flat_map": ((lambda r: [r, r],), {}),
    "map_batches": ((lambda b: b.slice(1),), {}),
    "batch": ((2,), {}),
    "take": ((1,), {}),
    "skip": ((1,), {}),
    "dedupe": ((), {"key": "s"}),
    "sample": ((0.5,), {"seed": 1}),
    "shuffle": ((), {"seed": 0}),
    "select_columns": (("i",), {}),
    "remove_columns": (("s",), {}),
    "rename_column": (("s", "t"), {}),
    "rename_columns": (({"s": "t", "i": "k"},), {}),
}


def dicts() -> list[cd.DatasetDict | cd.IterableDatasetDict]:
    splits = {
        split: cd.Dataset.from_list([{"i": i, "s": f"{split}{i // 2}"} for i in range(start, start + 6)])
        for split, start in (("train", 0), ("test", 100))
    }
    streams = {split: ds.to_iterable_dataset() for split, ds in splits.items()}
    return [cd.DatasetDict(splits), cd.IterableDatasetDict(streams)]


def test_every_operation_has_a_case_here():
    assert set(CALLS) == OPERATIONS


@pytest.mark.parametrize("dd", dicts(), ids=["DatasetDict", "IterableDatasetDict"])
@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_applies_to_every_split(dd, name):
    args, kwargs = CALLS[name]
    out = getattr(dd, name)(*args, **kwargs)
    assert type(out) is type(dd) and list(out) == ["train", "test"]
    for split, ds in dd.items():
        assert type(out[split]) is type(ds)
        assert list(out[split]) == list(getattr(ds, name)(*args, **kwargs))


def test_what_is_not_an_operation_is_not_per_split():
    dd = dicts()[0]
    with pytest.raises(AttributeError, match="DatasetDict has no attribute 'select'"):
        dd.select([0])


def test_a_user_stage_applies_per_split_and_each_split_is_written(tmp_path):
    summaries = dicts()[1].apply(Tag()).write_jsonl(str(tmp_path / "out"))
    assert {split: s.counts.rows_written for split, s in summaries.items()} == {"train": 6, "test": 6}
    again = cd.load(str(tmp_path / "out"), split="test")
    assert again["tagged"] == [True] * 6 and again["i"][0] == 100


# datasets' DatasetDict / IterableDatasetDict apply these per split; so do ours.
SPLIT_WISE = {
    "map", "filter", "select_columns", "remove_columns", "rename_column", "rename_columns", "cast", "shuffle",
}  # fmt: skip
CASTS = {"cast": (({"i": "float64", "s": "string"},), {}), "cast_column": (("i", "string"), {})}
for _name, _call in CASTS.items():
    CALLS.setdefault(_name, _call)  # unless a case above has it


def test_the_split_wise_methods_of_datasets_are_operations():
    assert SPLIT_WISE <= OPERATIONS


@pytest.mark.parametrize("dd", dicts(), ids=["DatasetDict", "IterableDatasetDict"])
def test_split_wise_methods_give_each_split_its_own_result(dd):
    out = (
        dd.map(lambda r: {"j": r["i"] * 2})
        .filter(lambda r: r["i"] % 3 != 0)
        .rename_columns({"s": "name"})
        .rename_column("j", "double")
        .remove_columns("name")
        .select_columns(["double", "i"])
        .shuffle(seed=0)
    )
    for split, start in (("train", 0), ("test", 100)):
        rows = sorted(out[split], key=lambda r: r["i"])
        assert rows == [{"double": 2 * i, "i": i} for i in range(start, start + 6) if i % 3 != 0]
    assert [r["i"] for r in dd.cast({"i": "float64", "s": "string"})["test"]][:1] == [100.0]
