"""load(): files, folders, globs, Hub-style repo folders, configs and splits, on the real GSM8K."""

import json
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


def test_load_csv_dialect_options(tmp_path):
    semi = tmp_path / "semi.csv"
    semi.write_text("id;price\n1;2,5\n2;3\n")
    ds = cd.load(str(semi), split="train")  # sniffed: a semicolon CSV is not one column
    assert ds.column_names == ["id", "price"] and ds[0] == {"id": 1, "price": "2,5"}
    assert cd.load(str(semi), split="train", sep=";", delimiter=";")[1] == {"id": 2, "price": "3"}
    forced = cd.load(str(semi), split="train", delimiter=",", on_error="skip")  # "1;2,5" has 2 fields
    assert forced.to_pylist() == [{"id;price": "2;3"}]
    with pytest.raises(ValueError, match=r"delimiter=';' and sep=',' disagree"):
        cd.load(str(semi), split="train", delimiter=";", sep=",")
    renamed = cd.load(str(semi), split="train", header=0, column_names=["a", "b"])
    assert renamed.column_names == ["a", "b"] and len(renamed) == 2
    # as in pandas and datasets, column_names with the default header="infer" means no header row
    headless = cd.load(str(semi), split="train", column_names=["a", "b"])
    assert len(headless) == 3 and headless[0] == {"a": "id", "b": "price"}
    raw = tmp_path / "raw.csv"
    raw.write_text("'a, b'|1\n'c'|''\n")  # '' is a quoted empty field: null in a number column
    expected = [{"text": "a, b", "n": 1}, {"text": "c", "n": None}]
    got = cd.load(str(raw), split="train", header=None, column_names=["text", "n"], quotechar="'")
    assert got.to_pylist() == expected
    streamed = cd.load(
        str(raw), split="train", streaming=True, header="infer", column_names=["text", "n"], quotechar="'"
    )
    assert list(streamed) == expected  # header="infer" with column_names: no header row, as pandas
    with pytest.raises(ValueError, match=r"raw.csv: header=None \(no header row\) needs column_names="):
        cd.load(str(raw), split="train", header=None, quotechar="'")
    with pytest.raises(ValueError, match="header must be 0"):
        cd.load(str(raw), split="train", header=2)


def test_load_csv_options_from_the_readme_config(tmp_path):
    (tmp_path / "data.csv").write_text("1;x,y\n2;z,w\n")  # sniffing alone would pick the comma
    (tmp_path / "README.md").write_text(
        '---\nconfigs:\n- config_name: default\n  data_files: data.csv\n  sep: ";"\n'
        "  header: null\n  column_names: [n, text]\n---\n"
    )
    ds = cd.load(str(tmp_path), split="train")
    assert ds.to_pylist() == [{"n": 1, "text": "x,y"}, {"n": 2, "text": "z,w"}]
    override = cd.load(str(tmp_path), split="train", delimiter=",", column_names=["a", "b"])
    assert override.to_pylist() == [{"a": "1;x", "b": "y"}, {"a": "2;z", "b": "w"}]
    (tmp_path / "README.md").write_text(
        '---\nconfigs:\n- config_name: default\n  data_files: data.csv\n  sep: ";"\n  delimiter: ","\n---\n'
    )
    with pytest.raises(ValueError, match=r"README config 'default': delimiter=',' and sep=';' disagree"):
        cd.load(str(tmp_path), split="train")


def _question_files(folder) -> dict[str, str]:
    """The same two rows as JSON Lines, Parquet and CSV: {format: path}."""
    import pyarrow.parquet as pq

    rows = [{"question": "1+1", "answer": "2"}, {"question": "2+2", "answer": "4"}]
    folder.mkdir()
    paths = {f: str(folder / f"train.{f}") for f in ("jsonl", "parquet", "csv")}
    with open(paths["jsonl"], "w") as f:
        f.writelines(f'{{"question": "{r["question"]}", "answer": "{r["answer"]}"}}\n' for r in rows)
    pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
    with open(paths["csv"], "w") as f:
        f.write("question,answer\n" + "".join(f"{r['question']},{r['answer']}\n" for r in rows))
    return paths


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_columns_naming_a_missing_column_is_an_error_naming_the_file(tmp_path, fmt, streaming):
    path = _question_files(tmp_path / "d")[fmt]
    message = (
        rf"load\(columns=\['answer', 'typo'\]\): column 'typo' not found in {path.replace('.', '[.]')}; "
        "available columns: question, answer"
    )
    with pytest.raises(cd.errors.ColumnNotFoundError, match=message):
        list(cd.load(path, split="train", columns=["answer", "typo"], streaming=streaming))
    ds = cd.load(path, split="train", columns=["answer"], streaming=streaming)
    assert [str(r["answer"]) for r in ds] == ["2", "4"] and ds.column_names == ["answer"]


def test_columns_keeps_a_json_key_that_only_some_rows_have(tmp_path):
    path = tmp_path / "sparse.jsonl"
    path.write_text('{"a": 1}\n' * 3000 + '{"a": 0, "tool": "calc"}\n')
    ds = cd.load(str(path), split="train", columns=["tool", "a"])
    assert ds.column_names == ["tool", "a"] and ds["tool"][-2:] == [None, "calc"]
    with pytest.raises(cd.errors.ColumnNotFoundError, match="column 'typo' not found .*: a, tool$"):
        cd.load(str(path), split="train", columns=["tool", "typo"])


# --- Trust: partial schemas, empty Parquet, empty splits, objects whose keys vary ----------------


def _scores_file(folder, fmt: str) -> str:
    """Rows {id, score, note} with integer scores, as a jsonl, csv or parquet file."""
    import pyarrow.parquet as pq

    path = str(folder / f"train.{fmt}")
    if fmt == "jsonl":
        with open(path, "w") as f:
            f.write('{"id": 1, "score": 2, "note": "a"}\n{"id": 2, "score": 3, "note": "b"}\n')
    elif fmt == "csv":
        with open(path, "w") as f:
            f.write("id,score,note\n1,2,a\n2,3,b\n")
    else:
        pq.write_table(pa.table({"id": [1, 2], "score": [2, 3], "note": ["a", "b"]}), path)
    return path


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_a_partial_schema_casts_its_columns_and_keeps_the_others(tmp_path, fmt, streaming):
    path = _scores_file(tmp_path, fmt)
    ds = cd.load(path, split="train", schema={"score": "float64"}, streaming=streaming)
    rows = list(ds)
    assert rows == [{"id": 1, "score": 2.0, "note": "a"}, {"id": 2, "score": 3.0, "note": "b"}]
    assert all(type(r["score"]) is float for r in rows)
    if not streaming:
        assert ds.schema == pa.schema([("id", pa.int64()), ("score", pa.float64()), ("note", pa.string())])
    narrowed = cd.load(
        path, split="train", schema={"score": "float64"}, columns=["score"], streaming=streaming
    )
    assert list(narrowed) == [{"score": 2.0}, {"score": 3.0}]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_schema_naming_a_column_the_file_lacks_is_an_error_naming_it(tmp_path, fmt, streaming):
    path = _scores_file(tmp_path, fmt)
    with pytest.raises(cd.DataFileError, match=r"train\.\w+: .*\['grade'\].*its columns: id, score, note"):
        list(cd.load(path, split="train", schema={"grade": "int64"}, streaming=streaming))


@pytest.mark.parametrize("streaming", [False, True])
def test_a_parquet_file_without_rows_loads_with_its_columns(tmp_path, streaming):
    import pyarrow.parquet as pq

    path = str(tmp_path / "train.parquet")
    schema = pa.schema([("id", pa.int64()), ("tags", pa.list_(pa.string()))])
    pq.write_table(schema.empty_table(), path)
    ds = cd.load(path, split="train", streaming=streaming)
    assert list(ds) == [] and ds.column_names == ["id", "tags"]
    if not streaming:
        assert ds.schema == schema


def _write_empty_split(tmp_path) -> str:
    import pyarrow.parquet as pq

    source = str(tmp_path / "empty.parquet")
    pq.write_table(pa.schema([("id", pa.int64()), ("text", pa.string())]).empty_table(), source)
    out = str(tmp_path / "out")
    cd.load(source, split="train").write_parquet(out, split="train")
    return out


def test_a_split_without_rows_writes_a_folder_cd_load_opens(tmp_path):
    out = _write_empty_split(tmp_path)
    for streaming in (False, True):
        ds = cd.load(out, split="train", streaming=streaming)
        assert list(ds) == [] and ds.column_names == ["id", "text"]


def test_a_split_without_rows_is_streamed_by_datasets_with_its_features(tmp_path, hf_python):
    out = _write_empty_split(tmp_path)
    got = hf_python(
        "import datasets, json\n"
        "dd = datasets.load_dataset(ARGS['out'], streaming=True)\n"
        "print(json.dumps({k: [len(list(v)), sorted(v.features)] for k, v in dd.items()}))\n",
        out=out,
    )
    assert got == {"train": [0, ["id", "text"]]}


CHAT = [
    {"turns": [{"role": "user", "text": "hi", "lang": "en"}, {"role": "bot", "text": "yo"}]},
    {"turns": [{"role": "user", "text": "again"}, {"role": "bot", "text": "ok", "lang": "fr"}]},
]


def _chat_file(tmp_path) -> str:
    import orjson

    path = tmp_path / "chat.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in CHAT))
    return str(path)


def test_objects_whose_keys_vary_iterate_back_as_written(tmp_path):
    path = _chat_file(tmp_path)
    for streaming in (False, True):
        assert list(cd.load(path, split="train", streaming=streaming)) == CHAT
    out = str(tmp_path / "out")
    cd.load(path, split="train").write_parquet(out)
    for streaming in (False, True):
        assert list(cd.load(out, split="train", streaming=streaming)) == CHAT
    assert "lang" not in cd.load(out, split="train")[0]["turns"][1]


def test_objects_whose_keys_vary_read_back_by_datasets_as_written(tmp_path, hf_python):
    out = str(tmp_path / "out")
    cd.load(_chat_file(tmp_path), split="train").write_parquet(out)
    got = hf_python(
        "import datasets, json\n"
        "eager = datasets.load_dataset(ARGS['out'], split='train')\n"
        "stream = datasets.load_dataset(ARGS['out'], split='train', streaming=True)\n"
        "got = {'eager': list(eager), 'stream': list(stream), 'features': str(eager.features)}\n"
        "print(json.dumps(got))\n",
        out=out,
    )
    assert got["eager"] == CHAT and got["stream"] == CHAT
    assert got["features"] == "{'turns': Json(decode=True)}"


def test_folder_of_two_formats_needs_format(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n')
    (tmp_path / "extra.csv").write_text("q\nc\n")
    from crucible_datasets.storage.discovery import LayoutError

    with pytest.raises(LayoutError) as info:
        cd.load(str(tmp_path), split="train")
    assert "2 formats" in str(info.value) and "extra.csv" in str(info.value)
    assert cd.load(str(tmp_path), split="train", format="csv")["q"] == ["c"]
    streamed = cd.load(str(tmp_path), split="train", format="jsonl", streaming=True)
    assert list(streamed) == [{"q": "a"}, {"q": "b"}]


def test_missing_path_that_looks_like_a_hub_id_names_both_places(hub_server, tmp_path, monkeypatch):
    from crucible_datasets.storage.discovery import DatasetNotFoundError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.jsonl").write_text('{"a": 1}\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        cd.load("data/train")
    message = str(info.value)
    assert message.startswith(f"no file or folder 'data/train' here ({tmp_path}), and no Hub dataset 'data/")
    assert hub_server.url in message and "not found" in message and "data holds: test.jsonl" in message


def test_missing_path_with_the_hub_unreachable_says_so(hf_env, fast_retries, tmp_path, monkeypatch):
    import socket

    from crucible_datasets.storage.discovery import DatasetNotFoundError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        cd.load("data/train")
    message = str(info.value)
    assert "no file or folder 'data/train' here" in message
    assert f"no Hub dataset 'data/train': the Hub at http://127.0.0.1:{port} could not be asked" in message


# --- datasets parity: data_files=, data_dir=, split expressions, features= ---


def test_data_files_and_data_dir_on_the_hub(hub_server, gsm8k_repo):
    picked = cd.load("openai/gsm8k", data_files={"test": "main/test-*.parquet"}, split="test[:5]")
    local = cd.load(gsm8k_repo, config="main", split="test")
    assert picked.to_pylist() == local.to_pylist()[:5]
    streamed = cd.load("openai/gsm8k", data_dir="socratic", split="test[-3:]", streaming=True)
    socratic = cd.load(gsm8k_repo, config="socratic", split="test")
    assert list(streamed) == socratic.to_pylist()[-3:]


def test_load_a_builder_name_with_data_files_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "parts").mkdir()
    for i in range(3):
        (tmp_path / "parts" / f"p{i}.jsonl").write_text(f'{{"i": {i}}}\n')
    monkeypatch.chdir(tmp_path)
    assert cd.load("json", data_files="parts/*.jsonl", split="train")["i"] == [0, 1, 2]
    dd = cd.load("json", data_files={"train": ["parts/p2.jsonl", "parts/p0.jsonl"], "test": "parts/p1.jsonl"})
    assert dd["train"]["i"] == [2, 0] and dd["test"]["i"] == [1]
    assert cd.load("json", data_dir="parts", split="train[1:]")["i"] == [1, 2]
    inside = str(tmp_path / "parts" / "p1.jsonl")  # an absolute path below the working directory
    both = [inside, str(tmp_path / "parts" / "p[02].jsonl")]
    assert cd.load("json", data_files=both, split="train")["i"] == [1, 0, 2]
    with pytest.raises(ValueError, match="data_files="):
        cd.load("json")


def test_data_files_pick_one_format_of_a_mixed_folder(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"q": "a"}\n')
    (tmp_path / "train.csv").write_text("q\nb\n")
    assert cd.load(str(tmp_path), data_files="*.csv", split="train")["q"] == ["b"]
    with pytest.raises(FileNotFoundError, match=r"pattern '\*\.txt' .*train.csv, train.jsonl"):
        cd.load(str(tmp_path), data_files="*.txt")


def test_a_list_of_split_expressions_gives_a_list(tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(f'{{"i": {i}}}\n' for i in range(10)))
    first, last = cd.load(str(tmp_path), split=["train[:2]", "train[-2:]"])
    assert first["i"] == [0, 1] and last["i"] == [8, 9] and first.split == "train[:2]"


@pytest.mark.parametrize("streaming", [False, True])
def test_features_encode_class_label_names_and_cast_values(tmp_path, streaming):
    path = tmp_path / "train.jsonl"
    path.write_text('{"t": "x", "n": 1, "y": "pos"}\n{"t": "y", "n": 2, "y": 0}\n')
    yaml = [{"name": "n", "dtype": "float32"}, {"name": "y", "class_label": {"names": ["neg", "pos"]}}]
    ds = cd.load(str(path), split="train", features=yaml, streaming=streaming)
    rows = list(ds)
    assert rows == [{"n": 1.0, "y": 1, "t": "x"}, {"n": 2.0, "y": 0, "t": "y"}]  # declared columns first
    if not streaming:
        assert ds.schema.field("n").type == pa.float32() and ds.schema.field("y").type == pa.int64()
        assert cd.Features.from_arrow_schema(ds.schema)["y"] == cd.ClassLabel(names=["neg", "pos"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"y": "maybe"}\n')
    with pytest.raises(ValueError, match="column 'y': Invalid string class label maybe"):
        list(cd.load(str(bad), split="train", features=yaml, streaming=streaming))
    with pytest.raises(ValueError, match="schema= or features="):
        cd.load(str(path), split="train", features=yaml, schema={"n": "int64"})


def test_objects_whose_keys_vary_between_batches_read_back_as_written(tmp_path):
    """The first reader batch (2048 rows) has no "lang" in its turns, a later one has."""
    rows = [{"i": i, "turns": [{"role": "user", "text": "hi"}]} for i in range(3000)]
    rows[2500]["turns"].append({"role": "bot", "text": "yo", "lang": "en"})
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    streamed = cd.load(str(path), split="train", streaming=True)
    assert list(streamed) == rows
    streamed.write_parquet(str(tmp_path / "out"), num_shards=2)
    back = cd.load(str(tmp_path / "out"), split="train")
    assert sorted(back.to_pylist(), key=lambda r: r["i"]) == rows  # no "lang": None anywhere
