"""gs:// through storage.filesystem (Beam's GCS filesystem) against gcp-storage-emulator.

With ``STORAGE_EMULATOR_HOST`` set, credentials must be anonymous everywhere: without that,
google-auth probes the GCE metadata server and each process stalls about 20 s. The module-wide
time bound below would catch such a stall.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage import gcs

MODULE_BUDGET_SECONDS = 25.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module", autouse=True)
def module_is_quick():
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < MODULE_BUDGET_SECONDS, f"gs:// tests took {elapsed:.1f} s: a credentials stall?"


def test_write_read_list_rename_delete(gcs_emulator):
    started = time.monotonic()
    base = gcs_emulator.path("runs/1")
    with fs.open_output(fs.join(base, "a", "part-0.jsonl")) as f:
        f.write(b'{"x": 1}\n' * 1000)
    with fs.open_output(fs.join(base, "b.txt")) as f:
        f.write(b"hello")
    assert fs.exists(fs.join(base, "b.txt")) and not fs.exists(fs.join(base, "nope.txt"))
    assert fs.size(fs.join(base, "a", "part-0.jsonl")) == 9000
    assert fs.list_files(base) == [fs.join(base, "a", "part-0.jsonl"), fs.join(base, "b.txt")]
    assert fs.glob(fs.join(base, "a", "*.jsonl")) == [fs.join(base, "a", "part-0.jsonl")]
    assert fs.is_dir(fs.join(base, "a")) and not fs.is_dir(fs.join(base, "b.txt"))

    with fs.open_input(fs.join(base, "a", "part-0.jsonl")) as f:
        f.seek(9 * 500)
        assert f.read(9) == b'{"x": 1}\n'

    fs.rename(fs.join(base, "b.txt"), fs.join(base, "final", "b.txt"))
    assert not fs.exists(fs.join(base, "b.txt"))
    with fs.open_input(fs.join(base, "final", "b.txt")) as f:
        assert f.read() == b"hello"

    fs.delete(fs.join(base, "a"))
    assert fs.list_files(base) == [fs.join(base, "final", "b.txt")]
    fs.delete(base)
    assert fs.list_files(base) == []
    fs.delete(base)  # missing is fine
    assert time.monotonic() - started < 10.0


def test_google_cloud_storage_client_sees_beam_writes(gcs_emulator):
    path = gcs_emulator.path("shared/x.bin")
    with fs.open_output(path) as f:
        f.write(b"\x00\x01\x02")
    client = gcs.storage_client()
    bucket, name = gcs.split_gs_url(path)
    assert client.bucket(bucket).blob(name).download_as_bytes() == b"\x00\x01\x02"
    client.bucket(bucket).blob("shared/y.txt").upload_from_string(b"from the client")
    with fs.open_input(gcs_emulator.path("shared/y.txt")) as f:
        assert f.read() == b"from the client"


def test_beam_client_is_anonymous_under_the_emulator(gcs_emulator, monkeypatch):
    from apache_beam.io.gcp import gcsio
    from apache_beam.options.pipeline_options import PipelineOptions
    from google.auth.credentials import AnonymousCredentials

    assert gcs.configure()
    client = gcsio.create_storage_client(PipelineOptions())
    assert isinstance(client._credentials, AnonymousCredentials)
    assert client._connection.API_BASE_URL == gcs_emulator.url


def test_a_fresh_process_is_quick_too(gcs_emulator):
    """What a Beam worker does: a new interpreter, the env inherited, our modules imported."""
    script = textwrap.dedent(
        f"""
        import time
        started = time.monotonic()
        from crucible_datasets.storage import filesystem as fs
        with fs.open_output("{gcs_emulator.path("worker/out.txt")}") as f:
            f.write(b"from a worker")
        print(round(time.monotonic() - started, 2))
        """
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 15.0
    with fs.open_input(gcs_emulator.path("worker/out.txt")) as f:
        assert f.read() == b"from a worker"


def test_a_beam_pipeline_writes_to_gs(gcs_emulator):
    import apache_beam as beam

    out = gcs_emulator.path("beam/out")
    with beam.Pipeline("DirectRunner") as pipeline:
        _ = pipeline | beam.Create(["a", "b", "c"]) | beam.io.WriteToText(out, num_shards=1)
    (written,) = fs.glob(out + "*")
    with fs.open_input(written) as f:
        assert sorted(f.read().split()) == [b"a", b"b", b"c"]


def test_missing_bucket_or_object_is_one_short_error(gcs_emulator):
    from crucible_datasets.storage.discovery import DatasetNotFoundError, resolve

    bucket = gcs_emulator.bucket
    missing = gcs_emulator.path("data/nope.jsonl")
    for call in (fs.open_input, fs.size):
        with pytest.raises(gcs.GcsNotFoundError) as info:
            call(missing)
        assert str(info.value) == f"{missing}: no such object (bucket '{bucket}')"
    with pytest.raises(DatasetNotFoundError) as info:
        resolve(missing)
    assert str(info.value) == f"{missing}: no such object or folder (bucket '{bucket}')"
    for call in (fs.list_files, fs.glob, resolve, fs.open_input):
        with pytest.raises(gcs.GcsNotFoundError) as info:
            call("gs://no-such-bucket-9/data/*.jsonl" if call is fs.glob else "gs://no-such-bucket-9/data")
        assert str(info.value).endswith(": no such bucket 'no-such-bucket-9'"), call
        assert isinstance(info.value, FileNotFoundError) and "\n" not in str(info.value)


def test_writing_to_a_missing_bucket_fails_at_open(gcs_emulator, tmp_path):
    import crucible_datasets as cd

    with pytest.raises(gcs.GcsNotFoundError, match=r"write gs://no-such-bucket-8/x\.txt: no such bucket"):
        fs.open_output("gs://no-such-bucket-8/x.txt")
    source = tmp_path / "in.jsonl"
    source.write_text('{"a": 1}\n')
    dataset = cd.load(str(source), split="train", streaming=True)
    for write in (dataset.write_parquet, dataset.write_jsonl):
        with pytest.raises(gcs.GcsNotFoundError, match="-8/out/.*: no such bucket 'no-such-bucket-8'"):
            write("gs://no-such-bucket-8/out")
    with fs.open_output(gcs_emulator.path("ok.txt")) as f:  # an existing bucket is still fine
        f.write(b"ok")
    assert fs.size(gcs_emulator.path("ok.txt")) == 2
