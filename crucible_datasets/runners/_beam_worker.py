"""The SDK worker process of a multi-worker FnApiRunner run (``runners/beam.py``).

It is Beam's own worker (``python -m apache_beam.runners.worker.sdk_worker_main``) with these
changes, which matter for short local jobs:

- this package's runner modules (pyarrow, orjson, the stages) are imported before the harness
  connects, and ``gc.freeze()`` then moves every object that exists so far out of the garbage
  collector's generations: the collector otherwise rescans them on every full collection, which
  costs about 10% of a row-heavy task;
- Beam's warning that there is no saved main session (there never is) is not logged;
- when the harness is done the process ends with ``os._exit``, skipping the interpreter's
  teardown (about half a second with pyarrow loaded), which the runner waits for.

Two ways to run it:

- ``python -m crucible_datasets.runners._beam_worker``: with the environment variables the
  FnApiRunner sets for a worker (``CONTROL_API_SERVICE_DESCRIPTOR``...);
- ``python -m crucible_datasets.runners._beam_worker --serve SOCKET``: a warm worker of
  ``_beam_pool.WarmPool``: binds the Unix socket ``SOCKET``, imports, then waits for one
  ``_beam_attach.py`` process to hand it those variables, runs the harness and sends back its
  exit code. It gives up when its parent process ends or after ``WAIT_SECONDS``.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import sys
import time
import traceback

WAIT_SECONDS = 600


class _NoSessionWarning(logging.Filter):
    """Beam warns on every worker that there is no saved main session: there never is here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "semi_persistent_directory" not in record.getMessage()


def _warm_up():
    from apache_beam.runners.worker import sdk_worker_main

    import crucible_datasets.runners._beam_job  # noqa: F401 - imported once, before any bundle
    import crucible_datasets.runners.local  # noqa: F401

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
    parent, deadline = os.getppid(), time.monotonic() + WAIT_SECONDS
    listener.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
            return conn
        except TimeoutError:
            if os.getppid() != parent:  # the driver is gone
                return None
    return None


def serve(path: str) -> None:
    """A warm worker: see the module docstring."""
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


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    _end(_harness())


if __name__ == "__main__":
    main()
