"""Progress on a terminal: rows, input bytes done / total, rate and ETA; silent otherwise.

Uses tqdm (a well-kept progress library) and draws only when stderr is a terminal, so logs
and CI output stay clean. A local run advances the bar itself; the tasks of a local Beam run
write their progress to small files (:class:`TaskProgressFile`) that the driver sums
(:class:`FolderProgress`).
"""

from __future__ import annotations

import os
import sys
import threading
import time

import orjson


class Progress:
    """Counts input bytes (the bar) and rows (shown beside it)."""

    def __init__(self, total_bytes: int, description: str = "reading", enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.rows = 0
        if enabled:
            from tqdm import tqdm  # only to draw: importing the package does not load tqdm

        self._bar = (
            tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                desc=description,
                dynamic_ncols=True,
                leave=False,
            )
            if enabled
            else None
        )

    def advance(self, nbytes: int = 0, rows: int = 0) -> None:
        self.rows += rows
        if self._bar is not None:
            self._bar.update(nbytes)
            self._bar.set_postfix(rows=f"{self.rows:,}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class TaskProgressFile:
    """A Beam task's progress, kept in a small JSON file that the driver's bar reads.

    Workers of a local Beam runner share the driver's disk; writes are throttled to one every
    half second and replace the file atomically.
    """

    def __init__(self, path: str, every: float = 0.5) -> None:
        self.path = path
        self.every = every
        self.nbytes = 0
        self.rows = 0
        self._written = 0.0

    def advance(self, nbytes: int = 0, rows: int = 0) -> None:
        self.nbytes += nbytes
        self.rows += rows
        if time.monotonic() - self._written >= self.every:
            self.flush()

    def flush(self) -> None:
        with open(self.path + ".tmp", "wb") as f:
            f.write(orjson.dumps({"bytes": self.nbytes, "rows": self.rows}))
        os.replace(self.path + ".tmp", self.path)
        self._written = time.monotonic()

    def close(self) -> None:
        self.flush()


class FolderProgress:
    """Draws one bar from the :class:`TaskProgressFile` files in ``folder`` while a job runs."""

    def __init__(self, folder: str, total_bytes: int, description: str = "writing") -> None:
        self.folder = folder
        self.bar = Progress(total_bytes, description)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._shown = (0, 0)

    def __enter__(self) -> FolderProgress:
        if self.bar._bar is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self._update()
        self.bar.close()

    def _poll(self) -> None:
        while not self._stop.wait(0.5):
            self._update()

    def _update(self) -> None:
        done = self.totals()
        self.bar.advance(done[0] - self._shown[0], done[1] - self._shown[1])
        self._shown = done

    def totals(self) -> tuple[int, int]:
        nbytes = rows = 0
        for name in os.listdir(self.folder):
            if name.startswith("progress-") and name.endswith(".json"):
                try:
                    with open(os.path.join(self.folder, name), "rb") as f:
                        state = orjson.loads(f.read())
                except (OSError, orjson.JSONDecodeError):
                    continue
                nbytes += state["bytes"]
                rows += state["rows"]
        return nbytes, rows
