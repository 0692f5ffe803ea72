"""Features: Value, List/Sequence, ClassLabel and structs; Arrow schemas; the dataset card forms."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.features import ClassLabel, Features, List, Sequence, Value, as_features, encode_labels

CARD_YAML = [
    {"name": "id", "dtype": "int64"},
    {"name": "score", "dtype": "float32"},
    {"name": "tags", "list": "string"},
    {"name": "turns", "list": [{"name": "role", "dtype": "string"}, {"name": "n", "dtype": "int32"}]},
    {"name": "meta", "struct": [{"name": "src", "dtype": "string"}, {"name": "ok", "dtype": "bool"}]},
    {"name": "label", "dtype": {"class_label": {"names": {"0": "neg", "1": "pos"}}}},
    {"name": "old", "sequence": "int16"},
]


def test_arrow_schema_round_trip_keeps_class_labels():
    f = Features(
        {
            "a": Value("double"),
            "l": List(Value("int64"), length=2),
            "s": {"x": Value("string"), "y": List({"z": Value("bool")})},
            "c": ClassLabel(names=["a", "b", "c"]),
        }
    )
    schema = f.arrow_schema
    assert schema.field("a").type == pa.float64() and schema.field("c").type == pa.int64()
    assert schema.field("l").type == pa.list_(pa.int64(), 2)
    assert Features.from_arrow_schema(schema) == f
    plain = Features.from_arrow_schema(pa.schema(list(schema)))  # no metadata: labels are numbers
    assert plain["c"] == Value("int64") and plain["s"]["y"] == List({"z": Value("bool")})


def test_class_label_conversions():
    c = ClassLabel(names=["neg", "pos"])
    assert c.str2int("pos") == 1 and c.str2int([" neg ", "1"]) == [0, 1]
    assert c.int2str([1, 0]) == ["pos", "neg"] and c.int2str(0) == "neg"
    assert ClassLabel(num_classes=3).names == ["0", "1", "2"]
    with pytest.raises(ValueError, match="Invalid string class label maybe"):
        c.str2int("maybe")
    with pytest.raises(ValueError, match="Invalid integer class label 2"):
        c.int2str(2)
    with pytest.raises(ValueError, match="outside -1..1"):
        encode_labels(pa.array([0, 5]), c, "y")


def test_sequence_of_a_dict_is_a_dict_of_lists():
    assert Sequence({"a": Value("int32"), "b": Value("string")}) == {
        "a": List(Value("int32")),
        "b": List(Value("string")),
    }
    assert Sequence(Value("int8")) == List(Value("int8"))


def test_card_yaml_and_json_text_forms():
    f = as_features(CARD_YAML)
    assert f["label"] == ClassLabel(names=["neg", "pos"])
    assert f["turns"] == List({"role": Value("string"), "n": Value("int32")})
    assert as_features(f.to_yaml_list()) == f
    assert as_features(json.dumps(f.to_dict())) == f
    assert as_features("- name: a\n  dtype: int8\n") == Features({"a": Value("int8")})
    mixed = as_features({"a": "string", "b": {"dtype": "int16"}, "c": {"d": Value("bool")}})
    assert mixed == Features({"a": Value("string"), "b": Value("int16"), "c": {"d": Value("bool")}})
    with pytest.raises(ValueError, match="unknown dtype 'int65'"):
        as_features({"a": "int65"})


def test_card_forms_match_datasets(hf_python):
    snippet = """
import datasets, json
f = datasets.Features._from_yaml_list(ARGS["yaml"])
types = [str(t) for t in f.arrow_schema.types]
print(json.dumps({"dict": f.to_dict(), "types": types, "yaml": f._to_yaml_list()}))
"""
    theirs = hf_python(snippet, yaml=CARD_YAML)
    ours = as_features(CARD_YAML)
    assert [str(t) for t in ours.arrow_schema.types] == theirs["types"]
    assert ours == Features.from_dict(theirs["dict"])
    assert ours.to_yaml_list() == theirs["yaml"]


def test_parquet_written_with_features_is_read_by_datasets_with_class_labels(tmp_path, hf_python):
    src = tmp_path / "train.jsonl"
    src.write_text('{"t": "a", "y": "pos"}\n{"t": "b", "y": "neg"}\n')
    f = Features({"t": Value("string"), "y": ClassLabel(names=["neg", "pos"])})
    ds = cd.load(str(src), split="train", features=f)
    assert ds["y"] == [1, 0]
    path = tmp_path / "out.parquet"
    pq.write_table(ds.to_arrow(), path)
    snippet = """
import datasets, json
ds = datasets.load_dataset("parquet", data_files=ARGS["path"], split="train")
print(json.dumps([repr(ds.features["y"]), list(ds["y"])]))
"""
    label, values = hf_python(snippet, path=str(path))
    assert "names=['neg', 'pos']" in label and values == [1, 0]
