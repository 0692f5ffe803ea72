"""Dataset and IterableDataset methods against the real ``datasets`` 5.2, on the same GSM8K rows.

The calls are one piece of code, :data:`CASES`, run as it is on both sides: with ``datasets``
(one ``hf_python`` call, every case, JSON back) and with ``crucible_datasets``; each case's
value must be the same. The API is shared, so where a call differs the test says which.
"""

import json
import os
import re
import types

import orjson
import pytest

import crucible_datasets as cd
from crucible_datasets.features import Features, Value
from tests.data_paths import GSM8K_DIR

N_ROWS = 200

# train_test_split's arguments, by case name (datasets' rounding: test up, train down).
SPLIT_CASES = {
    "seed": {"test_size": 0.1, "seed": 42},
    "default": {"seed": 3},
    "no_shuffle": {"test_size": 0.25, "shuffle": False},
    "ints": {"train_size": 33, "test_size": 17, "seed": 0},
    "both_floats": {"test_size": 0.35, "train_size": 0.45, "seed": 1},
    "too_many": {"test_size": 0.55, "train_size": 0.45, "seed": 1},  # ceil 111 + floor 90 > 200
    "bad_size": {"test_size": 200},
    "train_only": {"train_size": 0.333, "seed": 7},
    "rounding": {"test_size": 0.333, "shuffle": False},
}

# run(ds, lib, rows, split_cases) -> {case: value}; ``ds``: the rows loaded from a JSON Lines
# file; ``lib``: the library (Dataset, IterableDataset, Features, Value); ``rows``: the same rows.
CASES = r"""
def run(ds, lib, rows, split_cases):
    F, V = lib.Features, lib.Value
    out = {}
    # map / filter arguments
    out["map_with_indices"] = ds.map(
        lambda r, i: {"idx": i, "qlen": len(r["question"])}, with_indices=True
    ).select_columns(["id", "idx", "qlen"]).to_list()
    sevenths = ds.filter(lambda r, i: i % 7 == 0 and r["bucket"] != 2, with_indices=True)
    out["filter_with_indices"] = list(sevenths["id"])
    out["input_columns_indices_kwargs"] = list(ds.map(
        lambda q, i, k: {"t": f"{i + k}:{q[:8]}"},
        input_columns="question",
        with_indices=True,
        fn_kwargs={"k": 3},
    )["t"])
    out["batched_with_indices"] = list(ds.map(
        lambda b, idx: {"first": [idx[0]] * len(idx)}, batched=True, batch_size=16, with_indices=True
    )["first"])
    def count(b):
        return {"n": [len(b["id"])] * len(b["id"])}

    out["batched_whole"] = list(ds.map(count, batched=True, batch_size=None)["n"])
    out["batched_zero"] = list(ds.map(count, batched=True, batch_size=0)["n"])
    out["batched_filter_indices"] = list(ds.filter(
        lambda b, idx: [i % 3 == 0 for i in idx], batched=True, batch_size=10, with_indices=True
    )["id"])
    out["batched_filter_whole"] = list(ds.filter(
        lambda b: [len(b["id"]) == 200 and x % 50 == 0 for x in b["id"]], batched=True, batch_size=None
    )["id"])
    out["batched_drop_last"] = len(ds.map(lambda b: {}, batched=True, batch_size=64, drop_last_batch=True))
    ranked = ds.map(lambda r, i, rank: {"r": rank}, with_indices=True, with_rank=True)
    out["with_rank"] = list(ranked["r"])[:3]
    out["filter_with_rank"] = len(ds.filter(lambda r, rank: rank is None, with_rank=True))
    # what a dataset says about itself
    out["features"] = {k: repr(v) for k, v in ds.features.items()}
    out["column_names"] = ds.column_names
    out["num_rows"] = ds.num_rows
    out["iter"] = [b["id"] for b in ds.iter(batch_size=64)]
    out["iter_drop_last"] = [b["id"] for b in ds.iter(batch_size=64, drop_last_batch=True)]
    out["iter_columns"] = sorted(next(iter(ds.iter(batch_size=2))))
    # cast
    text = V("string")
    cast = ds.cast(F({"bucket": V("float64"), "id": V("int32"), "question": text, "answer": text}))
    out["cast_features"] = {k: repr(v) for k, v in cast.features.items()}
    out["cast_row"] = cast[5]
    out["cast_column"] = ds.cast_column("bucket", V("string"))[:3]
    out["cast_column_features"] = repr(ds.cast_column("id", V("int16")).features["id"])
    # shard, sort, unique
    out["shard_contiguous"] = [list(ds.shard(7, i)["id"]) for i in range(7)]
    out["shard_strided"] = [list(ds.shard(7, i, contiguous=False)["id"]) for i in range(7)]
    out["sort"] = list(ds.sort("bucket")["id"])
    out["sort_reverse"] = list(ds.sort("bucket", reverse=True)["id"])
    out["sort_two"] = list(ds.sort(["bucket", "answer"], reverse=[True, False])["id"])
    out["sort_text"] = list(ds.sort("answer")["id"])
    out["unique"] = ds.unique("bucket")
    out["unique_text"] = len(ds.unique("answer"))
    # train_test_split
    for name, kwargs in split_cases.items():
        try:
            dd = ds.train_test_split(**kwargs)
        except ValueError as exc:  # the same refusal, word for word
            out["split_" + name] = {"error": str(exc)}
        else:
            out["split_" + name] = {split: list(dd[split]["id"]) for split in dd}
    # exports
    out["to_dict"] = ds.select(range(3)).to_dict()
    out["to_dict_batched"] = [d["id"] for d in ds.to_dict(batch_size=70, batched=True)]
    out["to_list"] = ds.select([4, 2]).to_list()
    # constructors
    out["from_list"] = lib.Dataset.from_list(rows[:3]).to_list()
    columns = {"a": [1, 2], "b": ["x", "y"]}
    typed = lib.Dataset.from_dict(columns, features=F({"a": V("int8"), "b": V("string")}))
    out["from_dict"] = [typed.to_list(), {k: repr(v) for k, v in typed.features.items()}]

    def gen(shards, extra):
        for shard in shards:
            for row in shard:
                yield {**row, "extra": extra}

    shards = [rows[0:50], rows[50:120], rows[120:200]]
    generated = lib.Dataset.from_generator(gen, gen_kwargs={"shards": shards, "extra": 1})
    out["from_generator"] = generated.to_list()[::40]
    # a stream
    it = lib.IterableDataset.from_generator(gen, gen_kwargs={"shards": shards, "extra": 2})
    out["it_n_shards"] = it.n_shards
    out["it_rows"] = [r["id"] for r in it]
    out["it_map_indices"] = [r["idx"] for r in it.map(lambda r, i: {"idx": i}, with_indices=True)]
    out["it_filter_indices"] = [r["id"] for r in it.filter(lambda r, i: i % 9 == 0, with_indices=True)]
    out["it_batched_indices"] = sorted({r["first"] for r in it.map(
        lambda b, idx: {"first": [idx[0]] * len(idx)}, batched=True, batch_size=32, with_indices=True
    )})
    out["it_batched_whole"] = sorted({r["n"] for r in it.map(
        lambda b: {"n": [len(b["id"])] * len(b["id"])}, batched=True, batch_size=None
    )})
    out["it_to_list"] = it.take(2).to_list()
    out["it_to_dict"] = it.select_columns(["id"]).take(4).to_dict()
    typed = lib.IterableDataset.from_generator(
        gen, features=F({"id": V("float64"), "question": V("string"), "answer": V("string"),
                         "bucket": V("int32"), "extra": V("int8")}),
        gen_kwargs={"shards": shards[:1], "extra": 3},
    )
    out["it_from_generator_features"] = list(typed.take(2))
    # datasets: an IterableDataset's cast_column needs known features (from_generator without fails)
    out["it_cast_column"] = [r["bucket"] for r in typed.cast_column("bucket", V("float32")).take(3)]
    return out
"""

HF_SNIPPET = """
import datasets, json
datasets.disable_progress_bars()
exec(ARGS["cases"])
ds = datasets.load_dataset("json", data_files=ARGS["path"], split="train")
print(json.dumps(run(ds, datasets, ARGS["rows"], ARGS["splits"]), default=repr))
"""


def gsm8k_rows(n: int = N_ROWS) -> list[dict]:
    rows = []
    with open(os.path.join(GSM8K_DIR, "train.jsonl"), "rb") as f:
        for i, line in zip(range(n), f, strict=False):
            row = orjson.loads(line)
            rows.append(
                {
                    "id": i,
                    "question": row["question"],
                    "answer": row["answer"],
                    "bucket": len(row["question"]) % 5,
                }
            )
    return rows


@pytest.fixture(scope="module")
def both(hf_python, tmp_path_factory):
    """(datasets' values, crucible's values) of every case."""
    rows = gsm8k_rows()
    path = tmp_path_factory.mktemp("methods") / "train.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    theirs = hf_python(HF_SNIPPET, cases=CASES, path=str(path), rows=rows, splits=SPLIT_CASES)
    namespace: dict = {}
    exec(CASES, namespace)
    lib = types.SimpleNamespace(
        Dataset=cd.Dataset, IterableDataset=cd.IterableDataset, Features=Features, Value=Value
    )
    ours = json.loads(
        json.dumps(namespace["run"](cd.load(str(path), split="train"), lib, rows, SPLIT_CASES), default=repr)
    )
    return theirs, ours


CASE_NAMES = sorted({*re.findall(r'out\["(\w+)"\]', CASES), *(f"split_{name}" for name in SPLIT_CASES)})


@pytest.mark.parametrize("case", CASE_NAMES)
def test_same_values_as_datasets(both, case):
    theirs, ours = both
    assert case in theirs and case in ours
    assert ours[case] == theirs[case]


def test_the_cases_cover_the_methods(both):
    theirs, ours = both
    assert set(theirs) == set(ours) == set(CASE_NAMES)
