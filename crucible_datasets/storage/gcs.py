"""``gs://`` through Beam's own GCS filesystem, with anonymous credentials against an emulator.

Beam's ``gcsio.GcsIO`` builds its client with ``create_storage_client(options)``, which asks
``google.auth.default()`` for credentials, retried with backoff: without real credentials that
probes the GCE metadata server and stalls about 20 s per process (Beam workers included) before
falling back to anonymous access. When ``STORAGE_EMULATOR_HOST`` is set (tests, local emulators),
:func:`configure` makes Beam build anonymous clients instead, as google-cloud-storage itself does
for emulators. :mod:`crucible_datasets.storage.filesystem` calls it when imported and before
every remote operation, so any process that uses this package's storage layer, Beam workers
included (they inherit the environment variable), is covered. Without the variable nothing
changes: real GCS uses Application Default Credentials as usual.

>>> import os
>>> configure() if not os.environ.get(EMULATOR_ENV) else True
False
"""

from __future__ import annotations

import os
import threading

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
_lock = threading.Lock()


def emulator_host() -> str | None:
    """``STORAGE_EMULATOR_HOST`` (e.g. ``http://127.0.0.1:9023``), or None."""
    return os.environ.get(EMULATOR_ENV) or None


def configure() -> bool:
    """Make Beam's GCS client anonymous while an emulator is configured. True if one is.

    Idempotent and cheap; the patch checks the variable on every client it builds, so unsetting
    it restores Beam's normal credentials.
    """
    if not emulator_host():
        return False
    from apache_beam.io.gcp import gcsio

    with _lock:
        if getattr(gcsio.create_storage_client, "_crucible_anonymous_for_emulator", False):
            return True
        original = gcsio.create_storage_client

        def create_storage_client(pipeline_options, use_credentials=True):
            if emulator_host():
                use_credentials = False
            return original(pipeline_options, use_credentials)

        create_storage_client._crucible_anonymous_for_emulator = True  # type: ignore[attr-defined]
        create_storage_client.__wrapped__ = original  # type: ignore[attr-defined]
        create_storage_client.__doc__ = original.__doc__
        gcsio.create_storage_client = create_storage_client
    return True


def storage_client(project: str | None = None):
    """A ``google.cloud.storage.Client``: anonymous with an emulator, else default credentials."""
    from google.cloud import storage

    if emulator_host():
        client = storage.Client.create_anonymous_client()
        if project:
            client.project = project
        return client
    return storage.Client(project=project)


def split_gs_url(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not url.startswith("gs://"):
        raise ValueError(f"{url!r} is not a gs:// URL")
    bucket, _, name = url[5:].partition("/")
    return bucket, name
