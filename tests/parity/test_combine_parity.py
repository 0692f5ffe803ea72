"""Parity with ``datasets`` 5.x: ``concatenate_datasets`` / ``interleave_datasets`` on the same
small files, eager and streaming, with and without probabilities and seed, every stopping
strategy, inputs with stages of their own: the same values in the same order. The streaming
results are also written on the local runner and on Beam (``runner="direct"``)."""

from __future__ import annotations

import json

import pytest

import crucible_datasets as cd

STRATEGIES = ("first_exhausted", "all_exhausted", "all_exhausted_without_replacement")
PROBABILITIES = (None, [0.5, 0.3, 0.2], [0.97, 0.025, 0.005])  # the last needs more than 1000 draws
SEEDS = (42, 7)

# The same cases in both libraries: the inputs get a map (first) and a filter (second).
CASES = r"""
def cases(cd, load, streaming, files, strategies, probabilities, seeds):
    def staged():
        ds = [load(f, streaming) for f in files]
        ds[0] = ds[0].map(lambda r: {"i": r["i"] * 10})
        ds[1] = ds[1].filter(lambda r: r["i"] % 3 != 1)
        return ds

    def rows(d):
        return [[r["src"], r["i"]] for r in d]

    out = {"concat": rows(cd.concatenate_datasets(staged()))}
    for strategy in strategies:
        for p in probabilities:
            for seed in seeds if p is not None else (None,):
                d = cd.interleave_datasets(staged(), probabilities=p, seed=seed, stopping_strategy=strategy)
                out[f"{strategy} {p} {seed}"] = rows(d)
    return out
"""

HF_SNIPPET = (
    CASES
    + r"""
import datasets, json

def load(f, streaming):
    return datasets.load_dataset("json", data_files=f, split="train", streaming=streaming)

print(json.dumps({
    mode: cases(datasets, load, mode == "streaming", ARGS["files"], ARGS["strategies"], ARGS["probabilities"],
                ARGS["seeds"])
    for mode in ("eager", "streaming")
}))
"""
)


def _files(tmp_path) -> list[str]:
    paths = []
    for name, n in (("a", 300), ("b", 40), ("c", 7)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"src": name, "i": i}) + "\n" for i in range(n)))
        paths.append(str(path))
    return paths


def _ours(files) -> dict:
    namespace: dict = {}
    exec(CASES, namespace)  # the very code the datasets snippet runs

    def load(f, streaming):
        return cd.load(f, split="train", streaming=streaming)

    return {
        mode: namespace["cases"](cd, load, mode == "streaming", files, STRATEGIES, PROBABILITIES, SEEDS)
        for mode in ("eager", "streaming")
    }


@pytest.fixture(scope="module")
def both(hf_python, tmp_path_factory):
    files = _files(tmp_path_factory.mktemp("combine"))
    theirs = hf_python(
        HF_SNIPPET, files=files, strategies=STRATEGIES, probabilities=PROBABILITIES, seeds=SEEDS
    )
    return files, theirs, _ours(files)


@pytest.mark.parametrize("mode", ["eager", "streaming"])
def test_same_rows_in_the_same_order_as_datasets(both, mode):
    _, theirs, ours = both
    assert set(ours[mode]) == set(theirs[mode])
    for case, rows in theirs[mode].items():
        assert ours[mode][case] == rows, f"{mode} {case}"
    # the cases do tell the modes apart: datasets' eager and streaming interleaves differ
    assert theirs["eager"]["all_exhausted None None"] != theirs["streaming"]["all_exhausted None None"]


@pytest.mark.parametrize("runner", ["local", "direct"])
def test_streaming_combinations_write_the_rows_datasets_streams(both, tmp_path, runner):
    files, theirs, _ = both
    inputs = [cd.load(f, split="train", streaming=True) for f in files]
    inputs[0] = inputs[0].map(lambda r: {"i": r["i"] * 10})
    inputs[1] = inputs[1].filter(lambda r: r["i"] % 3 != 1)
    combos = {
        "concat": cd.concatenate_datasets(inputs),
        "all_exhausted [0.97, 0.025, 0.005] 7": cd.interleave_datasets(
            inputs, probabilities=[0.97, 0.025, 0.005], seed=7, stopping_strategy="all_exhausted"
        ),
    }
    for case, combined in combos.items():
        summary = combined.write_jsonl(str(tmp_path / case.replace(" ", "_")), num_shards=3, runner=runner)
        written = [json.loads(line) for path in summary.files for line in open(path)]
        assert [[r["src"], r["i"]] for r in written] == theirs["streaming"][case]
        c = summary.counts
        assert c.rows_read + c.rows_added == c.rows_written + c.rows_filtered + c.rows_bad
