"""Warm worker processes for a multi-worker FnApiRunner run, started before Beam is imported.

A Beam SDK worker process spends about a second importing Apache Beam and this package before
it can run anything, and the FnApiRunner starts its workers only once the driver has imported
Beam and built the job: the two imports run one after the other. ``runners.beam.write`` starts
:class:`WarmPool` first, so the workers import while the driver does.

How the pieces meet:

1. ``WarmPool.start(n)`` starts ``n`` processes ``python -m crucible_datasets.runners._beam_worker
   --serve DIR/worker-i.sock``; each binds its Unix socket at once, then imports.
2. The FnApiRunner's worker command is ``python .../_beam_attach.py DIR`` (``worker_command``),
   a stdlib-only script that starts in milliseconds. It connects to a warm worker's socket (the
   i-th for ``WORKER_ID`` ``worker_i``, else the next free one), waits for it to be ready,
   hands over its environment (the control and logging addresses, the pipeline options), and
   waits for the worker's exit code, which becomes its own: to the FnApiRunner the attach
   process *is* the worker.
3. The warm worker runs Beam's SDK harness with that environment and exits when it is done.

A warm worker that dies, or finds its parent gone, frees its socket; an attach process that
finds no warm worker runs a fresh worker itself. ``close`` ends the workers that were not used.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

ATTACH_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_beam_attach.py")


class WarmPool:
    """``n`` worker processes importing ahead of the run; see the module docstring."""

    def __init__(self, folder: str, processes: list[subprocess.Popen]) -> None:
        self.folder = folder
        self.processes = processes

    @classmethod
    def start(cls, n: int) -> WarmPool:
        folder = tempfile.mkdtemp(prefix="crucible-workers-")
        processes = []
        for i in range(n):
            sock = os.path.join(folder, f"worker-{i}.sock")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "crucible_datasets.runners._beam_worker", "--serve", sock],
                    stdin=subprocess.DEVNULL,
                )
            )
        return cls(folder, processes)

    @property
    def worker_command(self) -> str:
        """The FnApiRunner's worker command: attach to one of these processes."""
        return f"{sys.executable} {ATTACH_SCRIPT} {self.folder}"

    def close(self, timeout: float = 10.0) -> None:
        """End the workers (those that ran a harness have exited already) and remove the folder."""
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
