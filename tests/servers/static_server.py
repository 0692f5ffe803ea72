"""A plain static file server for ``https://``-reader tests (served over http on 127.0.0.1).

``files`` maps URL paths (``/data/a.jsonl``) to bytes and may be changed while serving.
``ranges=False`` makes it ignore ``Range`` and send no ``Accept-Ranges`` (a server without range
support); ``head=False`` answers HEAD with 405. ETags are the sha1 of the content, so replacing a
file changes its ETag. ``bytes_served[path]`` counts body bytes sent.

>>> server = StaticServer({"/a.txt": b"hello"})
>>> server.files["/a.txt"]
b'hello'
"""

from __future__ import annotations

import functools
import hashlib

from tests.servers.http_base import Counters, OneServer, QuietHandler, serve_bytes


@functools.lru_cache(maxsize=64)  # a file is hashed once, not on every range request for it
def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


class StaticServer(OneServer):
    def __init__(self, files: dict[str, bytes], *, ranges: bool = True, head: bool = True) -> None:
        self.files = dict(files)
        self.ranges = ranges
        self.head = head
        self.counters = Counters()

    @property
    def bytes_served(self) -> dict:
        return self.counters.bytes

    @property
    def requests(self) -> list[dict]:
        return list(self.counters.requests)


class _StaticHandler(QuietHandler):
    @property
    def static(self) -> StaticServer:
        return self.server.owner

    def do_HEAD(self) -> None:
        if not self.static.head:
            self.counters_log()
            self.send_body(405, b"")
            return
        self.do_GET()

    def counters_log(self) -> None:
        self.static.counters.log(method=self.command, path=self.path, range=self.headers.get("Range"))

    def do_GET(self) -> None:
        if self.command == "GET":
            self.counters_log()
        elif self.static.head:
            self.counters_log()
        path = self.path.split("?", 1)[0]
        data = self.static.files.get(path)
        if data is None:
            self.send_body(404, b"not found", {"Content-Type": "text/plain"})
            return
        headers = {"ETag": f'"{_sha1(data)}"', "Content-Type": "application/octet-stream"}
        serve_bytes(
            self,
            data,
            headers,
            ranges=self.static.ranges,
            on_sent=lambda n: self.static.counters.add_bytes(path, n),
        )


StaticServer.handler_class = _StaticHandler
