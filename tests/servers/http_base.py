"""Pieces shared by the test servers: a threaded server on 127.0.0.1:0 and byte serving.

Every server here runs in a daemon thread, binds an ephemeral port on 127.0.0.1, speaks
HTTP/1.1 with keep-alive (Content-Length on every answer) and is stopped by its fixture.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's name
        pass

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload, headers: dict[str, str] | None = None) -> None:
        import json

        body = json.dumps(payload).encode()
        self.send_body(status, body, {"Content-Type": "application/json", **(headers or {})})

    def read_request_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """``(start, end_exclusive)`` for a single-range header, None without one, "invalid" if unsatisfiable."""
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first == "":
        length = int(last)
        start, end = max(0, size - length), size
    else:
        start = int(first)
        end = min(size, int(last) + 1) if last else size
    if start >= size or start >= end:
        return "invalid"
    return start, end


def serve_bytes(
    handler: QuietHandler,
    data: bytes,
    headers: dict[str, str],
    *,
    ranges: bool = True,
    on_sent=None,
) -> None:
    """Answer GET/HEAD with ``data``: 206 for a satisfiable Range (when ``ranges``), else 200.

    ``on_sent(n)`` is told how many body bytes went out.
    """
    headers = dict(headers)
    if ranges:
        headers.setdefault("Accept-Ranges", "bytes")
    wanted = parse_range(handler.headers.get("Range"), len(data)) if ranges else None
    if wanted == "invalid":
        handler.send_body(416, b"", {**headers, "Content-Range": f"bytes */{len(data)}"})
        return
    if wanted is None:
        handler.send_body(200, data, headers)
        if handler.command != "HEAD" and on_sent:
            on_sent(len(data))
        return
    start, end = wanted
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
    handler.send_body(206, data[start:end], headers)
    if handler.command != "HEAD" and on_sent:
        on_sent(end - start)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up (on purpose in these tests) are not errors; the rest still print."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class ServerThread:
    """A ``ThreadingHTTPServer`` for ``handler_class`` on 127.0.0.1:0, in a daemon thread."""

    def __init__(self, handler_class, owner=None) -> None:
        self.httpd = _QuietServer(("127.0.0.1", 0), handler_class)
        self.httpd.daemon_threads = True
        self.httpd.owner = owner
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


class OneServer:
    """Base of a test server behind one :class:`ServerThread`: ``start()``, ``stop()``, ``url``.

    Subclasses set ``handler_class``; the handler finds the server object as ``server.owner``.
    """

    handler_class: type
    _server: ServerThread | None = None

    def start(self):
        self._server = ServerThread(self.handler_class, owner=self)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return self._server.url


class Counters:
    """Thread-safe byte and request counters by key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes: dict = defaultdict(int)
        self.requests: list[dict] = []

    def add_bytes(self, key, n: int) -> None:
        with self._lock:
            self.bytes[key] += n

    def log(self, **record) -> None:
        with self._lock:
            self.requests.append(record)

    def reset(self) -> None:
        with self._lock:
            self.bytes.clear()
            self.requests.clear()
