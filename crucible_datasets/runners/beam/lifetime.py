"""A worker process of the local Beam runner lives no longer than its driver.

The FnApiRunner's ``multi_processing`` workers (the warm workers and attach processes of
``speedups.py``, or Beam's own SDK harness with ``CRUCIBLE_BEAM_SPEEDUPS=0``) are the driver's
children: their commands start with ``exec`` (:func:`command`), so the shell Beam starts them
with (``SubprocessSdkWorker``, ``shell=True``) becomes the worker, whose parent is the driver.
Each calls :func:`watch_parent` with the driver's pid (from its command line) before anything
else:

- on Linux the kernel kills it (SIGKILL) as soon as its parent ends (``prctl(PR_SET_PDEATHSIG)``,
  kept across ``exec``), whatever it is doing, even in C code holding the GIL;
- everywhere, a daemon thread checks every ``POLL_SECONDS`` that its parent is still the driver
  (an orphan is adopted by another process, so ``os.getppid()`` changes) and ends the process
  otherwise. The first check, before the thread starts, catches a driver that ended before the
  worker began to watch it.

So a driver killed with SIGKILL, which can clean nothing up, leaves no worker behind, at
start-up (the workers still importing) as at run time. For the watch to begin before the
seconds of importing pyarrow, Beam and this package, the worker programs are run as scripts
(``python .../lifetime.py PID``, ``python .../speedups.py serve ...``), not with ``python -m``
(which imports the package first); :func:`import_from_cwd` then gives them the module path
``python -m`` would. ``lifetime.py PID`` is Beam's own SDK harness under this watch (the worker
command of :func:`harness_command`, when the speed-ups are off). This module imports only the
standard library.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import sys
import threading
import time

SCRIPT = os.path.abspath(__file__)
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def command(*args: str) -> str:
    """A worker command line for Beam's shell, which it replaces (``exec``) on POSIX systems.

    >>> command("/opt/py 3/bin/python", "-m", "mod", "serve")
    "exec '/opt/py 3/bin/python' -m mod serve"
    """
    line = shlex.join(args)
    return f"exec {line}" if os.name == "posix" else line


def harness_command(parent: int | None = None) -> str:
    """The command of a worker running Beam's own SDK harness, ending with ``parent`` (this process).

    >>> harness_command(42).endswith("/crucible_datasets/runners/beam/lifetime.py 42")
    True
    """
    return command(sys.executable, SCRIPT, str(os.getpid() if parent is None else parent))


def watch_parent(parent: int) -> None:
    """End this process when its parent, the process ``parent``, ends (see the module docstring)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the driver ended before this process began to watch it
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="crucible-parent-watch", daemon=True).start()


def import_from_cwd() -> None:
    """In a worker run as a script: import from the working directory, as ``python -m`` would
    (a job may pickle the user's functions by reference to modules there), not from the
    script's own folder."""
    sys.path[0] = os.getcwd()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def main(argv: list[str]) -> None:
    """``PARENT_PID``: run Beam's own SDK harness (``sdk_worker_main``), ending with that process."""
    watch_parent(int(argv[0]))
    import_from_cwd()
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv[:1])


if __name__ == "__main__":
    main(sys.argv[1:])
