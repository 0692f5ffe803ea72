"""The gsm8k pipeline on the real GSM8K."""

import os

import crucible_datasets as cd
from crucible_datasets.pipelines.gsm8k import Gsm8kAnswers, parse_answer
from tests.data_paths import GSM8K_DIR

GSM8K = GSM8K_DIR


def test_parse_answer():
    assert parse_answer("a <<1+1=2>>2\n#### 2") == ("a 2", 2)
    assert parse_answer("x\n#### -3.5") == ("x", -3.5)
    assert parse_answer("no final line") is None


def test_every_real_row_has_a_final_answer(tmp_path):
    ds = cd.load(os.path.join(GSM8K, "test.jsonl"), split="train", streaming=True)
    summary = ds.apply(Gsm8kAnswers()).write_parquet(str(tmp_path / "out"), split="test")
    assert summary.counts.rows_written == 1319 and summary.counts.rows_filtered == 0
    out = cd.load(str(tmp_path / "out"), split="test")
    first = out[0]
    assert first["final_answer"] == 18 and "<<" not in first["solution"]
    assert all(isinstance(v, int | float) for v in out["final_answer"])
