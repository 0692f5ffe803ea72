"""``gs://`` objects read at one generation, written and listed under one retry layer.

:func:`install` puts three things into Beam's ``gcsio`` (Beam looks them up by module attribute
when it opens a file or makes a client, so every ``gs://`` read and write of this package, on Beam
workers too, gets them):

- every client call uses :class:`~.gcs_retry.GcsRetry` instead of google's own retry;
- :class:`PinnedBlobReader`: the object's generation is read at open (one metadata call under our
  retry), every download asks for that generation (``generation=`` and ``if_generation_match``:
  real GCS serves that generation, or answers 412 once the object is replaced), and after each
  download the generation the answer names is compared with it; an answer that names none (the
  test emulator sends no ``x-goog-generation`` and ignores both parameters) is checked against the
  object's metadata. A change is a :class:`~.http.retry.RemoteChangedError` naming
  ``gs://bucket/path``, never bytes of two versions;
- :class:`NamedBlobWriter`: uploads retried under our policy, errors naming the object.

>>> install(); install()  # idempotent
"""

from __future__ import annotations

import threading

from apache_beam.io.gcp import gcsio, gcsio_retry
from google.api_core.exceptions import NotFound, PreconditionFailed
from google.cloud.storage.fileio import BlobReader

from crucible_datasets.storage.gcs_retry import GcsRetry
from crucible_datasets.storage.http.retry import RemoteChangedError, default_policy

_lock = threading.Lock()


def object_url(blob) -> str:
    return f"gs://{blob.bucket.name}/{blob.name}"


class PinnedBlobReader(gcsio.BeamBlobReader):
    """Beam's blob reader, pinned to the generation seen at open (see the module docstring)."""

    def __init__(
        self,
        blob,
        chunk_size: int = gcsio.DEFAULT_READ_BUFFER_SIZE,
        enable_read_bucket_metric: bool = False,
        retry=None,
        raw_download: bool = True,
    ) -> None:
        self.url = object_url(blob)
        retry = GcsRetry(self.url)
        timeout = default_policy().timeout
        # BeamBlobReader.__init__ would reload the blob under google's own retry: do it here, ours
        BlobReader.__init__(self, blob, chunk_size=chunk_size, retry=retry, raw_download=raw_download)
        blob.reload(retry=retry, timeout=timeout)
        gzip_types = ("application/gzip", "application/x-gzip")
        if blob.content_encoding == "gzip" and blob.content_type in gzip_types:
            raise NotImplementedError(f"{self.url}: doubly compressed files are not supported (as in Beam)")
        self.generation = int(blob.generation)
        self.opened_size = blob.size
        # downloads then go to the client's endpoint and name the generation (``generation=G``)
        blob._properties.pop("mediaLink", None)
        self._download_kwargs.update(if_generation_match=self.generation, timeout=timeout)
        self.enable_read_bucket_metric = enable_read_bucket_metric
        self.mode = "r"

    def _changed(self, now: object) -> RemoteChangedError:
        return RemoteChangedError(
            f"{self.url}: the object changed while it was being read (generation {self.generation} "
            f"when opened, {now} now); read it again to get one consistent version"
        )

    def read(self, size: int = -1) -> bytes:
        blob = self._blob
        blob._properties["generation"] = str(self.generation)
        try:
            data = super().read(size)
        except PreconditionFailed:
            raise self._changed("another") from None
        except NotFound:
            raise self._changed("none: it was deleted") from None
        answered = blob._properties.get("generation")
        if answered is None:  # a download whose answer names no generation: ask the metadata
            current = blob.bucket.get_blob(blob.name, retry=self._retry, timeout=default_policy().timeout)
            answered = None if current is None else current.generation
            if current is not None and current.size != self.opened_size:
                raise self._changed(f"{answered}, {current.size} bytes instead of {self.opened_size}")
        if answered is None or int(answered) != self.generation:
            raise self._changed(answered if answered is not None else "none: it was deleted")
        return data


class NamedBlobWriter(gcsio.BeamBlobWriter):
    """Beam's blob writer with uploads under :class:`~.gcs_retry.GcsRetry` naming the object."""

    def __init__(
        self,
        blob,
        content_type,
        chunk_size: int = 16 * 1024 * 1024,
        ignore_flush: bool = True,
        enable_write_bucket_metric: bool = False,
        retry=None,
    ) -> None:
        super().__init__(
            blob,
            content_type,
            chunk_size=chunk_size,
            ignore_flush=ignore_flush,
            enable_write_bucket_metric=enable_write_bucket_metric,
            retry=GcsRetry(object_url(blob)),
        )


def _our_retry(pipeline_options) -> GcsRetry:
    return GcsRetry()


def install() -> None:
    """Make Beam's ``gcsio`` use :class:`GcsRetry`, :class:`PinnedBlobReader`, :class:`NamedBlobWriter`."""
    with _lock:
        gcsio_retry.get_retry = _our_retry
        gcsio.BeamBlobReader = PinnedBlobReader
        gcsio.BeamBlobWriter = NamedBlobWriter
