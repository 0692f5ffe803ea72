"""``gs://`` through Beam's own GCS filesystem, with anonymous credentials against an emulator.

Beam's ``gcsio.GcsIO`` builds its client with ``create_storage_client(options)``, which asks
``google.auth.default()`` for credentials, retried with backoff: without real credentials that
probes the GCE metadata server and stalls about 20 s per process (Beam workers included) before
falling back to anonymous access. When ``STORAGE_EMULATOR_HOST`` is set (tests, local emulators),
:func:`configure` makes Beam build anonymous clients instead, as google-cloud-storage itself does
for emulators. :mod:`crucible_datasets.storage.filesystem` calls it when imported and before
every remote operation, so any process that uses this package's storage layer, Beam workers
included (they inherit the environment variable), is covered. Without the variable nothing
changes: real GCS uses Application Default Credentials as usual. Every call, Beam's and the
client's here, runs under this package's one retry policy (:mod:`.gcs_retry`), and reads are
pinned to one object generation (:mod:`.gcs_files`).

A missing bucket or object is a :class:`GcsNotFoundError` naming both (:func:`missing_message`,
:func:`not_found`); :func:`check_bucket` makes a write to a missing bucket fail before the
first byte is sent instead of at the upload's end.

>>> import os
>>> configure() if not os.environ.get(EMULATOR_ENV) else True
False
"""

from __future__ import annotations

import os
import threading

from crucible_datasets.storage.http.retry import RemoteNotFoundError

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
_lock = threading.Lock()
_buckets_seen: set[tuple[str | None, str]] = set()  # (emulator, bucket): known to exist, or unknowable


class GcsNotFoundError(RemoteNotFoundError):
    """A ``gs://`` bucket or object that does not exist; the message names the bucket and the path."""


def emulator_host() -> str | None:
    """``STORAGE_EMULATOR_HOST`` (e.g. ``http://127.0.0.1:9023``), or None."""
    return os.environ.get(EMULATOR_ENV) or None


def configure() -> bool:
    """Put Beam's GCS calls under our retry and generation pinning (:func:`.gcs_files.install`),
    and make its client anonymous while an emulator is configured. True if one is.

    Idempotent and cheap; the patch checks the variable on every client it builds, so unsetting
    it restores Beam's normal credentials.
    """
    from crucible_datasets.storage import gcs_files

    gcs_files.install()
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


def bucket_exists(bucket: str) -> bool | None:
    """Whether ``bucket`` exists; None when that cannot be told (no permission to see the bucket)."""
    from apache_beam.io.gcp import gcsio

    configure()
    try:
        return gcsio.GcsIO().get_bucket(bucket) is not None
    except Exception:  # noqa: BLE001 - 403 and the like: not ours to decide, the read or write will tell
        return None


def missing_message(url: str, *, folder_too: bool = False) -> str:
    """``gs://b/p: no such object (bucket 'b')``, or ``gs://b/p: no such bucket 'b'``."""
    bucket, name = split_gs_url(url)
    if bucket_exists(bucket) is False:
        return f"{url}: no such bucket {bucket!r}"
    if not name.strip("/"):
        return f"{url}: bucket {bucket!r} is empty"
    what = "no such object or folder" if folder_too else "no such object"
    return f"{url}: {what} (bucket {bucket!r})"


def not_found(url: str, *, folder_too: bool = False, bucket_missing: bool = False) -> GcsNotFoundError:
    """The error for a missing ``url``; ``bucket_missing=True`` when a listing already said so."""
    if bucket_missing:
        bucket, _ = split_gs_url(url)
        return GcsNotFoundError(f"{url}: no such bucket {bucket!r}", status=404)
    return GcsNotFoundError(missing_message(url, folder_too=folder_too), status=404)


def is_not_found(exc: BaseException) -> bool:
    """True if ``exc`` is, or wraps (Beam's ``BeamIOError`` details, causes), a GCS 404."""
    from google.api_core.exceptions import NotFound

    stack: list = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NotFound):
            return True
        details = getattr(current, "exception_details", None)
        if isinstance(details, dict):
            stack.extend(details.values())
        stack.extend([current.__cause__, current.__context__])
    return False


def check_bucket(url: str) -> None:
    """Raise :class:`GcsNotFoundError` if the bucket of ``url`` does not exist (checked once per process)."""
    bucket, _ = split_gs_url(url)
    key = (emulator_host(), bucket)
    with _lock:
        if key in _buckets_seen:
            return
    if bucket_exists(bucket) is False:
        raise GcsNotFoundError(f"cannot write {url}: no such bucket {bucket!r}", status=404)
    with _lock:
        _buckets_seen.add(key)


# --- preconditions: compare-and-swap on one object (the publish switch, leases) -----------------


class PreconditionFailed(Exception):
    """A conditional write or delete found the object at another generation than the one given."""


def _blob(url: str):
    bucket, name = split_gs_url(url)
    return storage_client().bucket(bucket).blob(name)


def _calls(url: str) -> dict:
    """The ``retry=``/``timeout=`` of a client call on ``url``: our one policy, naming ``url``."""
    from crucible_datasets.storage.gcs_retry import GcsRetry
    from crucible_datasets.storage.http.retry import default_policy

    return {"retry": GcsRetry(url), "timeout": default_policy().timeout}


def read_generation(url: str) -> tuple[bytes | None, int]:
    """The object's bytes and generation; ``(None, 0)`` when there is none (0: "must not exist")."""
    from google.api_core.exceptions import NotFound

    blob = _blob(url)
    try:
        blob.reload(**_calls(url))
        generation = int(blob.generation)
        return blob.download_as_bytes(if_generation_match=generation, **_calls(url)), generation
    except NotFound:
        return None, 0


def write_if_generation(url: str, data: bytes, generation: int) -> int:
    """Write the object only if it is at ``generation`` (0: only if it does not exist); the new
    generation. One upload: readers see the old object or all of ``data``. A missing bucket is a
    :class:`GcsNotFoundError` naming it (the lease is a run's first write)."""
    from google.api_core.exceptions import NotFound
    from google.api_core.exceptions import PreconditionFailed as Failed

    blob = _blob(url)
    try:
        blob.upload_from_string(data, if_generation_match=generation, **_calls(url))
    except Failed as exc:
        raise PreconditionFailed(f"{url} is no longer at generation {generation}") from exc
    except NotFound as exc:
        bucket, _ = split_gs_url(url)
        if bucket_exists(bucket) is False:
            raise GcsNotFoundError(f"cannot write {url}: no such bucket {bucket!r}", status=404) from exc
        raise
    return int(blob.generation)


def delete_if_generation(url: str, generation: int) -> None:
    """Delete the object only if it is at ``generation``; a missing object is fine."""
    from google.api_core.exceptions import NotFound
    from google.api_core.exceptions import PreconditionFailed as Failed

    try:
        _blob(url).delete(if_generation_match=generation, **_calls(url))
    except NotFound:
        return
    except Failed as exc:
        raise PreconditionFailed(f"{url} is no longer at generation {generation}") from exc
