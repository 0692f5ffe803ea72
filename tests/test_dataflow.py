"""Dataflow readiness without reaching Google: the job graph builds, and the package stages from setup.py."""

import os
import subprocess
import sys
import tarfile

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.stager import Stager

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_openthoughts_dry_run_on_dataflow(tmp_path):
    """The issue's command with names Beam's validator accepts: it rejects project ``p`` (ids have
    6-30 characters) and bucket ``b`` (3-63), and then tries to create a default bucket online."""
    cmd = [
        sys.executable, "-m", "crucible_datasets.cli", "run", "openthoughts", "--sample",
        "--output", "gs://crucible-bucket/out", "--min-difficulty", "3",
        "--runner", "DataflowRunner", "--project", "crucible-test", "--region", "us-central1",
        "--temp_location", "gs://crucible-bucket/tmp", "--dry_run=True", "--setup_file", "./setup.py",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "STORAGE_EMULATOR"))}
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "job was built" in proc.stdout


def test_package_stages_from_setup_py(tmp_path):
    options = PipelineOptions(["--setup_file", os.path.join(ROOT, "setup.py")])
    Stager.create_job_resources(options, str(tmp_path))
    (sdist,) = [p for p in os.listdir(tmp_path) if p.endswith(".tar.gz")]
    with tarfile.open(tmp_path / sdist) as tar:
        names = tar.getnames()
    assert any(n.endswith("crucible_datasets/pipelines/openthoughts.py") for n in names)
    assert any(n.endswith("crucible_datasets/data/openthoughts_sample.parquet") for n in names)
    assert any(n.endswith("crucible_datasets/runners/beam/job.py") for n in names)
