"""Places in Hugging Face Hub repos: ``hf://`` URLs, repo ids, safe repo file names.

>>> parse_hf_url("hf://datasets/openai/gsm8k@main/main/test-00000-of-00001.parquet").path
'main/test-00000-of-00001.parquet'
>>> parse_hf_url("hf://datasets/openai/gsm8k@v1/README.md").revision
'v1'
>>> hf_url("openai/gsm8k", "README.md", revision="v1")
'hf://datasets/openai/gsm8k@v1/README.md'
>>> split_hub_id("openai/gsm8k@v1")
('openai/gsm8k', 'v1')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from crucible_datasets.storage.http.retry import UnsafePathError

SCHEME = "hf://"
DEFAULT_REVISION = "main"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_SPECIAL_REF_RE = re.compile(r"^refs/(?:convert/[\w-]+|pr/\d+)")
_TYPE_PREFIXES = {"datasets/": "dataset", "spaces/": "space", "models/": "model"}
_URL_PREFIXES = {"dataset": "datasets/", "space": "spaces/", "model": ""}


@dataclass(frozen=True)
class HubPath:
    """One place in a Hub repo: ``hf://datasets/owner/name@revision/path``."""

    repo_type: str
    repo_id: str
    revision: str | None
    path: str

    @property
    def rev(self) -> str:
        return self.revision or DEFAULT_REVISION

    @property
    def root(self) -> str:
        rev = f"@{quote(self.revision, safe='')}" if self.revision else ""
        return f"{SCHEME}{_URL_PREFIXES[self.repo_type]}{self.repo_id}{rev}"

    def url(self) -> str:
        return f"{self.root}/{self.path}" if self.path else self.root

    def child(self, path: str) -> HubPath:
        return HubPath(self.repo_type, self.repo_id, self.revision, path)

    def describe(self) -> str:
        """Names the repo and the path, for messages."""
        where = f"{self.repo_type} {self.repo_id}@{self.rev}"
        return f"{where}, file {self.path}" if self.path else where


def hf_url(repo_id: str, path: str = "", revision: str | None = None, repo_type: str = "dataset") -> str:
    """``hf://datasets/owner/name@revision/path``."""
    return HubPath(repo_type, repo_id, revision, check_repo_path(path, repo_id) if path else "").url()


def check_repo_path(path: str, repo: str = "") -> str:
    """``path`` if it stays inside a folder when joined to it, else :class:`UnsafePathError`."""
    where = f" in {repo}" if repo else ""
    bad = (
        not path
        or path.startswith(("/", "\\"))
        or "\\" in path
        or "\x00" in path
        or re.match(r"^[A-Za-z]:", path) is not None
        or any(part in ("..", ".") for part in path.split("/"))
        or "//" in path
    )
    if bad:
        raise UnsafePathError(
            f"refusing the repo file name {path!r}{where}: it is empty, absolute or would escape "
            "the local folder (.., drive letters, backslashes)"
        )
    return path


def parse_hf_url(url: str) -> HubPath:
    """Split ``hf://[datasets/]owner/name[@revision][/path]``; a ``/`` in a revision is ``%2F``."""
    if not url.startswith(SCHEME):
        raise ValueError(f"{url!r} is not an hf:// URL")
    rest = url[len(SCHEME) :]
    repo_type = "model"
    for prefix, kind in _TYPE_PREFIXES.items():
        if rest.startswith(prefix):
            repo_type, rest = kind, rest[len(prefix) :]
            break
    owner, _, rest = rest.partition("/")
    name_rev, _, path = rest.partition("/")
    name, _, revision = name_rev.partition("@")
    if revision and _SPECIAL_REF_RE.match(f"{revision}/{path}"):
        special = _SPECIAL_REF_RE.match(f"{revision}/{path}").group(0)
        revision, path = special, f"{revision}/{path}"[len(special) :].lstrip("/")
    repo_id = f"{owner}/{name}"
    if not REPO_ID_RE.match(repo_id):
        raise ValueError(f"{url!r}: expected hf://datasets/owner/name[@revision]/path")
    path = path.strip("/")
    if path:
        check_repo_path(path, repo_id)
    return HubPath(repo_type, repo_id, unquote(revision) if revision else None, path)


def split_hub_id(hub_id: str) -> tuple[str, str | None]:
    """``"owner/name@rev"`` -> ``("owner/name", "rev")``."""
    repo_id, _, revision = hub_id.partition("@")
    return repo_id, revision or None
