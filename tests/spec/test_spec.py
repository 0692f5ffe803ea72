"""Pipeline specs: round trips through every op, checks with lines, overrides, and the commands."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pyarrow.parquet as pq
import pytest

import crucible_datasets as cd
from crucible_datasets.operations import OPERATIONS
from crucible_datasets.spec import SpecError, load_spec
from crucible_datasets.spec.schema import OPS
from tests.data_paths import GSM8K_DIR
from tests.spec import functions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "gsm8k.yaml")
F = "tests.spec.functions"
SVG = "{http://www.w3.org/2000/svg}text"

# One use of every op, as the Python API is called: (op, args, kwargs).
EXAMPLES = {
    "map": [
        ((functions.add_length,), {"fn_kwargs": {"column": "answer"}}),
        ((), {"batched": True, "function": functions.batch_lengths, "batch_size": 7}),
    ],  # fmt: skip
    "filter": [
        ((functions.long_enough,), {"fn_kwargs": {"minimum": 150}}),
        ((functions.keep_even,), {"batched": True}),
    ],  # fmt: skip
    "flat_map": [((functions.twice,), {})],
    "map_batches": [((functions.upper_answers,), {})],
    "cast": [(({"question": "large_string", "answer": "string"},), {})],
    "cast_column": [(("answer", "large_string"), {})],
    "where": [(("len(question) > 120",), {})],
    "sql": [(("SELECT question FROM batch WHERE length(answer) > 300",), {})],
    "with_columns": [(({"n": "len(answer)", "question": "len(question) > 100"},), {})],
    "batch": [((4,), {"drop_last_batch": True})],
    "take": [((11,), {})],
    "skip": [((5,), {})],
    "dedupe": [((), {"key": "answer"})],
    "sample": [((0.5,), {"seed": 3})],
    "select_columns": [((["question"],), {})],
    "remove_columns": [(("answer",), {})],
    "rename_column": [(("question", "q"), {})],
    "rename_columns": [(({"question": "q", "answer": "a"},), {})],
    "shuffle": [((), {"seed": 7, "buffer_size": 16})],
    "apply": [((functions.Prefix("question", "Q: "),), {})],
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """60 GSM8K rows as one JSON Lines file."""
    folder = tmp_path_factory.mktemp("small")
    with open(os.path.join(GSM8K_DIR, "test.jsonl")) as f:
        lines = [next(f) for _ in range(60)]
    (folder / "train.jsonl").write_text("".join(lines))
    return str(folder)


def rows(path, split="train"):
    return cd.load(path, split=split).to_list()


def test_every_operation_has_an_example_and_a_schema_entry():
    assert set(EXAMPLES) == set(OPERATIONS) == set(OPS)


@pytest.mark.parametrize("op,case", [(op, i) for op, cases in EXAMPLES.items() for i in range(len(cases))])
def test_every_op_round_trips_and_writes_the_same_rows(small, tmp_path, op, case):
    if op == "sql":
        pytest.importorskip("duckdb")
    args, kwargs = EXAMPLES[op][case]
    ds = getattr(cd.load(small, split="train", streaming=True), op)(*args, **kwargs)
    sink = {"path": str(tmp_path / "spec"), "format": "jsonl"}
    spec = ds.to_spec(sink=sink)
    assert spec["stages"][-1]["op"] == op
    again = cd.Pipeline.from_spec(spec).to_spec(sink=sink)
    assert again == spec
    assert json.loads(json.dumps(spec)) == spec  # plain data
    assert load_spec(spec).to_dict() == spec
    ds.write_jsonl(str(tmp_path / "api"))
    load_spec(spec).run()
    assert rows(str(tmp_path / "spec")) == rows(str(tmp_path / "api"))


def test_round_trip_keeps_source_options_and_chains(small, tmp_path):
    ds = (
        cd.load(small, split="train", streaming=True, columns=["question", "answer"], on_error="skip")
        .where("len(question) > 100")
        .map(functions.add_length)
        .rename_column("length", "n")
    )
    spec = ds.to_spec(sink={"path": str(tmp_path / "out")}, runner={"name": "local"})
    assert spec["source"] == {
        "path": small,
        "columns": ["question", "answer"],
        "on_error": "skip",
        "split": "train",
    }
    assert [s["op"] for s in spec["stages"]] == ["where", "map", "rename_column"]
    assert spec["stages"][1]["function"] == f"{F}:add_length"
    loaded = load_spec(load_spec(spec).to_yaml() and spec)
    assert (
        cd.Pipeline.from_spec(loaded.to_dict()).to_spec(**{"sink": spec["sink"], "runner": spec["runner"]})
        == spec
    )
    summary = loaded.run()
    assert summary.rows == len(ds.to_list()) > 0


def test_to_spec_refuses_what_has_no_import_path(small):
    ds = cd.load(small, split="train", streaming=True)

    def local_fn(row):
        return row

    with pytest.raises(ValueError, match=r"stage 1 \(map\): function: a lambda has no import path"):
        ds.map(lambda r: r).to_spec()
    with pytest.raises(
        ValueError, match=r"stage 2 \(filter\): function: .*local_fn is defined inside a function"
    ):
        ds.take(3).filter(local_fn).to_spec()
    with pytest.raises(ValueError, match=r"stage 1 \(Unnamed\).*does not define spec_args"):
        ds.apply(functions.Unnamed()).to_spec()
    with pytest.raises(ValueError, match="was not made by cd.load"):
        cd.Dataset.from_list([{"x": 1}]).to_spec()


def test_validate_reports_every_problem_with_its_line(small, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        f"source:\n  path: {small}\n  colour: red\n"  # line 3
        "stages:\n"
        "  - op: mapp\n"  # line 5
        f"  - op: map\n    function: {F}:no_such_function\n"  # line 7
        "  - op: take\n    n: -3\n"  # line 9
        "  - op: map\n    function: no_such_package.mod:fn\n"  # line 11
        "sink:\n  path: out\n  num_shards: 0\n"  # line 14
    )
    with pytest.raises(SpecError) as caught:
        load_spec(str(spec))
    found = {(p.line, ".".join(map(str, p.path))) for p in caught.value.problems}
    assert found == {
        (3, "source.colour"), (5, "stages.0.op"), (7, "stages.1.function"), (9, "stages.2.n"),
        (11, "stages.3.function"), (14, "sink.num_shards"),
    }  # fmt: skip
    text = str(caught.value)
    assert f"{spec}:7: stages[1].function: module {F} has no attribute no_such_function; it has: " in text
    assert "add_length" in text  # what exists
    assert f"{spec}:11: stages[3].function: no module named 'no_such_package'" in text
    proc = crucible("validate", str(spec), check=False)
    assert (
        proc.returncode == 2
        and "has 6 problems" in proc.stderr
        and f"{spec}:14: sink.num_shards" in proc.stderr
    )


def test_duplicate_keys_bad_yaml_and_a_source_that_is_not_there(tmp_path):
    doubled = tmp_path / "d.yaml"
    doubled.write_text("source:\n  path: a\n  path: b\n")
    with pytest.raises(SpecError, match=r"d.yaml:3: source.path: given twice \(first on line 2\)"):
        load_spec(str(doubled))
    broken = tmp_path / "b.yaml"
    broken.write_text("source: [unclosed\n")
    with pytest.raises(SpecError, match=r"b.yaml:2: the spec: not valid YAML or JSON"):
        load_spec(str(broken))
    missing = tmp_path / "m.json"
    missing.write_text(
        json.dumps({"source": {"path": str(tmp_path / "nowhere")}, "stages": [{"op": "take"}]}, indent=1)
    )
    with pytest.raises(SpecError) as caught:
        load_spec(str(missing))
    messages = [(p.line, p.message) for p in caught.value.problems]
    assert any(
        line == 2 and m.startswith("cannot read the source: ") and "nowhere" in m for line, m in messages
    )
    assert any(line == 6 and "'n' is a required key" in m for line, m in messages)


def test_overrides(small, tmp_path):
    spec = {"source": {"path": small}, "stages": [{"op": "take", "n": 3}], "sink": {"path": "unused"}}
    out = tmp_path / "o"
    loaded = load_spec(spec, [f"sink.path={out}", "stages.0.n=5", "sink.num_shards=2", "runner.name=local"])
    assert loaded.data["sink"] == {"path": str(out), "num_shards": 2} and loaded.data["stages"][0]["n"] == 5
    assert loaded.run().rows == 5 and len(os.listdir(out / "data")) == 2
    assert spec["stages"][0]["n"] == 3  # the mapping given is not changed
    with pytest.raises(SpecError) as caught:
        load_spec(spec, ["stages.4.n=1", "no-equals-sign", "sink.num_shards=zero"])
    text = str(caught.value)
    assert "--set stages.4.n=1: stages is a list of 1; give an index below 1" in text
    assert "--set no-equals-sign: an override is KEY=VALUE" in text
    with pytest.raises(
        SpecError, match=r"sink.num_shards: 'zero' is not of type 'integer' \(given by --set\)"
    ):
        load_spec(spec, ["sink.num_shards=zero"])


def test_a_spec_runs_nothing_but_the_functions_it_names(small, tmp_path):
    marker = tmp_path / "ran"
    unsafe = tmp_path / "u.yaml"
    unsafe.write_text(f"source: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(
        SpecError, match=r"u.yaml:1: the spec: not plain data \(could not determine a constructor"
    ):
        load_spec(str(unsafe))
    not_a_stage = {"source": {"path": small}, "stages": [{"op": "apply", "stage": "os:system", "args": {}}]}
    with pytest.raises(SpecError, match="os:system is not a crucible_datasets.Stage class"):
        load_spec(not_a_stage)
    functions.CALLS.clear()
    named = [{"op": "filter", "function": f"{F}:long_enough"}, {"op": "map", "function": f"{F}:add_length"}]
    spec = {"source": {"path": small}, "stages": named, "sink": {"path": str(tmp_path / "out")}}
    from crucible_datasets.graph import spec_graph
    from crucible_datasets.spec.plan import plan_text

    loaded = load_spec(spec)
    assert "2. map [per_batch] function='tests.spec.functions:add_length'" in plan_text(loaded)
    assert "2. map  [per_batch]" in spec_graph(loaded)
    assert functions.CALLS == [] and not marker.exists() and not (tmp_path / "out").exists()


def crucible(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "crucible_datasets.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"crucible {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_crucible_run_spec_writes_what_the_python_api_writes(small, tmp_path):
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"source:\n  path: {small}\nstages:\n  - op: where\n    expression: len(question) > 100\n"
        f"  - op: map\n    function: {F}:add_length\n"
        "sink:\n  path: placeholder\n  format: parquet\n  num_shards: 2\n"
    )
    out = tmp_path / "cli"
    proc = crucible("run", str(spec), "--set", f"sink.path={out}")
    assert "rows in 2 shards" in proc.stdout
    api = tmp_path / "api"
    cd.load(small, split="train", streaming=True).where("len(question) > 100").map(
        functions.add_length
    ).write_parquet(str(api), num_shards=2)
    assert rows(str(out)) == rows(str(api)) and len(rows(str(out))) > 0
    files = sorted((out / "data").iterdir())
    assert len(files) == 2 and pq.read_table(files[0]).column_names == ["question", "answer", "length"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["configs"]["default"]["splits"]["train"]["spec"]["stages"][1]["function"]
        == f"{F}:add_length"
    )
    bad = crucible("run", str(spec), "--set", f"sink.path={out}", "--direct_num_workers=2", check=False)
    assert bad.returncode == 2 and "Beam flags need runner.name" in bad.stderr


def test_plan_prints_stages_and_tasks_without_running(small, tmp_path):
    spec = tmp_path / "p.yaml"
    out = tmp_path / "never"
    spec.write_text(
        f"source:\n  path: {small}\n  on_error: dead_letter\n"
        "stages:\n  - op: where\n    expression: len(question) > 1\n"
        f"  - op: dedupe\n    key: question\nsink:\n  path: {out}\n  num_shards: 3\n"
    )
    graph = tmp_path / "plan.svg"
    text = crucible("plan", str(spec), "--graph", str(graph)).stdout
    assert "  1. where [per_batch] expression='len(question) > 1'" in text
    assert "  2. dedupe [keyed] key='question'" in text
    assert f"sink: {out} (parquet, split train, num_shards 3)" in text
    assert "1 task for 3 shards (a whole-stream stage reads everything in one task):" in text
    assert "train.jsonl bytes [0, " in text
    assert not out.exists()
    direct = crucible("plan", str(spec), "--set", "runner.name=direct").stdout
    assert "distributed on Beam: read tasks, then stage(s) 2 by key, then 3 writers" in direct
    texts = [t.text for t in ET.parse(graph).getroot().iter(SVG)]
    assert "1. where  [per_batch]" in texts and "2. dedupe  [keyed]" in texts
    assert any(t.startswith("sink: /") and t.endswith("/never") for t in texts) and "dead letters" in texts


def test_report_draws_counts_per_stage(small, tmp_path):
    out = tmp_path / "out"
    spec = {
        "source": {"path": small, "on_error": "skip"},
        "stages": [{"op": "where", "expression": "len(question) > 150"}, {"op": "take", "n": 7}],
        "sink": {"path": str(out)},
    }
    summary = load_spec(spec).run()
    graph = tmp_path / "report.svg"
    text = crucible("report", str(out), "--graph", str(graph)).stdout
    assert "default/train: 7 rows in 1 shard(s)" in text and "ExpressionFilter [per_batch]: in 60 out" in text
    texts = [t.text for t in ET.parse(graph).getroot().iter(SVG)]
    filtered = summary.counts.rows_read - summary.counts.rows_filtered  # rows the where kept, before take
    assert "1. where: ExpressionFilter  [per_batch]" in texts and "2. take: Take  [whole_stream]" in texts
    assert "read 60 rows" in texts and "in 7 -> out 7" not in texts
    assert any(t.startswith("in 60 -> out ") for t in texts) and "7 rows" in texts and filtered >= 7
    from crucible_datasets.graph import manifest_graph

    entry = json.loads((out / "manifest.json").read_text())["configs"]["default"]["splits"]["train"]
    del entry["stages"]  # an output written before per-stage counts
    older = [t.text for t in ET.fromstring(manifest_graph(entry, str(out), "train")).iter(SVG)]
    assert (
        "1. where" in older
        and "(rows per stage not recorded)" in older
        and "wrote 7 rows in 1 shard(s)" in older
    )
    missing = crucible("report", str(out), "--split", "test", check=False)
    assert missing.returncode == 2 and "it has: default/train" in missing.stderr


def test_the_example_spec_in_docs_runs(tmp_path):
    spec = load_spec(EXAMPLE, [f"sink.path={tmp_path / 'gsm'}"])
    assert [s["op"] for s in spec.data["stages"]] == [
        "apply",
        "where",
        "dedupe",
        "select_columns",
        "rename_column",
    ]
    summary = spec.run()
    assert summary.rows > 1000 and len(summary.files) == 2
    assert set(rows(str(tmp_path / "gsm"))[0]) == {"question", "solution", "answer"}
    assert cd.Pipeline.from_spec(EXAMPLE).to_spec()["stages"] == spec.data["stages"]
