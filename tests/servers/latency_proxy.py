"""A TCP proxy that adds round-trip latency, for remote-streaming tests and benchmarks.

Each request (the first bytes a client sends after the previous answer began, on any
connection, kept-alive ones included) waits ``delay`` seconds before it goes on to the upstream,
as if the network between the two had that round-trip time; the answer then flows at full
speed. Connections are independent, so requests in parallel wait in parallel, as they would on
a real network. Bytes are relayed untouched (``Host`` kept: a server building links from it
keeps clients on the proxy). ``max_waiting`` is the most requests that were waiting at once,
``connections`` the connections accepted.

>>> proxy = LatencyProxy("http://127.0.0.1:9", delay=0.05)
>>> proxy.delay, proxy.max_waiting
(0.05, 0)
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlsplit

_CHUNK = 1 << 20


class LatencyProxy:
    def __init__(self, upstream: str, delay: float) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.delay = delay
        self.max_waiting = 0
        self.connections = 0
        self._waiting = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._stopped = threading.Event()

    def start(self) -> LatencyProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._listener is not None, "start() first"
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._upstream, timeout=10)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets += [client, upstream]
                self.connections += 1
            answered = threading.Event()
            answered.set()  # the first bytes from the client are a request
            threading.Thread(target=self._requests, args=(client, upstream, answered), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client, answered), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket, answered: threading.Event) -> None:
        def arrived() -> None:
            if answered.is_set():  # a new request: it crosses the network first
                answered.clear()
                self._wait()

        _relay(client, upstream, arrived)

    def _answers(self, upstream: socket.socket, client: socket.socket, answered: threading.Event) -> None:
        _relay(upstream, client, answered.set)

    def _wait(self) -> None:
        with self._lock:
            self._waiting += 1
            self.max_waiting = max(self.max_waiting, self._waiting)
        time.sleep(self.delay)
        with self._lock:
            self._waiting -= 1


def _relay(src: socket.socket, dst: socket.socket, arrived) -> None:
    """Bytes from ``src`` to ``dst`` until either closes, ``arrived()`` called as each chunk comes
    in: through a pipe with ``os.splice`` where there is one (no copy through Python: the proxy
    costs the machine little CPU beside the server and the client it sits between)."""
    try:
        if hasattr(os, "splice"):
            read_end, write_end = os.pipe()
            try:
                while (n := os.splice(src.fileno(), write_end, _CHUNK)) > 0:
                    arrived()
                    while n:
                        n -= os.splice(read_end, dst.fileno(), n)
            finally:
                os.close(read_end)
                os.close(write_end)
        else:
            while data := src.recv(_CHUNK):
                arrived()
                dst.sendall(data)
    except OSError:
        pass
    finally:
        _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
