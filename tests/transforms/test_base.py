"""An exception in a stage's code names the stage, the function and the file (transforms/base.py)."""

from __future__ import annotations

import pyarrow as pa
import pytest

import crucible_datasets as cd
from crucible_datasets.batch import Batch
from crucible_datasets.errors import BadRecordError, UserFunctionError
from crucible_datasets.transforms.base import Stage


def parse(row):
    return {"n": int(row["text"])}


def keep(row):
    return row["missing"]


def split_words(row):
    raise ValueError("cannot split " + row["text"])


def double(batch):
    raise ZeroDivisionError("in map_batches")


class Exploding(Stage):
    def process(self, batch: Batch) -> Batch:
        raise LookupError("my stage failed")


CASES = [
    (lambda ds: ds.map(parse), ValueError, "function parse (stage RowMap)", "invalid literal"),
    (lambda ds: ds.filter(keep), KeyError, "function keep (stage RowFilter)", "'missing'"),
    (lambda ds: ds.flat_map(split_words), ValueError, "function split_words (stage FlatMap)", "cannot split"),
    (lambda ds: ds.map_batches(double), ZeroDivisionError, "(stage MapBatches)", "in map_batches"),
    (lambda ds: ds.apply(Exploding()), LookupError, "stage Exploding", "my stage failed"),
]


@pytest.fixture
def data(tmp_path) -> str:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(f'{{"text": "{i}"}}\n' for i in range(5)) + '{"text": "five"}\n')
    return str(path)


@pytest.mark.parametrize(("build", "kind", "names", "says"), CASES)
@pytest.mark.parametrize("runner", ["local", "direct"])
def test_a_failing_stage_is_named_with_its_file_on_every_runner(
    tmp_path, data, build, kind, names, says, runner
):
    ds = build(cd.load(data, split="train", streaming=True))
    with pytest.raises(UserFunctionError) as info:
        ds.write_parquet(str(tmp_path / "out"), runner=runner)
    err = info.value
    assert isinstance(err, kind), type(err).__mro__  # `except KeyError` still catches it
    assert names in str(err) and says in str(err) and f"reading {data}" in str(err)
    assert "rows had entered the stage" in str(err)
    assert isinstance(err.__cause__, kind) and not isinstance(err.__cause__, UserFunctionError)
    assert says in str(err.__cause__)


def test_errors_of_the_input_are_not_blamed_on_a_stage(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnot json\n')
    ds = cd.load(str(path), split="train", streaming=True).map(lambda r: r)
    with pytest.raises(BadRecordError) as info:
        ds.write_jsonl(str(tmp_path / "out"))
    assert not isinstance(info.value, UserFunctionError)


def test_an_in_memory_table_is_named_by_what_it_was_built_from():
    ds = cd.Dataset.from_dict({"x": pa.array([1, 0])})
    says = r"stage RowMap\) raised ZeroDivisionError: .*in-memory"
    with pytest.raises(ZeroDivisionError, match=says) as info:
        ds.map(lambda r: {"y": 1 / r["x"]})
    assert isinstance(info.value, UserFunctionError)
