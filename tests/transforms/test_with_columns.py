"""``with_columns``: columns computed by safe expressions, the same on rows and on Arrow."""

from __future__ import annotations

import json
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.sources import FileSource
from crucible_datasets.spec.pipeline_spec import load_spec
from crucible_datasets.transforms.base import Stage, StageCounter
from crucible_datasets.transforms.columns import SelectColumns
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.with_columns import WithColumns

TURN = pa.struct([("from", pa.string()), ("value", pa.string())])
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("text", pa.string()),
        ("score", pa.float64()),
        ("n", pa.int64()),
        ("tags", pa.list_(pa.string())),
        ("turns", pa.list_(TURN)),
    ]
)
ROWS = [
    {"id": 1, "text": "héllo 🙂", "score": 0.9, "n": 7, "tags": ["a", "b"],
     "turns": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "ça va"},
               {"from": "gpt", "value": "x"}]},
    {"id": 2, "text": "", "score": None, "n": 0, "tags": [],
     "turns": [{"from": "gpt", "value": None}]},
    {"id": 3, "text": None, "score": 0.2, "n": None, "tags": None, "turns": None},
    {"id": 4, "text": "日本語", "score": 1.5, "n": -3, "tags": ["z", None],
     "turns": [{"from": "human", "value": "q"}, None]},
]  # fmt: skip
FIRST_GPT = '[t["value"] for t in turns if t["from"] == "gpt"][0]'

CASES = [
    ("len(text)", [7, 0, None, 3]),  # code points, as Python and DuckDB's length()
    ("len(tags)", [2, 0, None, 2]),
    ("len(turns)", [3, 1, None, 2]),
    (FIRST_GPT, ["ça va", None, None, None]),
    (f"len({FIRST_GPT})", [5, None, None, None]),
    ('[t["value"] for t in turns if t["from"] == "gpt"]', [["ça va", "x"], [None], None, []]),
    ('[t["from"] for t in turns]', [["human", "gpt", "gpt"], ["gpt"], None, ["human", None]]),
    ("[len(t) + n for t in tags if t is not None]", [[8, 8], [], None, [-2]]),
    ("tags[0]", ["a", None, None, "z"]),
    ("tags[-1]", ["b", None, None, None]),
    ("tags[5]", [None, None, None, None]),
    ('turns[0]["from"]', ["human", "gpt", None, "human"]),
    ("n * 2 + 1", [15, 1, None, -5]),
    ("n / 2", [3.5, 0.0, None, -1.5]),  # true division, as in Python
    ("score / n", [0.9 / 7, None, None, -0.5]),  # x / 0 is null
    ("-score", [-0.9, None, -0.2, -1.5]),
    ("score > 0.5", [True, None, False, True]),
    ("score > 0.5 or n == 0", [True, True, None, True]),  # null or true is true
    ("score > 0.5 and n > 0", [True, False, False, False]),  # null and false is false
    ("score > 0.5 and n >= 0", [True, None, False, False]),
    ("not score > 0.5", [False, None, True, False]),
    ("text in ['', '日本語']", [False, True, None, True]),
    ("text not in ['']", [True, False, None, True]),
    ("text is None", [False, False, True, False]),
    ("0 <= n < 5", [False, True, None, False]),
    ("'fixed'", ["fixed"] * 4),
]


def _by_rows(stage: WithColumns) -> list[dict]:
    return stage.process(Batch.from_rows([dict(r) for r in ROWS])).rows


def _by_arrow(stage: WithColumns, schema: pa.Schema = SCHEMA) -> Batch:
    return stage.process(Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS, schema=schema)))


@pytest.mark.parametrize(("expression", "expected"), CASES)
def test_rows_and_arrow_give_the_same_values(expression, expected):
    stage = WithColumns({"out": expression})
    by_rows = [r["out"] for r in _by_rows(stage)]
    arrow = _by_arrow(stage)
    assert arrow.has_arrow
    by_arrow = arrow.arrow.column("out").to_pylist()
    assert by_rows == by_arrow == expected


CONDITIONS = [(e, v) for e, v in CASES if {type(x) for x in v if x is not None} == {bool}]


@pytest.mark.parametrize(("expression", "expected"), CONDITIONS)
def test_a_where_takes_the_same_expressions(expression, expected):
    f = ExpressionFilter(expression)
    kept = [r["id"] for r, v in zip(ROWS, expected, strict=True) if v is True]
    for batch in (Batch.from_rows(ROWS), Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS, schema=SCHEMA))):
        out = f.process(batch)
        assert ([r["id"] for r in out.rows] if out else []) == kept


def test_an_all_null_batch_keeps_the_output_types():
    stage = WithColumns({e: e for e, _ in CASES})
    full = _by_arrow(stage).arrow.schema
    nulls = pa.RecordBatch.from_pylist([{"id": 9}] * 3, schema=SCHEMA)
    assert stage.process(Batch.from_arrow(nulls)).arrow.schema == full
    assert full.field("len(text)").type == pa.int64()  # as DuckDB's BIGINT and Python's int
    assert full.field("n / 2").type == pa.float64()
    # a column whose type is unknown (read all null) still gives an int64 length
    untyped = pa.RecordBatch.from_pydict({"text": pa.nulls(2)})
    assert (
        WithColumns({"k": "len(text)"}).process(Batch.from_arrow(untyped)).arrow.column("k").type
        == pa.int64()
    )


def test_replaces_in_place_appends_new_ones_and_every_expression_sees_the_input():
    stage = WithColumns({"n": "n + 1", "m": "n * 10", "id": "id - 1"})
    rows = _by_rows(stage)
    arrow = _by_arrow(stage)
    assert list(rows[0]) == arrow.arrow.schema.names == ["id", "text", "score", "n", "tags", "turns", "m"]
    assert [(r["id"], r["n"], r["m"]) for r in rows] == [(0, 8, 70), (1, 1, 0), (2, None, None), (3, -2, -30)]
    assert arrow.rows == rows


def test_a_missing_column_names_it_and_the_columns_that_exist():
    stage = WithColumns({"k": "len(txt) + len(missing_too)"})
    for batch in (Batch.from_rows(ROWS), Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS, schema=SCHEMA))):
        with pytest.raises(ColumnNotFoundError, match=r"columns 'missing_too', 'txt' not found;") as info:
            list(stage.apply(iter([batch]), StageCounter()))
        assert info.value.available == ("id", "text", "score", "n", "tags", "turns")
        assert "with_columns {'k': 'len(txt) + len(missing_too)'}" in str(info.value)


@pytest.mark.parametrize(
    ("columns", "error", "message"),
    [
        ({"k": "len(text"}, ValueError, "with_columns 'k': expression 'len(text' is not valid"),
        (
            {"k": "text.value"},
            ValueError,
            "with_columns 'k': expression 'text.value': Attribute is not allowed",
        ),
        ({"k": "open('x')"}, ValueError, "function calls other than len() are not allowed"),
        ({"k": 3}, TypeError, "a with_columns 'k': expression is a string, got int"),
        ({"": "1"}, ValueError, "a column name is a non-empty string, got ''"),
        ({}, ValueError, "needs at least one column"),
        (["n_chars"], TypeError, "takes a mapping of new column names to expressions"),
    ],
)
def test_a_bad_argument_fails_when_the_stage_is_made(columns, error, message):
    with pytest.raises(error) as info:
        WithColumns(columns)
    assert message in str(info.value)


def test_a_type_that_does_not_fit_names_the_expression_and_the_types():
    with pytest.raises(ValueError) as info:
        _by_arrow(WithColumns({"k": "len(score)"}))
    assert "with_columns 'k': expression 'len(score)' cannot be computed on columns (score: double)" in str(
        info.value
    )


def test_pickles():
    stage = pickle.loads(pickle.dumps(WithColumns({"k": FIRST_GPT})))
    assert [r["k"] for r in _by_rows(stage)] == ["ça va", None, None, None]


class ArrowProbe(Stage):
    """A declarative stage that records whether its input batches were ever Python rows."""

    declarative = True

    def __init__(self, seen: list) -> None:
        self.seen = seen

    def input_columns(self, needed_after):
        return needed_after

    def process(self, batch):
        self.seen.append(batch.has_arrow and batch._rows is None)
        return batch


def test_where_with_columns_select_stays_arrow_and_reads_only_used_columns(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({**r, "unused": "x"}) + "\n" for r in ROWS * 50))
    schema = SCHEMA.append(pa.field("unused", pa.string()))  # declared: JSON Lines parsed straight to Arrow
    stages = (
        ExpressionFilter("score > 0.5"),
        WithColumns({"response": FIRST_GPT, "n_chars": f"len({FIRST_GPT})"}),
        SelectColumns(["id", "response", "n_chars"]),
    )
    hints = Pipeline(FileSource(()), stages).read_hints()
    assert hints["declarative"] is True
    assert hints["used_columns"] == {"id", "score", "turns"}
    seen: list[bool] = []
    ds = cd.load(str(path), split="train", streaming=True, schema=schema)
    ds = ds.where("score > 0.5").with_columns({"response": FIRST_GPT, "n_chars": f"len({FIRST_GPT})"})
    ds = ds.select_columns(["id", "response", "n_chars"]).apply(ArrowProbe(seen))
    out = list(ds)
    assert seen and all(seen)
    assert out[:2] == [
        {"id": 1, "response": "ça va", "n_chars": 5},
        {"id": 4, "response": None, "n_chars": None},
    ]
    assert len(out) == 100


def test_gives_what_the_sql_stage_gives():
    pytest.importorskip("duckdb")
    from crucible_datasets.transforms.sql import Sql

    batch = Batch.from_arrow(pa.RecordBatch.from_pylist(ROWS, schema=SCHEMA))
    sql = Sql(
        'SELECT id, list_filter(turns, lambda t: t."from" = \'gpt\')[1]."value" AS response, '
        "length(response) AS n_chars, length(text) AS n_text FROM batch"
    ).process(batch)
    ours = WithColumns({"response": FIRST_GPT, "n_chars": f"len({FIRST_GPT})", "n_text": "len(text)"})
    mine = SelectColumns(["id", "response", "n_chars", "n_text"]).process(ours.process(batch))
    assert mine.arrow.schema == sql.arrow.schema
    assert mine.arrow.equals(sql.arrow)


def test_from_a_spec(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS, schema=SCHEMA), path)
    spec = load_spec(
        {
            "source": {"path": str(path)},
            "stages": [
                {"op": "where", "expression": "score > 0.5"},
                {"op": "with_columns", "columns": {"n_chars": "len(text)"}},
                {"op": "select_columns", "column_names": ["id", "n_chars"]},
            ],
            "sink": {"path": str(tmp_path / "out"), "format": "jsonl"},
        }
    )
    spec.run()
    assert cd.load(str(tmp_path / "out"), split="train").to_list() == [
        {"id": 1, "n_chars": 7},
        {"id": 4, "n_chars": 3},
    ]
    with pytest.raises(Exception, match="with_columns 'k': expression 'len\\(' is not valid"):
        load_spec(
            {"source": {"path": str(path)}, "stages": [{"op": "with_columns", "columns": {"k": "len("}}]}
        )


def test_on_beams_runner_with_two_workers(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS * 50, schema=SCHEMA), path, row_group_size=20)
    options = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    ds = cd.load(str(path), split="train", streaming=True).where("score > 0.5")
    ds = ds.with_columns({"response": FIRST_GPT}).select_columns(["id", "response"])
    ds.write_parquet(str(tmp_path / "out"), num_shards=2, runner="direct", options=options, progress=False)
    out = cd.load(str(tmp_path / "out"), split="train")
    assert sorted(zip(out["id"], out["response"], strict=True)) == [(1, "ça va")] * 50 + [(4, None)] * 50
