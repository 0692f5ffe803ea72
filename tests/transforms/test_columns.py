"""Column stages and the column check: a named column must exist, a rename must not overwrite."""

import pickle

import pyarrow as pa
import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError, CrucibleError
from crucible_datasets.transforms.base import StageCounter, apply_stages
from crucible_datasets.transforms.columns import RemoveColumns, RenameColumns, SelectColumns
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.rows import RowMap


def run(stages, batches):
    return [r for b in apply_stages(iter(batches), stages, []) for r in b.rows]


def test_schemaless_rows_fail_only_when_no_row_of_the_stream_has_the_column():
    first, last = Batch.from_rows([{"a": 1}] * 3), Batch.from_rows([{"a": 2, "b": 5}])
    assert run([SelectColumns(["a", "b"])], [first, last])[::3] == [{"a": 1, "b": None}, {"a": 2, "b": 5}]
    assert run([ExpressionFilter("b > 1")], [first, last]) == [{"a": 2, "b": 5}]
    with pytest.raises(ColumnNotFoundError, match=r"column 'b' not found; available columns: a$") as info:
        run([ExpressionFilter("b > 1")], [first, first])
    assert info.value.at_end and info.value.columns == ("b",) and info.value.available == ("a",)
    assert isinstance(info.value, CrucibleError) and isinstance(info.value, ValueError)
    assert run([ExpressionFilter("b > 1"), SelectColumns("b")], []) == []  # no rows: nothing to judge
    assert run([RemoveColumns("b")], [Batch.from_rows([])]) == []


def test_arrow_batches_fail_on_the_first_batch_and_list_their_columns():
    def batches():
        yield Batch.from_arrow(pa.table({"a": [1], "c": ["x"]}))
        raise AssertionError("read past the first batch")

    for stage, what in [
        (ExpressionFilter("b > 1 and a > 0"), "filter expression 'b > 1 and a > 0'"),
        (SelectColumns(["b"]), "select_columns"),
        (RemoveColumns(["b"]), "remove_columns"),
        (RenameColumns({"b": "z"}), "rename_column"),
    ]:
        message = rf"^{what}: column 'b' not found; available columns: a, c$"
        with pytest.raises(ColumnNotFoundError, match=message):
            list(stage.apply(batches(), StageCounter()))


def test_a_column_made_by_an_earlier_map_exists():
    rows = [Batch.from_rows([{"a": 1}, {"a": 2}])]
    stages = [RowMap(lambda r: {"b": r["a"] * 10}), ExpressionFilter("b > 10"), SelectColumns(["b"])]
    assert run(stages, rows) == [{"b": 20}]
    with pytest.raises(ColumnNotFoundError, match="column 'a' not found; available columns: none"):
        run([RemoveColumns("a"), ExpressionFilter("a > 1")], [Batch.from_arrow(pa.table({"a": [1]}))])


@pytest.mark.parametrize("form", ["rows", "arrow"])
def test_rename_onto_an_existing_column_fails_instead_of_losing_it(form):
    rows = [{"question": "q", "answer": "a"}]
    batch = Batch.from_rows(rows) if form == "rows" else Batch.from_arrow(pa.Table.from_pylist(rows))
    message = r"rename_column: column 'answer' already exists.*not already in"
    with pytest.raises(ColumnNotFoundError, match=message):
        run([RenameColumns({"question": "answer"})], [batch])
    assert run([RenameColumns({"question": "answer", "answer": "question"})], [batch]) == [
        {"answer": "q", "question": "a"}
    ]


def test_rename_onto_a_column_seen_in_a_later_schemaless_batch_fails():
    batches = [Batch.from_rows([{"question": "q"}]), Batch.from_rows([{"answer": "a"}])]
    with pytest.raises(ColumnNotFoundError, match="column 'answer' already exists"):
        run([RenameColumns({"question": "answer"})], batches)


def test_rename_mapping_is_checked_when_made():
    with pytest.raises(ValueError, match="new column names must all be different.*1 duplicate"):
        RenameColumns({"a": "z", "b": "z"})
    with pytest.raises(ValueError, match="new name for column\\(s\\) 'a' is empty"):
        RenameColumns({"a": ""})


def test_the_error_pickles_with_its_source_as_beam_workers_send_it():
    exc = ColumnNotFoundError("select_columns", ["b"], ["a"], at_end=True).with_source("/data/x.jsonl")
    again = pickle.loads(pickle.dumps(exc))
    message = "select_columns: column 'b' not found in /data/x.jsonl; available columns: a"
    assert str(again) == str(exc) == message
    assert again.source == "/data/x.jsonl" and again.at_end
