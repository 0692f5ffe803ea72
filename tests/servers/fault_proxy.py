"""A fault-injecting HTTP proxy for tests: put it in front of any server, script failures.

Each :class:`Fault` applies to the next ``times`` requests it matches (method, path substring):

- ``Fault("status", status=503)``: answer 503 (or 429 with ``retry_after="1"``) without asking
  the upstream;
- ``Fault("reset", after_bytes=1000)``: forward the request, send the upstream's status, headers
  (with the full ``Content-Length``) and the first ``after_bytes`` body bytes, then reset the
  connection (TCP RST);
- ``Fault("drop")``: reset the connection before answering;
- ``Fault("call", action=fn)``: run ``fn()`` (a real second writer, say), then forward the request.

``every=3`` applies a fault to every third request it matches (``times`` still counts the
faults); ``headers`` are sent with a ``status`` answer (``RateLimit``, ``RateLimit-Policy``).
``rewrite_headers(headers) -> headers`` changes every forwarded answer's headers (drop an ETag).

Unmatched requests are forwarded untouched (``Host`` kept, so a server building absolute links
from it keeps clients on the proxy). ``log`` records every request and the fault applied.

>>> proxy = FaultProxy("http://127.0.0.1:9")
>>> proxy.script(Fault("status", status=503, times=2))
>>> proxy.pending()
2
"""

from __future__ import annotations

import http.client
import io
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.servers.http_base import OneServer, QuietHandler

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


@dataclass
class Fault:
    kind: str  # "status" | "reset" | "drop" | "call"
    status: int = 503
    retry_after: str | None = None
    after_bytes: int = 0
    times: int = 1
    method: str | None = None
    path_contains: str | None = None
    every: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    action: Callable[[], None] | None = None
    seen: int = 0

    def matches(self, method: str, path: str) -> bool:
        """True when this request gets the fault (every ``every``-th match, ``times`` at most)."""
        if not (
            self.times > 0
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
        ):
            return False
        self.seen += 1
        return self.seen % self.every == 0


class FaultProxy(OneServer):
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults: list[Fault] = []
        self.log: list[dict] = []
        self.rewrite_headers: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] | None = None
        self._lock = threading.Lock()

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def pending(self) -> int:
        with self._lock:
            return sum(f.times for f in self.faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def record(self, **entry) -> None:
        with self._lock:
            self.log.append(entry)

    def attempts(self, path_contains: str = "", method: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for e in self.log
                if path_contains in e["path"] and (method is None or e["method"] == method)
            )


class _ProxyHandler(QuietHandler):
    @property
    def proxy(self) -> FaultProxy:
        return self.server.owner

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _reset(self) -> None:
        try:
            self.wfile.flush()
        except OSError:
            pass
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.wfile = io.BytesIO()
        self.close_connection = True

    def _handle(self) -> None:
        body = self.read_request_body()
        fault = self.proxy.take(self.command, self.path)
        self.proxy.record(method=self.command, path=self.path, fault=fault.kind if fault else None)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            headers.update(fault.headers)
            self.send_body(fault.status, b"injected failure", {"Content-Type": "text/plain", **headers})
            return
        if fault is not None and fault.kind == "call":
            fault.action()
        if fault is not None and fault.kind == "drop":
            self._reset()
            return
        upstream_address = (self.proxy.upstream_host, self.proxy.upstream_port)
        connection = http.client.HTTPConnection(*upstream_address, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            upstream = connection.getresponse()
            data = upstream.read()
            status, upstream_headers = upstream.status, upstream.getheaders()
        finally:
            connection.close()
        if self.proxy.rewrite_headers is not None:
            upstream_headers = self.proxy.rewrite_headers(upstream_headers)
        self.send_response(status)
        for key, value in upstream_headers:
            if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        upstream_length = dict((k.lower(), v) for k, v in upstream_headers).get("content-length", "0")
        self.send_header("Content-Length", upstream_length if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault is not None and fault.kind == "reset":
            self.wfile.write(data[: fault.after_bytes])
            self._reset()
            return
        self.wfile.write(data)


FaultProxy.handler_class = _ProxyHandler
