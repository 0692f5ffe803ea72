"""``cd.load`` against the real ``datasets.load_dataset`` on the same small local folders.

One ``hf_python`` call runs every case through ``datasets`` 5.2 and returns the rows as JSON;
the same calls through ``cd.load`` (eager, and streaming for split expressions, which
``datasets`` only takes eagerly) must give the same rows, in the same order.
"""

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd

LABELS = ["neg", "pos"]
FEATURES_YAML = [
    {"name": "id", "dtype": "int32"},
    {"name": "text", "dtype": "string"},
    {"name": "label", "dtype": {"class_label": {"names": {"0": "neg", "1": "pos"}}}},
]
SPLITS = {"train": "train.jsonl", "test": "test.jsonl"}
EXPRESSIONS = [
    "train[:10%]",
    "train[5:15]",
    "train[-5:]",
    "train+test",
    "test[:50%]+train[:10]",
    "train[33%:66%]",
    "train[:-3]",
    "train[-50%:]",
]

HF_SNIPPET = """
import datasets, json
out = []
for path, kwargs, split in ARGS["cases"]:
    if "features" in kwargs:
        kwargs["features"] = datasets.Features._from_yaml_list(kwargs["features"])
    loaded = datasets.load_dataset(path, split=split, **kwargs)
    if split is None:
        out.append({name: ds.to_list() for name, ds in loaded.items()})
    else:
        out.append(loaded.to_list())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    for name, count, first in (("train.jsonl", 23, 0), ("test.jsonl", 7, 100)):
        rows = [{"id": first + i, "text": f"t{first + i}", "label": LABELS[i % 2]} for i in range(count)]
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "extra").mkdir()
    for part, (start, count) in enumerate([(0, 30), (30, 15)]):
        table = pa.table({"id": list(range(start, start + count)), "v": [i * 0.5 for i in range(count)]})
        pq.write_table(table, root / "extra" / f"part-{part}.parquet", row_group_size=8)
    return str(root)


def cases(folder: str) -> list[tuple[str, dict, str | None]]:
    absolute = os.path.join(folder, "test.jsonl")
    out = [
        (folder, {"data_files": "train.jsonl"}, "train"),
        (folder, {"data_files": ["test.jsonl", "train.jsonl"]}, "train"),
        (folder, {"data_files": {"train": "train.jsonl", "test": ["test.jsonl"]}}, None),
        (folder, {"data_files": {"train": "extra/*.parquet"}}, "train"),
        (folder, {"data_dir": "extra"}, None),
        (folder, {"data_dir": "extra", "data_files": "part-1.parquet"}, "train"),
        ("json", {"data_files": absolute}, "train"),
        (folder, {"data_files": SPLITS, "features": FEATURES_YAML}, "test"),
        (folder, {"data_dir": "extra"}, "train[10:20]+train[-12:]"),
    ]
    out += [(folder, {"data_files": SPLITS}, expression) for expression in EXPRESSIONS]
    return out


@pytest.fixture(scope="module")
def expected(folder, hf_python):
    return hf_python(HF_SNIPPET, cases=[list(c) for c in cases(folder)])


def rows(loaded) -> object:
    if isinstance(loaded, (cd.DatasetDict, cd.IterableDatasetDict)):
        return {name: rows(ds) for name, ds in loaded.items()}
    return [dict(r) for r in loaded]


@pytest.mark.parametrize("index", range(len(cases("/x"))), ids=lambda i: repr(cases("/x")[i][1:])[:60])
def test_load_matches_datasets(folder, expected, index):
    path, kwargs, split = cases(folder)[index]
    assert rows(cd.load(path, split=split, **kwargs)) == expected[index]


EXPRESSION_CASES = [i for i, (_, _, split) in enumerate(cases("/x")) if split and not split.isidentifier()]


@pytest.mark.parametrize("index", EXPRESSION_CASES)
def test_streamed_split_expressions_match_datasets_eager(folder, expected, index):
    path, kwargs, split = cases(folder)[index]
    assert rows(cd.load(path, split=split, streaming=True, **kwargs)) == expected[index]


def test_features_match_datasets(folder, hf_python):
    snippet = """
import datasets, json
features = datasets.Features._from_yaml_list(ARGS["yaml"])
ds = datasets.load_dataset(ARGS["folder"], data_files=ARGS["files"], split="train", features=features)
print(json.dumps({"features": ds.features.to_dict(), "arrow": str(ds.data.schema.field("label").type)}))
"""
    theirs = hf_python(snippet, yaml=FEATURES_YAML, folder=folder, files=SPLITS)
    ds = cd.load(folder, data_files=SPLITS, split="train", features=FEATURES_YAML)
    assert cd.Features.from_arrow_schema(ds.schema).to_dict() == theirs["features"]
    assert str(ds.schema.field("label").type) == theirs["arrow"]
