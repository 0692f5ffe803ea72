"""A small Hugging Face Hub for tests: the API subset ``huggingface_hub`` and crucible use.

Routes (``{type}`` is ``datasets`` or ``models``; revisions are branches, tags or commit shas,
URL-quoted):

- ``GET /api/{type}/{owner}/{name}`` and ``.../revision/{rev}``: ``sha``, ``siblings`` ...
- ``GET /api/{type}/{owner}/{name}/tree/{rev}[/{path}]?recursive=&cursor=``: pages of
  ``page_size`` entries, the next page in a ``Link: <...>; rel="next"`` header;
- ``POST /api/{type}/{owner}/{name}/paths-info/{rev}`` (form or JSON ``paths``);
- ``GET|HEAD /datasets/{owner}/{name}/resolve/{rev}/{path}``: small (git) files are served
  directly with ``ETag`` (git blob sha), ``X-Repo-Commit``, ``Accept-Ranges`` and Range/206;
  LFS files (``.parquet``, or all files when ``lfs_everything``) answer ``302`` to a second
  "CDN" server on another port with ``X-Linked-Etag`` (sha256), ``X-Linked-Size`` and
  ``X-Repo-Commit``, as the real Hub does; the CDN serves ranges without any token.

Private repos answer 401 (``X-Error-Code: RepoNotFound``) without ``Authorization: Bearer
<token>``. Missing things answer 404 with the Hub's ``X-Error-Code`` (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``). ``bytes_served(repo, path)`` counts the body bytes sent
for a file (resolve and CDN); ``requests`` logs every request (never the token itself).

>>> hub = HubServer()
>>> repo = hub.add_repo("someone/data", {"README.md": b"# hi", "data/train.jsonl": b'{"a": 1}\\n'})
>>> len(repo.refs["main"])
40
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.servers.http_base import Counters, QuietHandler, ServerThread, serve_bytes

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".zst", ".gz")


@functools.lru_cache(maxsize=64)  # a file is hashed once, not on every request for it
def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@functools.lru_cache(maxsize=64)
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class HubRepo:
    repo_id: str
    repo_type: str = "dataset"
    private: bool = False
    token: str | None = None
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branches and tags -> sha
    lfs_everything: bool = False
    _counter: int = 0

    def commit(self, files: dict[str, bytes], branch: str = "main", replace: bool = False) -> str:
        """A new commit on ``branch``: the parent's files updated with ``files`` (or just ``files``)."""
        parent = self.refs.get(branch)
        snapshot = {} if replace or parent is None else dict(self.commits[parent])
        snapshot.update(files)
        self._counter += 1
        digest = hashlib.sha1(
            f"{self.repo_id}\n{self._counter}\n{parent}\n".encode()
            + b"".join(p.encode() + b"\0" + git_blob_sha(d).encode() for p, d in sorted(snapshot.items()))
        ).hexdigest()
        self.commits[digest] = snapshot
        self.refs[branch] = digest
        return digest

    def tag(self, name: str, sha: str) -> None:
        self.refs[name] = sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None

    def is_lfs(self, path: str) -> bool:
        return self.lfs_everything or path.endswith(LFS_SUFFIXES)


class HubServer:
    """The Hub API server plus its CDN; ``start()`` binds both on 127.0.0.1:0."""

    def __init__(self, page_size: int = 1000) -> None:
        self.page_size = page_size
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.blobs: dict[str, bytes] = {}
        self.counters = Counters()
        self._lock = threading.Lock()
        self._api: ServerThread | None = None
        self._cdn: ServerThread | None = None
        self.cdn_via: str | None = None  # where redirects send clients instead (a proxy of the CDN)

    # setup -------------------------------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        repo_type: str = "dataset",
        private: bool = False,
        token: str | None = None,
        lfs_everything: bool = False,
    ) -> HubRepo:
        repo = HubRepo(repo_id, repo_type, private, token, lfs_everything=lfs_everything)
        repo.commit(files)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def replace_in_place(self, repo_id: str, revision: str, path: str, data: bytes) -> None:
        """Change a file without a new commit (a broken server or a moved branch mid-read)."""
        repo = self.repos[("dataset", repo_id)]
        repo.commits[repo.resolve(revision)][path] = data

    def start(self) -> HubServer:
        self._api = ServerThread(_HubHandler, owner=(self, "api"))
        self._cdn = ServerThread(_HubHandler, owner=(self, "cdn"))
        return self

    def stop(self) -> None:
        for server in (self._api, self._cdn):
            if server is not None:
                server.stop()

    @property
    def url(self) -> str:
        assert self._api is not None, "start() first"
        return self._api.url

    @property
    def cdn_url(self) -> str:
        assert self._cdn is not None, "start() first"
        return self._cdn.url

    # observations ------------------------------------------------------------------------------
    def bytes_served(self, repo_id: str, path: str) -> int:
        return self.counters.bytes.get((repo_id, path), 0)

    @property
    def requests(self) -> list[dict]:
        return list(self.counters.requests)

    def reset_counters(self) -> None:
        self.counters.reset()


def _file_entry(repo: HubRepo, path: str, data: bytes) -> dict:
    entry = {"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": path}
    if repo.is_lfs(path):
        entry["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": 134}
    return entry


def _folders(files) -> set[str]:
    folders = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders


def _dir_entry(path: str) -> dict:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


class _HubHandler(QuietHandler):
    @property
    def hub(self) -> HubServer:
        return self.server.owner[0]

    @property
    def role(self) -> str:
        return self.server.owner[1]

    def _error(self, status: int, code: str, message: str) -> None:
        self.send_json(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        segments = parts.path.split("/")[1:]  # raw (still quoted) segments
        auth = self.headers.get("Authorization")
        self.hub.counters.log(
            role=self.role,
            method=self.command,
            path=parts.path,
            range=self.headers.get("Range"),
            authorized=bool(auth),
        )
        if self.role == "cdn":
            return self._cdn(segments, parse_qs(parts.query))
        if segments[:1] == ["api"] and len(segments) >= 4:
            return self._api(segments[1], f"{segments[2]}/{segments[3]}", segments[4:], parse_qs(parts.query))
        if len(segments) >= 6 and segments[0] == "datasets" and segments[3] == "resolve":
            repo_id = f"{segments[1]}/{segments[2]}"
            return self._resolve("datasets", repo_id, unquote(segments[4]), unquote("/".join(segments[5:])))
        if len(segments) >= 5 and segments[2] == "resolve":
            repo_id = f"{segments[0]}/{segments[1]}"
            return self._resolve("models", repo_id, unquote(segments[3]), unquote("/".join(segments[4:])))
        self._error(404, "NotFound", f"no route for {parts.path}")

    def _repo(self, kind: str, repo_id: str) -> HubRepo | None:
        repo_type = {"datasets": "dataset", "models": "model", "spaces": "space"}.get(kind, kind)
        repo = self.hub.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.private and self.headers.get("Authorization") != f"Bearer {repo.token}":
            self._error(401, "RepoNotFound", "Invalid username or password.")
            return None
        return repo

    def _commit(self, repo: HubRepo, revision: str) -> tuple[str, dict[str, bytes]] | None:
        sha = repo.resolve(revision)
        if sha is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return None
        return sha, repo.commits[sha]

    # API ---------------------------------------------------------------------------------------
    def _api(self, kind: str, repo_id: str, rest: list[str], query: dict) -> None:
        repo = self._repo(kind, repo_id)
        if repo is None:
            return
        if not rest or rest[0] == "revision":
            revision = unquote(rest[1]) if len(rest) >= 2 else "main"
            found = self._commit(repo, revision)
            if found is not None:
                self._info(repo, *found)
            return
        if rest[0] == "tree" and len(rest) >= 2:
            found = self._commit(repo, unquote(rest[1]))
            if found is not None:
                self._tree(repo, found[1], unquote("/".join(rest[2:])), query)
            return
        if rest[0] == "paths-info" and len(rest) >= 2 and self.command == "POST":
            found = self._commit(repo, unquote(rest[1]))
            if found is not None:
                self._paths_info(repo, found[1])
            return
        self._error(404, "NotFound", "unknown API route")

    def _info(self, repo: HubRepo, sha: str, files: dict[str, bytes]) -> None:
        owner = repo.repo_id.split("/")[0]
        self.send_json(
            200,
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "author": owner,
                "sha": sha,
                "lastModified": "2024-01-01T00:00:00.000Z",
                "createdAt": "2024-01-01T00:00:00.000Z",
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(files)],
            },
        )

    def _tree(self, repo: HubRepo, files: dict[str, bytes], path: str, query: dict) -> None:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        if path and not any(p.startswith(prefix) for p in files):
            self._error(404, "EntryNotFound", f"{path} does not exist on this revision")
            return
        entries = []
        for folder in sorted(_folders(files)):
            if folder.startswith(prefix) and (recursive or "/" not in folder[len(prefix) :]):
                entries.append(_dir_entry(folder))
        for name in sorted(files):
            if name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :]):
                entries.append(_file_entry(repo, name, files[name]))
        cursor = int(query.get("cursor", ["0"])[0] or 0)
        page = entries[cursor : cursor + self.hub.page_size]
        headers = {}
        if cursor + self.hub.page_size < len(entries):
            host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            params = {
                "recursive": str(recursive).lower(),
                "expand": query.get("expand", ["false"])[0],
                "cursor": str(cursor + self.hub.page_size),
            }
            base = urlsplit(self.path).path
            headers["Link"] = f'<http://{host}{base}?{urlencode(params)}>; rel="next"'
        self.send_json(200, page, headers)

    def _paths_info(self, repo: HubRepo, files: dict[str, bytes]) -> None:
        body = self.read_request_body()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body or b"{}").get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        folders = _folders(files)
        entries = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                entries.append(_file_entry(repo, path, files[path]))
            elif path in folders:
                entries.append(_dir_entry(path))
        self.send_json(200, entries)

    # files -------------------------------------------------------------------------------------
    def _resolve(self, kind: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._repo(kind, repo_id)
        if repo is None:
            return
        found = self._commit(repo, revision)
        if found is None:
            return
        sha, files = found
        if path not in files:
            self.send_body(
                404,
                b'{"error": "Entry not found"}',
                {
                    "X-Error-Code": "EntryNotFound",
                    "X-Error-Message": "Entry not found",
                    "X-Repo-Commit": sha,
                    "Content-Type": "application/json",
                },
            )
            return
        data = files[path]
        if repo.is_lfs(path):
            digest = sha256(data)
            with self.hub._lock:
                self.hub.blobs[digest] = data
            query = urlencode({"repo": repo_id, "path": path})
            self.send_body(
                302,
                b"",
                {
                    "Location": f"{self.hub.cdn_via or self.hub.cdn_url}/cdn/{digest}?{query}",
                    "X-Repo-Commit": sha,
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_sha(data)}"',
                },
            )
            return
        serve_bytes(
            self,
            data,
            {
                "ETag": f'"{git_blob_sha(data)}"',
                "X-Repo-Commit": sha,
                "Content-Type": "application/octet-stream",
            },
            on_sent=lambda n: self.hub.counters.add_bytes((repo_id, path), n),
        )

    def _cdn(self, segments: list[str], query: dict) -> None:
        if len(segments) != 2 or segments[0] != "cdn" or segments[1] not in self.hub.blobs:
            self.send_body(404, b"NoSuchKey")
            return
        digest = segments[1]
        key = (query.get("repo", [""])[0], query.get("path", [""])[0])
        serve_bytes(
            self,
            self.hub.blobs[digest],
            {"ETag": f'"{digest}"', "Content-Type": "application/octet-stream"},
            on_sent=lambda n: self.hub.counters.add_bytes(key, n),
        )


def repo_url(repo_id: str, path: str = "", revision: str | None = None) -> str:
    """``hf://datasets/{repo_id}[@revision][/path]``."""
    rev = f"@{quote(revision, safe='')}" if revision else ""
    return f"hf://datasets/{repo_id}{rev}" + (f"/{path}" if path else "")
