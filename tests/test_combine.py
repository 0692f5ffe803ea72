"""``concatenate_datasets`` / ``interleave_datasets``: order, column alignment, errors, and the
combined streaming sources written on the local runner and on Beam (``runner="direct"``), with
the inputs' own stages and counts reconciled across the inputs."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

import crucible_datasets as cd
from crucible_datasets.combine import ConcatSource, InterleaveSource, align_schemas, interleave_indices
from crucible_datasets.pipeline import Tally


def _jsonl(path, rows) -> str:
    with open(path, "w") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return str(path)


def _three(tmp_path) -> list[str]:
    return [
        _jsonl(tmp_path / f"{name}.jsonl", [{"src": name, "i": i} for i in range(n)])
        for name, n in (("a", 3), ("b", 4), ("c", 5))
    ]


def _read(summary) -> list[dict]:
    return [json.loads(line) for path in summary.files for line in open(path)]


def _reconciles(c) -> bool:
    return c.rows_read + c.rows_added == c.rows_written + c.rows_filtered + c.rows_bad


d1 = cd.Dataset.from_dict({"a": [0, 1, 2]})
d2 = cd.Dataset.from_dict({"a": [10, 11, 12]})
d3 = cd.Dataset.from_dict({"a": [20, 21, 22]})


# --- eager: the values datasets' own docstring gives ----------------------------------------------


def test_eager_interleave_matches_datasets_docstring():
    assert cd.interleave_datasets([d1, d2, d3])["a"] == [0, 10, 20, 1, 11, 21, 2, 12, 22]
    drawn = cd.interleave_datasets([d1, d2, d3], probabilities=[0.7, 0.2, 0.1], seed=42)
    assert drawn["a"] == [10, 0, 11, 1, 2]
    out = cd.interleave_datasets(
        [d1, d2, d3], probabilities=[0.7, 0.2, 0.1], seed=42, stopping_strategy="all_exhausted"
    )
    assert out["a"] == [10, 0, 11, 1, 2, 20, 12, 10, 0, 1, 2, 21, 0, 11, 1, 2, 0, 1, 12, 2, 10, 0, 22]
    e2 = cd.Dataset.from_dict({"a": [10, 11, 12, 13]})
    e3 = cd.Dataset.from_dict({"a": [20, 21, 22, 23, 24]})
    assert cd.interleave_datasets([d1, e2, e3], stopping_strategy="all_exhausted")["a"] == [
        0, 10, 20, 1, 11, 21, 2, 12, 22, 0, 13, 23, 1, 10, 24,
    ]  # fmt: skip


def test_interleave_indices_without_replacement_cycles_the_rest():
    assert interleave_indices([3, 4, 3], stopping_strategy="all_exhausted_without_replacement") == [
        0, 3, 7, 1, 4, 8, 2, 5, 9, 6,
    ]  # fmt: skip


def test_eager_concatenate_keeps_order_fills_missing_columns_and_drops_empty_inputs():
    a = cd.Dataset.from_dict({"x": [1, 2]})
    b = cd.Dataset.from_dict({"y": ["c"], "x": [3]})
    empty = cd.Dataset.from_dict({"x": pa.array([], pa.string())})  # would not align: ignored, as datasets
    out = cd.concatenate_datasets([a, empty, b], split="train")
    assert isinstance(out, cd.Dataset) and out.split == "train"
    assert out.to_pylist() == [{"x": 1, "y": None}, {"x": 2, "y": None}, {"x": 3, "y": "c"}]
    assert cd.concatenate_datasets([empty, empty]).column_names == ["x"]


def test_column_type_mismatch_says_what_differs():
    a = cd.Dataset.from_dict({"x": [1]})
    b = cd.Dataset.from_dict({"x": ["one"]})
    with pytest.raises(ValueError, match=r"key 'x' of the dataset at position 1 has unexpected type - string "
                       r"\(expected either int64 or null\)"):  # fmt: skip
        cd.concatenate_datasets([a, b])
    with pytest.raises(ValueError, match="key 'x'"):
        cd.interleave_datasets([a.to_iterable_dataset(), b.to_iterable_dataset()])


def test_null_columns_and_structs_align():
    schema = align_schemas(
        [
            pa.schema({"x": pa.null(), "s": pa.struct({"a": pa.int64()})}),
            pa.schema({"x": pa.int64(), "s": pa.struct({"b": pa.string()})}),
        ]
    )
    assert schema == pa.schema({"x": pa.int64(), "s": pa.struct({"a": pa.int64(), "b": pa.string()})})
    with pytest.raises(ValueError, match=r"key s\.'a'"):
        align_schemas([pa.schema({"s": pa.struct({"a": t})}) for t in (pa.int64(), pa.string())])


@pytest.mark.parametrize("combine", [cd.concatenate_datasets, cd.interleave_datasets])
def test_argument_errors_as_datasets(combine):
    with pytest.raises(ValueError, match="empty list of datasets"):
        combine([])
    with pytest.raises(ValueError, match=r"Unable to \w+ a Dataset \(at position 0\) with a IterableDataset"):
        combine([d1, d2.to_iterable_dataset()])
    with pytest.raises(ValueError, match="at position 1 has at least one split: \\['train'\\]"):
        combine([d1, cd.DatasetDict(train=d2)])
    with pytest.raises(ValueError, match="at position 0 is a list"):
        combine([[1]])


def test_interleave_probability_errors():
    with pytest.raises(ValueError, match="is not supported"):
        cd.interleave_datasets([d1, d2], stopping_strategy="longest")
    for ds in ([d1, d2], [d1.to_iterable_dataset(), d2.to_iterable_dataset()]):
        with pytest.raises(ValueError, match="have probability 0"):
            cd.interleave_datasets(ds, probabilities=[1.0, 0.0], stopping_strategy="all_exhausted")
    with pytest.raises(ValueError, match=r"datasets at indices \[1\] are empty"):
        cd.interleave_datasets([d1, d1.take(0)], probabilities=[0.5, 0.5], seed=0)


# --- streaming ------------------------------------------------------------------------------------


def _eager(ds: cd.IterableDataset) -> cd.Dataset:
    return cd.Dataset.from_list(list(ds))


def test_streaming_interleave_stops_after_the_example_that_exhausts_a_source(tmp_path):
    a, b, c = (cd.load(p, split="train", streaming=True) for p in _three(tmp_path))
    rows = list(cd.interleave_datasets([c, b, a], stopping_strategy="all_exhausted"))
    # datasets' streaming interleave stops mid-round; the eager one takes whole rounds
    assert len(rows) == 13 and rows[-1] == {"src": "c", "i": 4}
    eager = cd.interleave_datasets([_eager(c), _eager(b), _eager(a)], stopping_strategy="all_exhausted")
    assert len(eager) == 15
    first = list(cd.interleave_datasets([c, b, a]))
    assert len(first) == 9 and first[-1] == {"src": "a", "i": 2}


def test_streaming_interleave_is_the_same_on_every_read(tmp_path):
    a, b, c = (cd.load(p, split="train", streaming=True) for p in _three(tmp_path))
    mixed = cd.interleave_datasets([a, b, c], probabilities=[0.2, 0.3, 0.5])  # no seed: drawn once
    assert list(mixed) == list(mixed)


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_concatenate_with_per_input_stages_written_in_order_with_reconciled_counts(tmp_path, runner):
    a_path, b_path, c_path = _three(tmp_path)
    a = cd.load(a_path, split="train", streaming=True).map(lambda r: {"i": r["i"] * 10, "tag": "mapped"})
    b = cd.load(b_path, split="train", streaming=True).filter(lambda r: r["i"] % 2 == 0)
    c = cd.load(c_path, split="train", streaming=True).take(2)  # whole-stream: one part of its own
    combined = cd.concatenate_datasets([a, b, c])
    assert isinstance(combined, cd.IterableDataset)
    expected = [
        {"src": "a", "i": 0, "tag": "mapped"}, {"src": "a", "i": 10, "tag": "mapped"},
        {"src": "a", "i": 20, "tag": "mapped"}, {"src": "b", "i": 0, "tag": None},
        {"src": "b", "i": 2, "tag": None}, {"src": "c", "i": 0, "tag": None},
        {"src": "c", "i": 1, "tag": None},
    ]  # fmt: skip
    assert list(combined) == expected
    summary = combined.write_jsonl(str(tmp_path / "out"), num_shards=3, runner=runner)
    assert _read(summary) == expected
    counts = summary.counts
    # a and b read whole; c's take(2) stops within c (how far depends on its parts): the rest is filtered
    assert counts.rows_written == 7 and 9 <= counts.rows_read <= 12
    assert counts.rows_filtered == counts.rows_read - 7
    assert counts.files_read == 3 and _reconciles(counts)


def test_concatenate_splits_into_tasks_of_each_inputs_parts(tmp_path):
    paths = [_jsonl(tmp_path / f"{k}.jsonl", [{"k": k, "i": i} for i in range(2000)]) for k in "ab"]
    combined = cd.concatenate_datasets([cd.load(p, split="train", streaming=True) for p in paths])
    source = combined.pipeline.source
    assert isinstance(source, ConcatSource)
    parts = source.parts(10_000)
    assert len(parts) > 4 and {p.input for p in parts} == {0, 1}
    tasks = combined.pipeline.plan_tasks(4)
    assert len(tasks) == 4
    summary = combined.write_jsonl(str(tmp_path / "out"), num_shards=4, runner="direct")
    assert [(r["k"], r["i"]) for r in _read(summary)] == [(k, i) for k in "ab" for i in range(2000)]
    assert summary.counts.rows_read == 4000
    assert summary.counts.bytes_read == sum(os.path.getsize(p) for p in paths)


@pytest.mark.parametrize("runner", ["local", "direct"])
@pytest.mark.parametrize("strategy", ["first_exhausted", "all_exhausted"])
def test_interleave_written_on_every_runner_with_reconciled_counts(tmp_path, runner, strategy):
    a_path, b_path, c_path = _three(tmp_path)
    a = cd.load(a_path, split="train", streaming=True).filter(lambda r: r["i"] != 1)
    b = cd.load(b_path, split="train", streaming=True)
    c = cd.load(c_path, split="train", streaming=True).map(lambda r: {"c": True})
    probabilities = [0.3, 0.3, 0.4]
    mixed = cd.interleave_datasets([a, b, c], probabilities=probabilities, seed=7, stopping_strategy=strategy)
    assert isinstance(mixed.pipeline.source, InterleaveSource)
    assert len(mixed.pipeline.source.parts()) == 1  # one ordered stream: one task
    expected = list(mixed)
    summary = mixed.write_jsonl(str(tmp_path / "out"), num_shards=2, runner=runner)
    assert _read(summary) == expected
    counts = summary.counts
    assert counts.rows_written == len(expected) and _reconciles(counts)
    if strategy == "all_exhausted":  # every source was read to its end at least once
        assert counts.rows_read >= 12


def test_bad_records_of_an_input_count_in_the_combination(tmp_path):
    good = _jsonl(tmp_path / "good.jsonl", [{"x": 1}, {"x": 2}])
    bad = _jsonl(tmp_path / "bad.jsonl", [{"x": 3}, "{not json", {"x": 4}])
    inputs = [
        cd.load(good, split="train", streaming=True),
        cd.load(bad, split="train", streaming=True, on_error="skip"),
    ]
    summary = cd.concatenate_datasets(inputs).write_jsonl(str(tmp_path / "out"), runner="direct")
    assert [r["x"] for r in _read(summary)] == [1, 2, 3, 4]
    c = summary.counts
    assert (c.rows_read, c.rows_written, c.rows_bad) == (5, 4, 1) and _reconciles(c)
    with pytest.raises(cd.BadRecordError):  # the second input keeps on_error="raise"
        list(cd.concatenate_datasets([inputs[1], cd.load(bad, split="train", streaming=True)]))


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_combination_then_dedupe_and_nested_combinations_count_every_stage(tmp_path, runner):
    a_path, b_path, c_path = _three(tmp_path)
    a = cd.load(a_path, split="train", streaming=True).map(lambda r: {"src": "x"})
    b = cd.load(b_path, split="train", streaming=True).map(lambda r: {"src": "x"})
    b = b.filter(lambda r: r["i"] < 3)
    c = cd.load(c_path, split="train", streaming=True)
    nested = cd.concatenate_datasets([cd.interleave_datasets([a, b]), c]).dedupe()
    expected = [{"src": "x", "i": i} for i in range(3)] + [{"src": "c", "i": i} for i in range(5)]
    assert list(nested) == expected
    summary = nested.write_jsonl(str(tmp_path / "out"), runner=runner)
    assert _read(summary) == expected
    counts = summary.counts
    assert counts.rows_written == 8 and _reconciles(counts)
    assert counts.rows_filtered == counts.rows_read - 8


def test_tally_nested_stage_indices_are_negative_and_distinct(tmp_path):
    a, b, c = (cd.load(p, split="train", streaming=True).filter(lambda r: True) for p in _three(tmp_path))
    pipe = cd.concatenate_datasets([cd.interleave_datasets([a, b]), c]).pipeline
    tally = Tally()
    for part in pipe.source.parts():
        list(pipe.run_parts([part], tally))
    keys = [k for k, _ in tally.nested]
    assert all(k < 0 for k in keys)
    assert len(set(keys)) == 4  # a's filter, b's filter, the interleave, c's filter (a, b re-read: same keys)
