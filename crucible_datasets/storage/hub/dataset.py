"""A Hugging Face Hub dataset as a :class:`~crucible_datasets.storage.discovery.Layout`.

:func:`resolve_hub` pins a revision to its commit sha, lists the repo at that commit, reads
``README.md`` and hands both to :func:`crucible_datasets.storage.discovery.infer_layout`; every
file of the returned layout is an ``hf://datasets/owner/name@<sha>/...`` URL, so all reads come
from one commit. :func:`is_hub_id` tells ``"owner/name"`` (a Hub dataset) from a local path.

>>> is_hub_id("openai/gsm8k"), is_hub_id("./data"), is_hub_id("gs://b/x"), is_hub_id("data/train.jsonl")
(True, False, False, False)
"""

from __future__ import annotations

import logging
import os

from crucible_datasets.formats import looks_like_data
from crucible_datasets.storage import discovery
from crucible_datasets.storage.discovery import Layout
from crucible_datasets.storage.hub.api import list_files, resolve_revision
from crucible_datasets.storage.hub.files import read_bytes
from crucible_datasets.storage.hub.paths import REPO_ID_RE, SCHEME, HubPath, parse_hf_url, split_hub_id
from crucible_datasets.storage.hub.tokens import set_token

logger = logging.getLogger(__name__)


def is_hub_id(path: str) -> bool:
    """True for ``"owner/name"`` (optionally ``@revision``) that is not an existing local path."""
    if "://" in path or os.path.exists(path):
        return False
    repo_id = path.split("@", 1)[0]
    if looks_like_data(repo_id) or repo_id.lower().endswith(".txt"):  # "data/train.jsonl": a local file
        return False
    return bool(REPO_ID_RE.match(repo_id)) and path.count("/") == 1


def resolve_hub(
    repo_id: str,
    revision: str | None = None,
    token: str | bool | None = None,
    repo_type: str = "dataset",
    format: str | None = None,
    selection: discovery.Selection | None = None,
) -> Layout:
    """The :class:`Layout` of a Hub dataset at the commit ``revision`` points to now.

    ``repo_id`` is ``"owner/name"``, ``"owner/name@revision"`` or an ``hf://`` URL; a URL with a
    path inside the repo (a folder, a file or a glob) gives the layout of just that part. Every
    file URL of the layout carries the commit sha. A string token is kept for this repo in this
    process so later ``hf://`` reads of the layout's files use it; Beam workers in other
    processes need ``HF_TOKEN`` in their environment. ``format`` picks that format's files in a
    config that mixes formats (see :func:`crucible_datasets.storage.discovery.one_format`);
    ``selection``: ``load(data_files=, data_dir=)`` in the repo (``discovery.Selection``).
    """
    if repo_id.startswith(SCHEME):
        where = parse_hf_url(repo_id)
        repo_type = where.repo_type
    else:
        name, rev = split_hub_id(repo_id)
        where = HubPath(repo_type, name, rev, "")
    if revision is not None:
        where = HubPath(where.repo_type, where.repo_id, revision, where.path)
    if isinstance(token, str) and token:
        set_token(where.repo_id, token, where.repo_type)
    sha = resolve_revision(where.repo_id, where.revision, token, where.repo_type)
    pinned = HubPath(where.repo_type, where.repo_id, sha, where.path)
    if where.path:
        return discovery.resolve(pinned.url(), format, selection)
    files = [entry["path"] for entry in list_files(pinned, token=token)]
    readme = None
    if "README.md" in files:
        readme = read_bytes(pinned.child("README.md"), token=token).decode("utf-8", errors="replace")
    logger.info("%s: %d files at commit %s", pinned.describe(), len(files), sha)
    return discovery.infer_layout(pinned.url(), files, readme, format, selection)
