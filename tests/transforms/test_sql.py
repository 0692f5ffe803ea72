"""The ``sql`` stage: DuckDB over each Arrow batch, checked at construction, sandboxed."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.transforms.base import StageCounter
from crucible_datasets.transforms.sql import Sql, connection

TURNS = [
    {"id": 1, "score": 0.9, "turns": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "héllo"}]},
    {"id": 2, "score": 0.1, "turns": [{"from": "gpt", "value": "no"}]},
    {"id": 3, "score": 0.7, "turns": []},
]
PROJECT = (
    'SELECT id, list_filter(turns, lambda t: t."from" = \'gpt\')[1]."value" AS response, '
    "length(response) AS n_chars FROM batch WHERE score > 0.5"
)


def test_projects_and_filters_each_batch_and_counts_rows():
    counter = StageCounter()
    out = list(Sql(PROJECT).apply(iter([Batch.from_rows(TURNS), Batch.from_rows(TURNS[1:2])]), counter))
    assert [b.rows for b in out] == [
        [{"id": 1, "response": "héllo", "n_chars": 5}, {"id": 3, "response": None, "n_chars": None}]
    ]
    assert (counter.rows_in, counter.rows_out) == (4, 2)


def test_the_dataset_method_on_an_eager_and_a_streaming_dataset(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(TURNS), path)
    eager = cd.Dataset.from_list(TURNS).sql(PROJECT)
    streaming = cd.load(str(path), split="train", streaming=True).sql(PROJECT)
    assert (
        eager.to_list()
        == list(streaming)
        == [
            {"id": 1, "response": "héllo", "n_chars": 5},
            {"id": 3, "response": None, "n_chars": None},
        ]
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC id FROM batch", 'is not valid: Parser Error: syntax error at or near "SELEC"'),
        ("DELETE FROM batch", "only a SELECT statement is allowed, got DELETE"),
        ("SELECT 1; SELECT 2", "give exactly one SELECT statement, got 2"),
        ("SELECT 1", "must select FROM batch (the current batch); it reads no table"),
        ("SELECT a FROM batch JOIN secrets USING (a)", "it reads secrets"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table functions are not allowed"),
    ],
)
def test_the_statement_is_checked_when_the_stage_is_made(query, message):
    with pytest.raises(ValueError) as raised:
        Sql(query)
    assert message in str(raised.value)


def test_a_missing_column_names_it_and_the_columns_that_exist():
    with pytest.raises(ColumnNotFoundError) as raised:
        Sql("SELECT nope FROM batch").process(Batch.from_rows(TURNS))
    assert "'nope' not found" in str(raised.value) and "id, score, turns" in str(raised.value)


def test_a_missing_column_in_a_pipeline_names_the_file(tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist(TURNS), path)
    with pytest.raises(ColumnNotFoundError) as raised:
        list(cd.load(str(path), split="train", streaming=True).sql("SELECT nope FROM batch"))
    assert str(path) in str(raised.value)


def test_ctes_and_star_are_allowed_and_star_needs_every_column():
    stage = Sql("WITH kept AS (SELECT * FROM batch WHERE score > 0.5) SELECT id FROM kept")
    assert stage.input_columns(None) is None
    assert [r["id"] for r in stage.process(Batch.from_rows(TURNS)).rows] == [1, 3]


def test_no_files_no_network_and_the_configuration_is_locked(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    con = connection()
    for statement in (f"SELECT * FROM read_csv('{secret}')", "INSTALL httpfs", f"ATTACH '{tmp_path}/x.db'"):
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute(statement)
    with pytest.raises(Exception, match="configuration has been locked"):
        con.execute("SET enable_external_access = true")
    with pytest.raises(ValueError, match=f"it reads {secret}"):
        Sql(f"SELECT (SELECT count(*) FROM '{secret}') AS n FROM batch")


def test_pickles_and_runs_in_other_threads_on_their_own_connections():
    stage = pickle.loads(pickle.dumps(Sql(PROJECT)))
    results, connections = [], []

    def work():
        connections.append(connection())
        results.append(stage.process(Batch.from_rows(TURNS)).rows)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len({id(c) for c in connections}) == 3
    assert results == [results[0]] * 3 and len(results[0]) == 2


def test_on_beams_runner_with_two_workers(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(TURNS * 50), path, row_group_size=20)
    options = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    ds = cd.load(str(path), split="train", streaming=True).where("score > 0.5").sql(PROJECT)
    ds.write_parquet(str(tmp_path / "out"), num_shards=2, runner="direct", options=options, progress=False)
    out = cd.load(str(tmp_path / "out"), split="train")
    assert out.num_rows == 100 and sorted(set(out["id"])) == [1, 3]


def test_importing_the_package_does_not_import_duckdb_and_a_missing_duckdb_is_explained():
    code = (
        "import sys; import crucible_datasets as cd; assert 'duckdb' not in sys.modules\n"
        "sys.modules['duckdb'] = None\n"
        "try:\n    cd.Dataset.from_dict({'x': [1]}).sql('SELECT x FROM batch')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert "pip install 'crucible-datasets[sql]'" in out.stdout, out.stderr
