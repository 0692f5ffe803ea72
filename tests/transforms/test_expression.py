"""Safe filter expressions: rows and Arrow agree; code is refused."""

import subprocess
import sys

import pyarrow as pa
import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.transforms.expression import ExpressionFilter

ROWS = [
    {"score": 0.9, "difficulty": 4, "domain": "math", "text": "abc"},
    {"score": 0.2, "difficulty": 9, "domain": "code", "text": "abcdef"},
    {"score": None, "difficulty": 5, "domain": "math", "text": None},
    {"score": 0.7, "difficulty": 2, "domain": "science", "text": "a"},
]


@pytest.mark.parametrize(
    "expression, ids",
    [
        ("score > 0.5 and difficulty >= 3", [0]),
        ("score > 0.5 or difficulty >= 5", [0, 1, 2, 3]),  # null or true is true
        ("not score > 0.5", [1]),
        ("domain in ['math', 'science']", [0, 2, 3]),
        ("domain not in ['math']", [1, 3]),
        ("score is None", [2]),
        ("score is not None and len(text) >= 3", [0, 1]),
        ("2 <= difficulty < 5", [0, 3]),
        ("difficulty * 2 - 1 > 8", [1, 2]),
        ("-difficulty < -4", [1, 2]),
    ],
)
def test_rows_and_arrow_agree(expression, ids):
    f = ExpressionFilter(expression)
    expected = [ROWS[i] for i in ids]
    by_rows = f.process(Batch.from_rows(ROWS))
    by_arrow = f.process(Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS)))
    assert (by_rows.rows if by_rows else []) == expected
    assert (by_arrow.rows if by_arrow else []) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "text.upper()",
        "lambda: 1",
        "score if score else 1",
        "a.b",
        "a[i]",
        "a[1:2]",
        "a[True]",
        "score % 2",
        "x in tags",
        "[x for x in a for y in b]",
        "[x for (x, y) in a]",
        "{x: 1 for x in a}",
        "len(x for x in a)",
    ],
)
def test_refuses_anything_but_the_grammar(expression):
    refused = "not allowed|not valid|subscript|literal list|one `for`|one variable"
    with pytest.raises(ValueError, match=refused):
        ExpressionFilter(expression)


def test_pickles():
    import pickle

    f = pickle.loads(pickle.dumps(ExpressionFilter("score > 0.5")))
    assert f.process(Batch.from_rows(ROWS[:1])).rows == ROWS[:1]


def test_every_column_the_expression_names_must_exist_on_rows_and_arrow():
    from crucible_datasets.errors import ColumnNotFoundError
    from crucible_datasets.transforms.base import StageCounter

    f = ExpressionFilter("score > 0.5 and (len(title) > 2 or missing_too in [1])")
    for batch in (Batch.from_rows(ROWS), Batch.from_arrow(pa.Table.from_pylist(ROWS))):
        with pytest.raises(ColumnNotFoundError, match=r"columns 'missing_too', 'title' not found;") as info:
            list(f.apply(iter([batch]), StageCounter()))
        assert info.value.available == ("score", "difficulty", "domain", "text")


def _compile_in_subprocess(text_code: str) -> subprocess.CompletedProcess:
    """Compile the expression built by ``text_code`` in a child: a crash fails the test, not pytest."""
    code = (
        "from crucible_datasets.transforms.expression import ExpressionFilter\n"
        f"text = {text_code}\n"
        "try:\n"
        "    ExpressionFilter(text)\n"
        "except ValueError as exc:\n"
        "    print('ValueError:', str(exc)[-200:])\n"
        "else:\n"
        "    print('compiled')\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("text_code", "says"),
    [
        ("' or '.join(f'x == {i}' for i in range(200_000))", "too long: 2888886 characters"),
        ("' or '.join(['a < 1'] * 5_000)", "too big: more than 10000 terms"),
        ("'not ' * 20_000 + 'x'", "nested too deeply"),
        ("'-' * 90_000 + 'x'", "nested too deeply"),
        ("'+'.join(['x'] * 20_000) + ' > 0'", "nested too deeply"),
        ("'len(' * 70 + 'x' + ')' * 70 + ' > 1'", "nested too deeply: more than 64 levels"),
    ],
)
def test_huge_or_deep_expressions_are_refused_before_compiling(text_code, says):
    done = _compile_in_subprocess(text_code)
    assert done.returncode == 0, f"the interpreter died ({done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.startswith("ValueError:"), done.stdout
    assert says in done.stdout


def test_a_long_value_list_within_the_bounds_compiles():
    values = ", ".join(str(i) for i in range(5_000))
    f = ExpressionFilter(f"x in [{values}] and y > 1")
    kept = f.process(Batch.from_rows([{"x": 4999, "y": 2}, {"x": 5000, "y": 2}])).rows
    assert kept == [{"x": 4999, "y": 2}]


def test_a_where_on_list_items_is_not_pushed_down_and_filters_parquet(tmp_path):
    import pyarrow.parquet as pq

    import crucible_datasets as cd

    f = ExpressionFilter("len([t for t in tags if t == 'a']) > 0 and score > 0.5")
    assert f.pushdown_predicate() is None  # it needs the lists themselves
    path = tmp_path / "a.parquet"
    rows = [{"id": i, "tags": [["a"], ["b"], None, []][i % 4], "score": 0.9} for i in range(8)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=3)
    kept = cd.load(str(path), split="train", streaming=True).where(f.expression)
    assert [r["id"] for r in kept] == [0, 4]


def test_arrow_values_that_do_not_fit_the_expression_name_it_and_the_types():
    batch = Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS))
    with pytest.raises(ValueError) as info:
        ExpressionFilter("len(score) > 1").process(batch)
    assert "filter expression 'len(score) > 1' cannot be computed on columns (score: double)" in str(
        info.value
    )
    with pytest.raises(ValueError, match="gives double values, not true/false"):
        ExpressionFilter("score").process(batch)
