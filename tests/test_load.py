"""load(): files, folders, globs, Hub-style repo folders, configs and splits, on the real GSM8K."""

import os
import shutil

import pyarrow as pa
import pytest

import crucible_datasets as cd
from tests.data_paths import GSM8K_DIR

GSM8K = GSM8K_DIR


def test_gsm8k_single_file_is_train():
    ds = cd.load(os.path.join(GSM8K, "train.jsonl"), split="train")
    assert len(ds) == 7473
    assert ds.column_names == ["question", "answer"]
    assert ds[0]["question"].startswith("Natalia sold clips")


def test_gsm8k_folder_infers_splits(tmp_path):
    folder = tmp_path / "gsm8k"
    folder.mkdir()
    for name in ("train.jsonl", "test.jsonl"):
        shutil.copy(os.path.join(GSM8K, name), folder / name)
    dd = cd.load(str(folder))
    assert isinstance(dd, cd.DatasetDict)
    assert {k: len(v) for k, v in dd.items()} == {"train": 7473, "test": 1319}


def test_gsm8k_repo_folder_with_readme_configs(gsm8k_repo):
    main = cd.load(gsm8k_repo, config="main")
    assert {k: len(v) for k, v in main.items()} == {"train": 7473, "test": 1319}
    socratic = cd.load(gsm8k_repo, config="socratic", split="test")
    assert len(socratic) == 1319
    assert "**" not in socratic[0]["question"]
    streamed = cd.load(gsm8k_repo, config="main", split="test", streaming=True)
    assert sum(1 for _ in streamed) == 1319


def test_missing_config_among_several_lists_them(gsm8k_repo):
    with pytest.raises(ValueError, match="main.*socratic"):
        cd.load(gsm8k_repo)


def test_unknown_split_lists_available(gsm8k_repo):
    with pytest.raises(ValueError, match="train.*test"):
        cd.load(gsm8k_repo, config="main", split="validation")


def test_unknown_config_lists_available(gsm8k_repo):
    with pytest.raises(ValueError, match="socratic"):
        cd.load(gsm8k_repo, config="nope")


def test_unknown_format_lists_supported(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n')
    with pytest.raises(ValueError, match="jsonl.*parquet|parquet.*jsonl"):
        cd.load(str(path), format="xml")


def test_streaming_without_split_gives_iterable_dict(gsm8k_repo):
    dd = cd.load(gsm8k_repo, config="main", streaming=True)
    assert isinstance(dd, cd.IterableDatasetDict)
    assert next(iter(dd["test"]))["question"]


def test_glob_and_columns(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.jsonl").write_text(f'{{"a": {i}, "b": "x"}}\n')
    ds = cd.load(str(tmp_path / "part-*.jsonl"), split="train", columns=["a"])
    assert sorted(ds["a"]) == [0, 1, 2]
    assert ds.column_names == ["a"]


def test_sample_size(gsm8k_repo):
    assert len(cd.load(gsm8k_repo, config="main", split="train", sample_size=10)) == 10
    assert len(list(cd.load(gsm8k_repo, config="main", split="train", sample_size=7, streaming=True))) == 7


def test_declared_schema_wins(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    ds = cd.load(str(path), split="train", schema={"a": "float64", "b": "string"})
    assert ds.schema.field("a").type == pa.float64()


def test_schema_drift_round_trip(tmp_path):
    """null for 10k rows then a string; int then float; a missing field; a list vs a string."""
    path = tmp_path / "drift.jsonl"
    import orjson

    rows = [{"late": None, "num": i, "mixed": [i]} for i in range(10_000)]
    rows += [{"late": "now a string", "num": 1.5, "mixed": "text", "extra": True}]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    ds = cd.load(str(path), split="train")
    assert len(ds) == 10_001
    assert ds.schema.field("late").type == pa.string()
    assert ds.schema.field("num").type == pa.float64()
    assert ds[-1] == {"late": "now a string", "num": 1.5, "mixed": "text", "extra": True}
    assert ds[0]["mixed"] == [0] and ds[0]["extra"] is None
    out = tmp_path / "out"
    summary = cd.load(str(path), split="train", streaming=True).write_parquet(str(out), num_shards=3)
    assert summary.counts.rows_written == 10_001
    back = cd.load(str(out), split="train")
    assert sorted(back.to_pylist(), key=lambda r: (r["late"] is not None, r["num"]))[-1]["mixed"] == "text"
    assert {r["num"] for r in back} == {float(i) for i in range(10_000)} | {1.5}
