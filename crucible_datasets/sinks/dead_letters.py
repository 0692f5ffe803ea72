"""Dead letters: the bad records of a read, one JSON line each, in a file of their own.

Each :class:`DeadLetterFile` opens ``{folder}/errors-{unique}.jsonl`` on its first record, so
parallel readers never share a file; every line is flushed as it is written.

>>> import json, os, tempfile
>>> folder = tempfile.mkdtemp()
>>> letters = DeadLetterFile(folder)
>>> letters.write({"file": "a.jsonl", "line": 3, "reason": "not valid JSON"})
>>> letters.close()
>>> [name] = os.listdir(folder)
>>> json.loads(open(os.path.join(folder, name)).read())["line"]
3
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

import orjson

from crucible_datasets.storage import filesystem


class DeadLetterFile:
    """Appends JSON lines to a new ``errors-{unique}.jsonl`` under ``folder`` (local or remote)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.path: str | None = None
        self._file: BinaryIO | None = None

    def write(self, record: dict) -> None:
        """Append ``record`` as one JSON line (the file is created on the first one)."""
        if self._file is None:
            self.path = filesystem.join(self.folder, f"errors-{uuid.uuid4().hex[:16]}.jsonl")
            self._file = filesystem.open_output(self.path)
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
