"""The dataset card: features YAML from Arrow, configs and splits, merging with an existing card."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from crucible_datasets import schema as schemas
from crucible_datasets.sinks import JsonlSink, ParquetSink
from crucible_datasets.sinks import card as cards
from tests.sinks.helpers import card_front_matter, write


def test_features_of_every_common_type():
    schema = pa.schema(
        [
            ("s", pa.string()),
            ("i", pa.int64()),
            ("i8", pa.int8()),
            ("u", pa.uint32()),
            ("f", pa.float64()),
            ("f32", pa.float32()),
            ("b", pa.bool_()),
            ("n", pa.null()),
            ("bin", pa.binary()),
            ("ls", pa.large_string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("d", pa.date32()),
            ("dec", pa.decimal128(10, 2)),
            ("ints", pa.list_(pa.int64())),
            ("big", pa.large_list(pa.string())),
            ("vec", pa.list_(pa.float32(), 3)),
            ("nested", pa.list_(pa.list_(pa.string()))),
            ("msgs", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            (
                "meta",
                pa.struct(
                    [
                        ("x", pa.int64()),
                        ("tags", pa.list_(pa.string())),
                        ("in", pa.struct([("y", pa.bool_())])),
                    ]
                ),
            ),
            ("cat", pa.dictionary(pa.int32(), pa.string())),
            schemas.json_text_field("mixed"),
        ]
    )
    assert cards.features(schema) == [
        {"name": "s", "dtype": "string"},
        {"name": "i", "dtype": "int64"},
        {"name": "i8", "dtype": "int8"},
        {"name": "u", "dtype": "uint32"},
        {"name": "f", "dtype": "float64"},
        {"name": "f32", "dtype": "float32"},
        {"name": "b", "dtype": "bool"},
        {"name": "n", "dtype": "null"},
        {"name": "bin", "dtype": "binary"},
        {"name": "ls", "dtype": "large_string"},
        {"name": "ts", "dtype": "timestamp[us, tz=UTC]"},
        {"name": "d", "dtype": "date32"},
        {"name": "dec", "dtype": "decimal128(10, 2)"},
        {"name": "ints", "list": "int64"},
        {"name": "big", "large_list": "string"},
        {"name": "vec", "sequence": "float32", "length": 3},
        {"name": "nested", "list": {"list": "string"}},
        {
            "name": "msgs",
            "list": [{"name": "role", "dtype": "string"}, {"name": "content", "dtype": "string"}],
        },
        {
            "name": "meta",
            "struct": [
                {"name": "x", "dtype": "int64"},
                {"name": "tags", "list": "string"},
                {"name": "in", "struct": [{"name": "y", "dtype": "bool"}]},
            ],
        },
        {"name": "cat", "dtype": "string"},
        {"name": "mixed", "dtype": "json"},  # datasets 5's Json feature
    ]
    assert cards.features(pa.schema([schemas.json_text_field("mixed")]), json_lines=True) == [
        {"name": "mixed", "dtype": "string"}
    ]


def test_types_without_features_are_reported():
    with pytest.raises(cards.UnsupportedType):
        cards.features(pa.schema([("m", pa.map_(pa.string(), pa.int64()))]))


def test_card_of_one_split(tmp_path):
    rows = [
        {"text": "a", "score": 0.5, "tags": ["x"], "meta": {"n": 1}},
        {"text": "b", "score": None, "tags": []},
    ]
    summary = write(ParquetSink(tmp_path), [[rows]], source="hf://org/data")
    meta = card_front_matter(tmp_path)
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}
    ]
    info = meta["dataset_info"]
    assert "config_name" not in info
    assert info["features"] == [
        {"name": "text", "dtype": "string"},
        {"name": "score", "dtype": "float64"},
        {"name": "tags", "list": "string"},
        {"name": "meta", "struct": [{"name": "n", "dtype": "int64"}]},
    ]
    assert info["splits"] == [{"name": "train", "num_bytes": info["dataset_size"], "num_examples": 2}]
    assert info["download_size"] == summary.bytes and info["dataset_size"] > 0
    text = (tmp_path / "README.md").read_text()
    assert "| default | train | 2 | 1 |" in text and "hf://org/data" in text


def test_existing_card_keys_text_and_other_configs_are_kept(tmp_path):
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\nconfigs:\n- config_name: other\n  data_files: other/*.csv\n"
        "dataset_info:\n  config_name: other\n  splits:\n  - name: train\n    num_examples: 5\n"
        "---\n# My data\n\nHand-written notes.\n"
    )
    write(ParquetSink(tmp_path, config="en"), [[[{"a": 1}]]])
    write(ParquetSink(tmp_path, config="en", split="test"), [[[{"a": 2}]]])
    text = (tmp_path / "README.md").read_text()
    assert "# My data\n\nHand-written notes.\n" in text and text.count(cards.BEGIN) == 1
    meta = card_front_matter(tmp_path)
    assert meta["license"] == "mit"
    assert meta["configs"] == [
        {"config_name": "other", "data_files": "other/*.csv"},
        {
            "config_name": "en",
            "data_files": [
                {"split": "train", "path": "en/train-*.parquet"},
                {"split": "test", "path": "en/test-*.parquet"},
            ],
        },
    ]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    assert [i["config_name"] for i in meta["dataset_info"]] == ["en", "other"]
    assert infos["other"]["splits"] == [{"name": "train", "num_examples": 5}]
    assert [s["name"] for s in infos["en"]["splits"]] == ["train", "test"]


def test_our_section_is_replaced_not_repeated(tmp_path):
    for _ in range(3):
        write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    text = (tmp_path / "README.md").read_text()
    assert text.count(cards.BEGIN) == 1 and text.count("| default | train |") == 1


def test_splits_with_different_schemas_get_no_features(tmp_path):
    write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    summary = write(ParquetSink(tmp_path, split="test"), [[[{"a": "x"}]]])
    assert "features" not in card_front_matter(tmp_path)["dataset_info"]
    assert any("different schemas" in w for w in summary.warnings)


def test_an_empty_split_is_listed_only_when_no_split_of_its_config_has_rows(tmp_path):
    empty = [[[{"a": 1}][:0]]]
    sink = ParquetSink(tmp_path, split="test", schema=pa.schema([("a", pa.int64())]))
    write(sink, empty)
    meta = card_front_matter(tmp_path)
    assert meta["configs"][0]["data_files"] == [{"split": "test", "path": "data/test-*.parquet"}]
    assert meta["dataset_info"]["features"] == [{"name": "a", "dtype": "int64"}]
    assert meta["dataset_info"]["splits"] == [{"name": "test", "num_bytes": 0, "num_examples": 0}]
    summary = write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    meta = card_front_matter(tmp_path)
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]
    assert [s["name"] for s in meta["dataset_info"]["splits"]] == ["train"]
    assert any("'test' has no rows" in w for w in summary.warnings)


def test_mixed_formats_in_one_config_are_warned_about(tmp_path):
    write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    summary = write(JsonlSink(tmp_path, split="test"), [[[{"a": 1}]]])
    assert any("several formats" in w for w in summary.warnings)


def test_invalid_existing_front_matter_is_replaced(tmp_path):
    (tmp_path / "README.md").write_text("---\nkey: [unclosed\n---\nBody stays.\n")
    summary = write(ParquetSink(tmp_path), [[[{"a": 1}]]])
    assert "Body stays." in (tmp_path / "README.md").read_text()
    assert card_front_matter(tmp_path)["configs"][0]["config_name"] == "default"
    assert any("not valid YAML" in w for w in summary.warnings)


def test_front_matter_round_trips_through_yaml():
    text, _ = cards.render({"configs": {}}, "---\na: 1\n---\nbody\n")
    meta, body = cards.split_front_matter(text)
    assert meta["a"] == 1 and body.startswith("body")
    assert yaml.safe_load(text.split("---\n")[1])["a"] == 1


def test_columns_are_described_and_the_card_keys_of_a_user_win_over_the_source(tmp_path):
    from crucible_datasets.sinks.provenance import Provenance

    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# Mine\n")
    told = {"license": "cc-by-4.0", "pretty_name": "Source", "descriptions": {"q": "The question."}}
    sink = ParquetSink(tmp_path, provenance=Provenance(source="src (config default, split train)", card=told))
    write(sink, [[[{"q": "a", "n": 1, "tags": ["x"], "m": {"k": 1.5}}]]])
    meta = card_front_matter(tmp_path)
    assert meta["license"] == "mit" and meta["pretty_name"] == "Source"  # the card's own key stays
    text = (tmp_path / "README.md").read_text()
    assert "| `q` | `string` | The question. |" in text
    assert "| `n` | `int64` | integer |" in text
    assert "| `tags` | `list<item: string>` | list of text |" in text
    assert "| `m` | `struct<k: double>` | record of k (number) |" in text
    assert "- default / train: src (config default, split train); licence `cc-by-4.0`." in text
