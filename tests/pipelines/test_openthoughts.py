"""The openthoughts pipeline on the embedded sample and on generated rows."""

import argparse

import pyarrow.parquet as pq

import crucible_datasets as cd
from crucible_datasets.pipelines.openthoughts import ConversationPairs, OpenThoughts, first_turn, sample_path
from crucible_datasets.synthetic import rows_of


def test_sample_ships_with_the_package():
    table = pq.read_table(sample_path())
    assert table.num_rows == 300
    assert {"difficulty", "source", "domain", "conversations"} <= set(table.schema.names)


def test_pairs_match_a_plain_loop():
    rows = list(rows_of(500, seed=1))
    stage = ConversationPairs(
        min_difficulty=3, domains=["math", "code"], min_response_chars=100, max_response_chars=5000
    )
    got = [stage.pair(r) for r in rows]
    got = [g for g in got if g is not None]
    expected = [
        r
        for r in rows
        if r["difficulty"] >= 3
        and r["domain"] in ("math", "code")
        and 100 <= len(r["conversations"][1]["value"]) <= 5000
    ]
    assert [g["id"] for g in got] == [r["id"] for r in expected]
    assert got[0]["prompt"] == expected[0]["conversations"][0]["value"]
    assert got[0]["n_chars"] == len(expected[0]["conversations"][1]["value"])


def test_rows_without_turns_are_dropped():
    assert first_turn([{"from": "system", "value": "x"}], ("human",)) is None
    assert ConversationPairs().pair({"conversations": [{"from": "human", "value": "q"}]}) is None


def test_pipeline_writes_sample(tmp_path):
    args = argparse.Namespace(
        min_difficulty=5, domains=None, min_response_chars=1, max_response_chars=None, min_score=None
    )
    ds = OpenThoughts().build(cd.load(sample_path(), split="train", streaming=True), args)
    summary = ds.write_parquet(str(tmp_path / "out"))
    expected = sum(1 for r in pq.read_table(sample_path()).to_pylist() if r["difficulty"] >= 5)
    assert summary.counts.rows_written == expected
    assert summary.counts.rows_filtered == 300 - expected
    out = cd.load(str(tmp_path / "out"), split="train")
    assert set(out.column_names) == {"id", "prompt", "response", "source", "domain", "difficulty", "n_chars"}
