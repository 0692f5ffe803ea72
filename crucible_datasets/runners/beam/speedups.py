"""Local speed-ups of the FnApiRunner, all behind one switch: ``CRUCIBLE_BEAM_SPEEDUPS``.

On by default; ``CRUCIBLE_BEAM_SPEEDUPS=0`` runs Beam's plain FnApiRunner with Beam's own
worker processes instead (the same shards and counts, slower: about a quarter of ``make demo``'s
job). The speed-ups, which matter for short local jobs:

- warm workers (:class:`WarmPool`): with several worker processes, they are started before the
  driver imports Beam, so both import at the same time (a Beam worker spends about a second
  importing Beam and this package; the FnApiRunner starts its workers only once the driver has
  imported Beam and built the job);
- the workers pre-import the job's modules and ``gc.freeze()`` what exists then (the collector
  otherwise rescans those objects on every full collection: about 10% of a row-heavy task), and
  the driver freezes its heap too while the job runs (:func:`frozen_heap`);
- a worker ends with ``os._exit`` when its harness is done, skipping the interpreter's teardown
  (about half a second with pyarrow loaded), which the runner waits for; Beam's warning that
  there is no saved main session (there never is) is not logged.

How the pieces meet (this file is three programs; its top level imports only the standard
library, so that ``attach`` starts in milliseconds):

1. ``WarmPool.start(n)`` starts ``n`` processes ``python .../speedups.py serve DIR/worker-i.sock
   DRIVER_PID``; each binds its Unix socket at once, then imports.
2. The FnApiRunner's worker command is ``exec python .../speedups.py attach DIR DRIVER_PID``
   (``WarmPool.worker_command``). It connects to a warm worker's socket (the i-th for
   ``WORKER_ID`` ``worker_i``, else the next free one), waits for it to be ready, hands over its
   environment (the control and logging addresses, the pipeline options), and waits for the
   worker's exit code, which becomes its own: to the FnApiRunner the attach process *is* the
   worker. With no warm worker left it becomes a fresh ``worker DRIVER_PID`` itself.
3. The warm worker runs Beam's SDK harness with that environment and exits when it is done. A
   warm worker that waits ``WAIT_SECONDS`` for an attach process exits; ``close`` ends the
   workers that were not used.

Every one of these processes is the driver's child and ends with it, at once, whatever it is
doing (``lifetime.watch_parent``, called first with the driver's pid); an attach process whose
warm worker is killed ends with status 1 (the FnApiRunner then fails the job: ``supervision.py``).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

if __package__:
    from crucible_datasets.runners.beam import lifetime
else:  # a worker program, run as a script (see lifetime.py): the package is imported when needed
    import lifetime

    lifetime.import_from_cwd()

SWITCH = "CRUCIBLE_BEAM_SPEEDUPS"
SCRIPT = os.path.abspath(__file__)
WAIT_SECONDS = 600


def enabled() -> bool:
    """The switch: True unless ``CRUCIBLE_BEAM_SPEEDUPS`` is ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


# --- the driver side ------------------------------------------------------------------------------


class WarmPool:
    """``n`` worker processes importing ahead of the run; see the module docstring."""

    def __init__(self, folder: str, processes: list[subprocess.Popen]) -> None:
        self.folder = folder
        self.processes = processes

    @classmethod
    def start(cls, n: int) -> WarmPool:
        folder = tempfile.mkdtemp(prefix="crucible-workers-")
        processes = [
            subprocess.Popen(
                [sys.executable, SCRIPT, "serve", os.path.join(folder, f"worker-{i}.sock"), str(os.getpid())],
                stdin=subprocess.DEVNULL,
            )
            for i in range(n)
        ]
        return cls(folder, processes)

    @property
    def worker_command(self) -> str:
        """The FnApiRunner's worker command: attach to one of these processes."""
        return lifetime.command(sys.executable, SCRIPT, "attach", self.folder, str(os.getpid()))

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


@contextmanager
def frozen_heap() -> Iterator[None]:
    """``gc.freeze()`` for the duration: the objects that exist now are not garbage, so the
    collector need not rescan them while rows are processed in this process (``in_memory``)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# --- the worker side ------------------------------------------------------------------------------


class _NoSessionWarning(logging.Filter):
    """Beam warns on every worker that there is no saved main session: there never is here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "semi_persistent_directory" not in record.getMessage()


def _warm_up():
    from apache_beam.runners.worker import sdk_worker_main

    import crucible_datasets.runners.beam.job  # noqa: F401 - imported once, before any bundle

    logging.getLogger(sdk_worker_main.__name__).addFilter(_NoSessionWarning())
    gc.freeze()
    return sdk_worker_main


def _harness() -> int:
    """Run the SDK harness with this process's environment; its exit code."""
    try:
        _warm_up().main(sys.argv[:1])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - report, then exit non-zero
        traceback.print_exc()
        return 1
    return 0


def _end(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _accept(listener: socket.socket) -> socket.socket | None:
    listener.settimeout(WAIT_SECONDS)
    try:
        conn, _ = listener.accept()
    except TimeoutError:
        return None
    return conn


def serve(path: str, driver: int) -> None:
    """A warm worker: bind ``path``, import, wait for one attach process, run its harness;
    ends with the process ``driver``, its parent."""
    lifetime.watch_parent(driver)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)  # attach processes may connect (and wait) while this one imports
    code = 1
    try:
        _warm_up()
        conn = _accept(listener)
        listener.close()
        os.unlink(path)
        if conn is None:
            _end(0)
        with conn:
            conn.settimeout(None)
            conn.sendall(b"R")
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(1 << 16)
                if not chunk:
                    _end(1)
                data += chunk
            os.environ.update(json.loads(data))
            code = _harness()
            conn.sendall(b"%d\n" % code)
    except BaseException:  # noqa: BLE001 - report, then exit non-zero
        traceback.print_exc()
        code = 1
    finally:
        _end(code)


# --- the attach side (standard library only) ------------------------------------------------------


def _try(path: str, env: bytes) -> int | None:
    """The exit code of the worker at ``path``, or None when it is not there or is taken."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        ready = sock.recv(1) == b"R"  # a worker that took another attach process resets this one
    except OSError:
        ready = False
    if not ready:
        sock.close()
        return None
    with sock:
        sock.sendall(env)
        data = b""
        while True:
            try:
                chunk = sock.recv(64)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    try:
        return int(data.strip())
    except ValueError:
        print(f"crucible: the warm worker at {path} ended without an exit code (killed?)", file=sys.stderr)
        return 1


def attach(folder: str, driver: int) -> None:
    """Hand this process's environment to a warm worker in ``folder``; exit with its code. Ends
    with the process ``driver``, its parent."""
    lifetime.watch_parent(driver)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".sock"))
    except OSError:
        names = []
    match = re.search(r"(\d+)$", os.environ.get("WORKER_ID", ""))
    first = int(match.group(1)) % len(names) if match and names else 0
    env = json.dumps(dict(os.environ)).encode() + b"\n"
    for name in names[first:] + names[:first]:
        code = _try(os.path.join(folder, name), env)
        if code is not None:
            sys.stdout.flush()
            os._exit(code)
    os.execv(sys.executable, [sys.executable, SCRIPT, "worker", str(driver)])


def main(argv: list[str]) -> None:
    """``serve SOCKET DRIVER_PID`` (a warm worker), ``attach FOLDER DRIVER_PID``, or ``worker
    DRIVER_PID`` (a fresh worker); each ends with the process ``DRIVER_PID``, its parent."""
    if len(argv) == 3 and argv[0] == "serve":
        serve(argv[1], int(argv[2]))
    elif len(argv) == 3 and argv[0] == "attach":
        attach(argv[1], int(argv[2]))
    elif len(argv) == 2 and argv[0] == "worker":
        lifetime.watch_parent(int(argv[1]))
        _end(_harness())
    sys.exit(f"usage: speedups.py serve SOCKET PID | attach FOLDER PID | worker PID (got {argv})")


if __name__ == "__main__":
    main(sys.argv[1:])
