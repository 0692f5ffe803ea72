"""Flex templates offline: ``crucible template build`` and the launcher entry point, for real.

The template spec file is built by the command line and read back (from disk and from the GCS
emulator); the build context is checked against the Dockerfile's COPY lines and installed with
pip (no Docker daemon here, so the image itself is not built); the entry file the image runs is
run as a subprocess: with ``--dry_run`` (the job is built), with ``--template_location`` as
Google's launcher passes it (Beam stages the package and the pipeline to the emulator and writes
the job's description, all offline), on the local runner against the emulator (the parameters
really set the spec), and with bad parameters (refused before anything is built).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile

import orjson
import pytest

import crucible_datasets as cd
from crucible_datasets.cli import main as crucible
from crucible_datasets.storage.gcs import storage_client
from crucible_datasets.templates import dockerfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = "us-central1-docker.pkg.dev/crucible-test/templates/crucible:v1"
ROWS = [{"id": i, "score": i / 10} for i in range(10)]  # 4 rows have score > 0.5
DATAFLOW = ["--runner", "DataflowRunner", "--project", "crucible-test", "--region", "us-central1"]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def spec_file(tmp_path):
    """A small spec on local files: a JSONL input, one filter, a JSONL sink."""
    data = tmp_path / "data" / "train.jsonl"
    data.parent.mkdir()
    data.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in ROWS))
    spec = tmp_path / "nightly.yaml"
    spec.write_text(
        f"source:\n  path: {data}\n"
        "stages:\n  - op: where\n    expression: score > 0.5\n"
        f"sink:\n  path: {tmp_path / 'out'}\n  format: jsonl\n"
    )
    return str(spec)


def build(spec: str, output: str, context: str) -> int:
    return crucible(
        ["template", "build", spec, "--image", IMAGE, "--output", output, "--dockerfile-dir", context]
    )


def parameters(template: dict) -> dict[str, dict]:
    return {p["name"]: p for p in template["metadata"]["parameters"]}


def test_template_spec_file_is_googles_format_and_its_parameters_are_complete(spec_file, tmp_path, capsys):
    assert build(spec_file, str(tmp_path / "template.json"), str(tmp_path / "ctx")) == 0
    assert "template spec: " in capsys.readouterr().out
    template = orjson.loads((tmp_path / "template.json").read_bytes())
    assert template["image"] == IMAGE
    assert template["sdkInfo"] == {"language": "PYTHON"}
    assert template["metadata"]["name"] == "nightly"
    given = parameters(template)
    assert {"input", "output", "revision", "runner_options"} <= set(given)
    for parameter in given.values():
        assert set(parameter) == {"name", "label", "helpText", "isOptional", "regexes"}
        assert parameter["label"] and parameter["helpText"] and parameter["regexes"]
        for pattern in parameter["regexes"]:
            re.compile(pattern)
    # the spec's input and output are local: a Dataflow launch must give both; the rest fall back
    assert [name for name, p in given.items() if not p["isOptional"]] == ["input", "output"]
    # gcloud's --metadata-file takes the same metadata
    assert orjson.loads((tmp_path / "ctx" / "metadata.json").read_bytes()) == template["metadata"]


def test_optional_when_the_spec_already_names_remote_paths(tmp_path):
    spec = tmp_path / "hub.yaml"
    spec.write_text(
        "source:\n  path: openai/gsm8k\n  config: main\nsink:\n  path: gs://crucible-bucket/gsm8k\n"
    )
    assert build(str(spec), str(tmp_path / "t.json"), str(tmp_path / "ctx")) == 0
    given = parameters(orjson.loads((tmp_path / "t.json").read_bytes()))
    assert not any(not p["isOptional"] for p in given.values())
    assert "Default (the spec's sink.path): gs://crucible-bucket/gsm8k." in given["output"]["helpText"]
    assert "Default (the spec's source.config): main." in given["config"]["helpText"]


VALID = {
    "input": [
        "gs://my-bucket/data/train-*.jsonl",
        "gs://abc/x",
        "hf://datasets/openai/gsm8k@main/main",
        "openai/gsm8k",
    ],
    "output": ["gs://my-bucket/out", "gs://crucible-bucket", "gs://a.b-c_d/nested/dir/"],
    "revision": [
        "main",
        "v1.0",
        "refs/pr/3",
        "refs/convert/parquet",
        "0123456789abcdef0123456789abcdef01234567",
    ],
    "config": ["main", "socratic", "en-2024.v1"],
    "num_shards": ["1", "16", "999999"],
    "incremental": ["true", "false"],
    "runner_options": [
        "--max_num_workers=20",
        "--max_num_workers=20 --experiments=use_runner_v2",
        "--streaming",
    ],
}
INVALID = {
    "input": [
        "not-a-url",
        "/local/data",
        "gs://ab/x",
        "gs://Bucket/x",
        "s3://bucket/x",
        "gs://b ucket/x",
        "",
    ],
    "output": [
        "not-a-url",
        "/local/out",
        "out",
        "gs://",
        "gs://ab",
        "gs://-bad-/x",
        "hf://datasets/a/b",
        "gs://b/x y",
    ],
    "revision": ["main branch", "../etc", "a..b", "-rf", "/main", ""],
    "config": ["has space", "-x", ""],
    "num_shards": ["0", "-1", "1.5", "many", "1000000", ""],
    "incremental": ["yes", "True", "1", ""],
    "runner_options": ["max_num_workers=20", "--a=1;rm -rf /", "-x", "--", ""],
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_regexes_accept_valid_values_and_reject_bad_ones(name, spec_file, tmp_path):
    assert build(spec_file, str(tmp_path / "t.json"), str(tmp_path / "ctx")) == 0
    regexes = parameters(orjson.loads((tmp_path / "t.json").read_bytes()))[name]["regexes"]

    def accepted(value: str) -> bool:
        return any(re.fullmatch(pattern, value) for pattern in regexes)

    assert [v for v in VALID[name] if not accepted(v)] == []
    assert [v for v in INVALID[name] if accepted(v)] == []


def test_template_spec_file_is_written_to_gcs(gcs_emulator, spec_file, tmp_path):
    url = gcs_emulator.path("templates/nightly.json")
    assert build(spec_file, url, str(tmp_path / "ctx")) == 0
    blob = storage_client().bucket(gcs_emulator.bucket).blob("templates/nightly.json")
    template = orjson.loads(blob.download_as_bytes())
    assert template["image"] == IMAGE and parameters(template)["output"]["regexes"]


def test_writing_to_a_missing_bucket_fails_naming_it(gcs_emulator, spec_file, tmp_path, capsys):
    assert build(spec_file, "gs://no-such-bucket-here/t.json", str(tmp_path / "ctx")) == 2
    assert "no-such-bucket-here" in capsys.readouterr().err


def copy_sources(text: str) -> list[str]:
    """The build-context paths the Dockerfile's COPY lines copy (every word but the destination)."""
    sources = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            sources.extend(word.rstrip("/") for word in line.split()[1:-1])
    return sources


def test_dockerfile_and_the_build_context_it_copies(spec_file, tmp_path):
    context = tmp_path / "ctx"
    assert build(spec_file, str(tmp_path / "t.json"), str(context)) == 0
    text = (context / "Dockerfile").read_text()
    lines = text.splitlines()
    assert "FROM gcr.io/dataflow-templates-base/python311-template-launcher-base" in lines
    assert "ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py" in lines
    assert "ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE=/template/setup.py" in lines
    assert "RUN pip install --no-cache-dir /template" in lines
    assert "COPY setup.py /template/setup.py" in lines
    sources = copy_sources(text)
    assert sorted(sources) == sorted(["setup.py", "crucible_datasets", "spec.yaml", "launch.py"])
    assert all((context / source).exists() for source in sources)
    assert sorted(os.listdir(context)) == sorted([*sources, "Dockerfile", "metadata.json"])
    # the repository's own setup.py and package; the spec as written; no compiled leftovers
    assert (context / "setup.py").read_bytes() == open(os.path.join(ROOT, "setup.py"), "rb").read()
    for name in ("templates/launcher.py", "spec/schema.json", "data/openthoughts_sample.parquet"):
        assert (context / "crucible_datasets" / name).read_bytes() == open(
            os.path.join(ROOT, "crucible_datasets", name), "rb"
        ).read()
    assert (context / "spec.yaml").read_bytes() == open(spec_file, "rb").read()
    assert not [p for p, _, _ in os.walk(context) if p.endswith("__pycache__")]


def _can_build_wheels() -> bool:
    """setuptools builds wheels itself from 70.1; before, it needs the ``wheel`` package."""
    import importlib.util

    import setuptools

    return tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1) or bool(
        importlib.util.find_spec("wheel")
    )


@pytest.mark.skipif(not _can_build_wheels(), reason="offline pip needs setuptools >= 70.1 or wheel here")
def test_the_build_context_installs_with_pip(spec_file, tmp_path):
    """What the Dockerfile's RUN does, offline: pip builds and installs the context's setup.py (in
    the image pip's build isolation brings its own setuptools; offline it uses this one)."""
    context = tmp_path / "ctx"
    assert build(spec_file, str(tmp_path / "t.json"), str(context)) == 0
    target = tmp_path / "site"
    offline = ["--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    cmd = [sys.executable, "-m", "pip", "install", *offline, "--target", str(target), str(context)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (target / "crucible_datasets" / "templates" / "launcher.py").is_file()
    assert (target / "crucible_datasets" / "spec" / "schema.json").is_file()  # package data too


def test_a_rebuild_replaces_its_own_context_and_refuses_any_other_folder(spec_file, tmp_path, capsys):
    context = tmp_path / "ctx"
    assert build(spec_file, str(tmp_path / "t.json"), str(context)) == 0
    (context / "stale.txt").write_text("left by hand")
    assert build(spec_file, str(tmp_path / "t.json"), str(context)) == 0
    assert not (context / "stale.txt").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert build(spec_file, str(tmp_path / "t.json"), str(mine)) == 2
    err = capsys.readouterr().err
    assert "was not written by `crucible template build`" in err and "notes.txt" in err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_bad_image_and_bad_spec_are_refused(spec_file, tmp_path, capsys):
    bad = ["template", "build", spec_file, "--image", "crucible", "--output", str(tmp_path / "t.json")]
    assert crucible(bad) == 2
    assert "--image 'crucible' is not a container image" in capsys.readouterr().err
    spec = tmp_path / "broken.yaml"
    spec.write_text("source:\n  path: data/\nsink:\n  path: out\n  num_shards: 0\n")
    assert build(str(spec), str(tmp_path / "t.json"), str(tmp_path / "ctx")) == 2
    assert "broken.yaml:5: sink.num_shards: 0 is less than the minimum of 1" in capsys.readouterr().err
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "ctx").exists()


# --- the launcher entry point, as the image runs it ----------------------------------------------


@pytest.fixture
def launch(spec_file, tmp_path, gcs_emulator):
    """Runs the build context's launch.py (the image's FLEX_TEMPLATE_PYTHON_PY_FILE) with the
    emulator, no Google credentials, the context's own copy of the package; and the input on GCS."""
    context = tmp_path / "ctx"
    assert build(spec_file, str(tmp_path / "t.json"), str(context)) == 0
    bucket = storage_client().bucket(gcs_emulator.bucket)
    bucket.blob("in/train.jsonl").upload_from_string(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "STORAGE_EMULATOR", "PYTHONPATH"))
    }
    env["STORAGE_EMULATOR_HOST"] = gcs_emulator.url

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, str(context / dockerfile.ENTRY_FILE), *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)

    run.bucket = bucket
    run.url = gcs_emulator.path
    run.context = context
    return run


def published(bucket) -> list[str]:
    """The output's published files: its shards and its card."""
    return [
        b.name for b in bucket.list_blobs(prefix="out/") if b.name.startswith(("out/data/", "out/README"))
    ]


def test_launcher_builds_the_dataflow_job_with_dry_run(launch):
    proc = launch(
        "--input", launch.url("in/train.jsonl"), "--output", launch.url("out"), *DATAFLOW,
        "--temp_location", launch.url("tmp"), "--dry_run=True",
        "--setup_file", str(launch.context / "setup.py"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the DataflowRunner job was built, not run" in proc.stdout
    assert published(launch.bucket) == []  # built, nothing written


def test_launcher_stages_the_job_as_googles_launcher_asks(launch):
    """Google's launcher passes --template_location: Beam stages the package (an sdist of the
    context's setup.py) and the pipeline, and writes the job's description there, not submitting it."""
    job_object = launch.url("staging/template_launches/1/job_object")
    proc = launch(
        "--input", launch.url("in/train.jsonl"), "--output", launch.url("out"), "--num_shards", "2",
        *DATAFLOW, "--temp_location", launch.url("tmp"), "--staging_location", launch.url("staging"),
        "--template_location", job_object, "--setup_file", str(launch.context / "setup.py"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    names = [b.name for b in launch.bucket.list_blobs(prefix="staging/")]
    assert "staging/template_launches/1/job_object" in names
    job = orjson.loads(launch.bucket.blob("staging/template_launches/1/job_object").download_as_bytes())
    staged = {item["name"]: item["location"] for item in job["environment"]["workerPools"][0]["packages"]}
    assert "workflow.tar.gz" in staged  # the workers install the package from it
    prefix = f"storage.googleapis.com/{launch.bucket.name}/"
    assert all(location.removeprefix(prefix) in names for location in staged.values())
    assert any(n.endswith("/pipeline.pb") for n in names)
    (sdist,) = [n for n in names if n.endswith("/workflow.tar.gz")]
    with tarfile.open(fileobj=io.BytesIO(launch.bucket.blob(sdist).download_as_bytes())) as tar:
        files = tar.getnames()
    assert any(n.endswith("crucible_datasets/templates/launcher.py") for n in files)
    assert any(n.endswith("crucible_datasets/spec/schema.json") for n in files)
    assert published(launch.bucket) == []  # staged, not run


def test_launcher_runs_the_spec_with_the_parameters(launch):
    """On the local runner the launch really runs: the input, the output and num_shards come from
    the parameters, the filter from the baked-in spec."""
    proc = launch("--input", launch.url("in/train.jsonl"), "--output", launch.url("out"), "--num_shards", "2",
                  "--runner", "local")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    shards = [b.name for b in launch.bucket.list_blobs(prefix="out/data/")]
    assert len(shards) == 2 and all(n.endswith(".jsonl") for n in shards)
    rows = sorted(cd.load(launch.url("out"), split="train"), key=lambda r: r["id"])
    assert rows == [r for r in ROWS if r["score"] > 0.5]


def test_launcher_refuses_bad_parameters_before_building_anything(launch):
    proc = launch("--input", "/local/data", "--output", "not-a-url", "--num_shards", "0", *DATAFLOW,
                  "--temp_location", launch.url("tmp"), "--dry_run=True")  # fmt: skip
    assert proc.returncode == 2
    err = proc.stderr
    assert "template parameter output='not-a-url' is not valid" in err
    assert "template parameter input='/local/data' is not valid" in err
    assert "template parameter num_shards='0' is not valid" in err
    assert "gs://bucket/path" in err  # says what an output is
    assert "Traceback" not in err and "DataflowRunner job was built" not in proc.stdout
    assert [b.name for b in launch.bucket.list_blobs()] == ["in/train.jsonl"]


def test_launcher_requires_what_the_spec_cannot_give(launch):
    proc = launch("--input", launch.url("in/train.jsonl"), *DATAFLOW, "--temp_location", launch.url("tmp"),
                  "--dry_run=True")  # fmt: skip
    assert proc.returncode == 2
    assert "template parameter output is required: the spec's sink.path" in proc.stderr
