"""Registers the remote schemes with Beam: importing this module is all it takes.

Beam finds a filesystem by scanning the subclasses of its ``FileSystem`` for a matching
``scheme()``, so a scheme exists in a process once its class is imported. This module imports
``hf://`` (:mod:`.hub.filesystem`) and ``http(s)://`` (:mod:`.http.filesystem`) and applies the
``gs://`` emulator setup (:mod:`.gcs`). :mod:`crucible_datasets.storage.filesystem` imports it
before its first remote operation, so every process that touches a remote path, Beam workers
included, has the schemes.
"""

from __future__ import annotations

from crucible_datasets.storage import gcs
from crucible_datasets.storage.http.filesystem import HttpFileSystem, HttpsFileSystem
from crucible_datasets.storage.hub.filesystem import HfFileSystem

REGISTERED = (HfFileSystem, HttpFileSystem, HttpsFileSystem)


def ensure() -> None:
    """Re-check settings read from the environment (``STORAGE_EMULATOR_HOST``); cheap."""
    gcs.configure()


ensure()
