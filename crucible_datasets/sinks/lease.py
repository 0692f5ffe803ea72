"""One writer at a time per output folder: a lease file with a heartbeat that survives its holder.

A run that writes into ``{root}`` (any split, any config: they share the card) first takes the
lease ``{root}/.crucible-tmp/lease.json``, which names the run (``run_id``), its host, pid and
start time, and the time of its last heartbeat. A second run that finds a live lease fails at
once with :class:`LeaseHeldError` naming the holder; it does not wait. A lease is stale, and
is taken over (the taker's :attr:`Lease.notes` says from whom and why), when

- its holder ran on this host and its pid is gone (a run killed with SIGKILL), or
- its heartbeat is older than its ``ttl`` seconds (a holder on another host, or hung).

The holder renews the heartbeat every ``ttl / 4`` seconds from a daemon thread while the lease is
held (``with lease:``). The same run (same ``run_id``, e.g. the Beam worker that finalizes for
the driver that took the lease) joins a live lease instead of failing, and leaves it to its owner;
a lease of the same run whose holder is gone (a killed run that is being completed) is taken
over like any other, so the completing finalize removes it.

Each step is a compare-and-swap: on local disk under an ``flock`` of ``lease.lock`` beside the
lease (the lease itself written to a temp file and ``os.replace``-d), on ``gs://`` with object
preconditions (create with ``if_generation_match=0``; renew, take over and release at the
generation last seen), so two takers of one stale lease cannot both win.

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> with Lease(root, "run-1") as lease:
...     try:
...         Lease(root, "run-2").acquire()
...     except LeaseHeldError as exc:
...         print(str(exc).split(" (")[0].replace(root, "<root>"))
<root> is being written by run run-1
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import orjson

from crucible_datasets.errors import CrucibleError
from crucible_datasets.storage import filesystem as fs

LEASE_PATH = (".crucible-tmp", "lease.json")
DEFAULT_TTL = 60.0


class LeaseHeldError(CrucibleError, RuntimeError):
    """Another live run holds the output folder's lease."""


class LeaseLostError(CrucibleError, RuntimeError):
    """This run's lease was taken over (it was stale to another run): it must not publish."""


@dataclass(frozen=True)
class Holder:
    """What a lease file says."""

    run_id: str
    host: str
    pid: int
    started: float  # unix time
    heartbeat: float  # unix time of the last renewal
    ttl: float

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds")[:-6] + "Z"
        return f"run {self.run_id} (host {self.host}, pid {self.pid}, started {started})"

    def stale(self, now: float) -> str | None:
        """Why this lease is stale, or None while its holder may be alive."""
        if self.host == socket.gethostname() and not pid_alive(self.pid):
            return f"its process {self.pid} on {self.host} is gone"
        if now - self.heartbeat > self.ttl:
            return f"no heartbeat for {now - self.heartbeat:.0f} s (ttl {self.ttl:.0f} s)"
        return None


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


class Lease:
    """The lease of output folder ``root`` for run ``run_id``; ``with lease:`` holds it (and renews it)."""

    def __init__(self, root: str, run_id: str, *, ttl: float = DEFAULT_TTL) -> None:
        self.root = root
        self.run_id = run_id
        self.ttl = ttl
        self.path = fs.join(root, *LEASE_PATH)
        self.notes: list[str] = []  # takeovers, for the run's warnings
        self.owned = False  # True once this object created (or took over) the lease
        self.lost: str | None = None
        self._generation = 0  # gs://: the lease object's generation we wrote
        self._started = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the lease file --

    def _mine(self) -> Holder:
        return Holder(self.run_id, socket.gethostname(), os.getpid(), self._started, time.time(), self.ttl)

    @staticmethod
    def _parse(data: bytes | None) -> Holder | None:
        if data is None:
            return None
        try:
            return Holder(**orjson.loads(data))
        except (orjson.JSONDecodeError, TypeError):
            return None  # a torn or foreign file: nobody's lease (local writes are atomic)

    def acquire(self) -> Lease:
        """Take the lease, join it (same run) or take over a stale one; else :class:`LeaseHeldError`."""
        for _ in range(20):  # gs://: lost races with other takers are retried
            if self._try_acquire():
                return self
        raise LeaseHeldError(f"{self.root}: could not take the lease {self.path} (too much contention)")

    def _decide(self, current: Holder | None) -> bool:
        """Whether to write our lease over ``current``; raises when a live other run holds it."""
        if current is None:
            return True
        reason = current.stale(time.time())
        if current.run_id == self.run_id and reason is None:
            return False  # our own run holds it (the driver of a Beam job): join
        # (our own run's lease whose holder is gone, a killed run being completed: taken over and
        # released at the end like any other)
        if reason is None:
            raise LeaseHeldError(
                f"{self.root} is being written by {current.describe()}; wait for it to finish, "
                f"or remove {self.path} if that run is gone"
            )
        self.notes.append(f"took over the lease of {self.root} from {current.describe()}: {reason}")
        return True

    def _try_acquire(self) -> bool:
        data = orjson.dumps(asdict(self._mine()))
        if fs.is_remote(self.path):
            from crucible_datasets.storage import gcs

            raw, generation = gcs.read_generation(self.path)
            if not self._decide(self._parse(raw)):
                return True  # joined our own run's lease
            try:
                self._generation = gcs.write_if_generation(self.path, data, generation)
            except gcs.PreconditionFailed:
                return False
            self.owned = True
            return True
        with self._locked():
            raw = open(self.path, "rb").read() if os.path.exists(self.path) else None  # noqa: SIM115
            if self._decide(self._parse(raw)):
                self._write_local(data)
                self.owned = True
        return True

    def _write_local(self, data: bytes) -> None:
        partial = f"{self.path}.{os.getpid()}.partial"
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, self.path)

    @contextlib.contextmanager
    def _locked(self):
        """``flock`` of ``lease.lock``, re-checked after locking (the file may be unlinked by a release)."""
        import fcntl

        lock = self.path[: -len(".json")] + ".lock"
        os.makedirs(os.path.dirname(lock), exist_ok=True)
        while True:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            yield
        finally:
            os.close(fd)

    def renew(self) -> None:
        """Write a new heartbeat; :class:`LeaseLostError` if another run took the lease over."""
        if not self.owned:
            return
        data = orjson.dumps(asdict(self._mine()))
        if fs.is_remote(self.path):
            from crucible_datasets.storage import gcs

            try:
                self._generation = gcs.write_if_generation(self.path, data, self._generation)
            except gcs.PreconditionFailed:
                self._lose()
            return
        with self._locked():
            current = self._parse(open(self.path, "rb").read()) if os.path.exists(self.path) else None  # noqa: SIM115
            if current is None or current.run_id != self.run_id or current.pid != os.getpid():
                self._lose()
            self._write_local(data)

    def _lose(self) -> None:
        self.lost = f"the lease of {self.root} was taken over by another run"
        self.owned = False
        raise LeaseLostError(self.lost)

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the lease is no longer this run's (before publishing)."""
        if self.lost:
            raise LeaseLostError(self.lost)
        if self.owned:
            self.renew()
            return
        raw = fs.open_input(self.path).read() if fs.exists(self.path) else None
        current = self._parse(raw)
        if current is not None and current.run_id != self.run_id and current.stale(time.time()) is None:
            raise LeaseLostError(f"{self.root} is now being written by {current.describe()}")

    def release(self) -> None:
        """Stop renewing and remove the lease if this object owns it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self.owned:
            return
        self.owned = False
        if fs.is_remote(self.path):
            from crucible_datasets.storage import gcs

            with contextlib.suppress(gcs.PreconditionFailed):
                gcs.delete_if_generation(self.path, self._generation)
            return
        with self._locked():
            current = self._parse(open(self.path, "rb").read()) if os.path.exists(self.path) else None  # noqa: SIM115
            if current is not None and current.run_id == self.run_id and current.pid == os.getpid():
                os.remove(self.path)
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path[: -len(".json")] + ".lock")
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.path))

    # -- holding --

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew()
            except LeaseLostError:
                return
            except Exception:  # noqa: BLE001 - a failed renewal is retried; the ttl bounds the harm
                continue

    def __enter__(self) -> Lease:
        self.acquire()
        if self.owned:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name=f"lease {self.root}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
