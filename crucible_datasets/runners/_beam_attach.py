"""The FnApiRunner's worker command when warm workers are waiting (see ``_beam_pool.py``).

``python _beam_attach.py FOLDER``: hands this process's environment (what the FnApiRunner set
for its worker) to a warm worker listening on ``FOLDER/worker-*.sock``, waits for it to finish
and exits with its exit code. With no warm worker left it becomes a fresh worker itself.

Run as a script, not as a module of the package, and importing only the standard library, so
that it starts in milliseconds.
"""

import json
import os
import re
import socket
import sys


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
        return 1  # the worker died without saying how


def main() -> None:
    folder = sys.argv[1]
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
    os.execv(sys.executable, [sys.executable, "-m", "crucible_datasets.runners._beam_worker"])


if __name__ == "__main__":
    main()
