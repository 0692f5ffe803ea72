"""Where a written split came from: :class:`Provenance`, recorded in the manifest and the card.

:meth:`Provenance.of` describes a pipeline before it runs: the source (the dataset's name, a Hub
id or a ``gs://`` URL, never a local absolute path), the revision read (the Hub commit the load
pinned; the ``gs://`` object generations), the package version, the stages (name and kind),
the pipeline spec when the run came from one (tokens and secrets left out), and what the
source dataset's own card says: its licence, citation, pretty name, languages, task
categories and column descriptions (:func:`card_facts`; a stage's ``column_descriptions``
describe the columns it writes).

>>> text = '''---
... license: mit
... pretty_name: Grade School Math
... ---
... ## Data Fields
... - `question`: The question string.
...
... ## Citation
... ```bibtex
... @article{cobbe2021gsm8k, title={GSM8K}}
... ```
... '''
>>> facts = card_facts(text)
>>> facts["license"], facts["citation"], facts["descriptions"]
('mit', '@article{cobbe2021gsm8k, title={GSM8K}}', {'question': 'The question string.'})
>>> redacted({"source": {"path": "o/n", "token": "hf_x"}})
{'source': {'path': 'o/n', 'token': '<redacted>'}}
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from crucible_datasets.sources import public_text
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.readme import split_front_matter

if TYPE_CHECKING:
    from crucible_datasets.pipeline import Pipeline

logger = logging.getLogger(__name__)

CARD_KEYS = ("license", "pretty_name", "language", "task_categories")  # carried into our card
SECRET_KEY = re.compile(r"token|secret|password|credential|api[_-]?key", re.IGNORECASE)
MAX_LISTED_GENERATIONS = 100  # more gs:// files: only the digest of their generations
_FENCED = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
_HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.M)
_FIELD_BULLET = re.compile(r"^\s*[-*+]\s+`?([\w.-]+)`?\s*(?:\([^)]*\))?\s*[:\u2014-]\s+(.+?)\s*$", re.M)


@dataclass(frozen=True)
class Provenance:
    """What a split was made from and by; ``root`` (the source dataset's folder or URL) is used
    to name input files relative to it and is never recorded itself."""

    source: str = ""
    revision: str | dict | None = None
    package_version: str = ""
    spec: dict | None = None
    stages: tuple[tuple[str, str], ...] = ()  # (name, kind) of each pipeline stage, in order
    card: dict = field(default_factory=dict)  # what the source's card says (card_facts)
    root: str = ""
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, pipeline: Pipeline, spec: dict | None = None) -> Provenance:
        """The provenance of a run of ``pipeline`` (``spec``: the pipeline spec it came from)."""
        source = pipeline.source
        root = getattr(source, "root", "")  # a dataset's files have one; tables and generators none
        warnings: list[str] = []
        card: dict = {}
        if root:
            try:
                card = card_facts(_read_card(root))
            except Exception as exc:  # noqa: BLE001 - the card is for people; the run goes on
                warnings.append(f"the source dataset's card could not be read: {exc}")
        try:
            revision = revision_of(source.files)
        except Exception as exc:  # noqa: BLE001 - recorded as unknown, and said
            revision = None
            warnings.append(f"the revision of the source files could not be read: {exc}")
        described = {
            name: text for stage in pipeline.stages for name, text in stage.column_descriptions.items()
        }
        if described:  # what a stage says of the columns it writes wins over the source's card
            card = {**card, "descriptions": {**card.get("descriptions", {}), **described}}
        return cls(
            source=public_text(source.description),
            revision=revision,
            package_version=package_version(),
            spec=redacted(spec) if spec is not None else None,
            stages=tuple((stage.name, stage.kind.value) for stage in pipeline.stages),
            card=card,
            root=root,
            warnings=tuple(warnings),
        )

    def public_path(self, path: str) -> str:
        """``path`` as the manifest may show it: remote URLs as they are, a local file relative
        to the source's root (its name when it is elsewhere).

        >>> Provenance(root="/data/ds").public_path("/data/ds/train/a.jsonl")
        'train/a.jsonl'
        >>> Provenance(root="/data/ds/a.jsonl").public_path("/data/ds/a.jsonl")
        'a.jsonl'
        """
        if fs.is_remote(path):
            return path
        if self.root and not fs.is_remote(self.root):
            root = os.path.abspath(self.root)
            full = os.path.abspath(path)
            if full != root and full.startswith(root.rstrip(os.sep) + os.sep):
                return os.path.relpath(full, root).replace(os.sep, "/")
        return os.path.basename(path)


def package_version() -> str:
    """This package's installed version (its distribution's metadata, as ``pip show`` gives it)."""
    try:
        return metadata.version("crucible-datasets")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def redacted(spec: Any) -> Any:
    """``spec`` as a manifest may record it: the value of every key that names a secret (token,
    password...) hidden, every local absolute path cut to its last part (``sources.public_text``).

    >>> redacted({"sink": {"path": "/home/me/out"}, "stages": [{"op": "take", "n": 3}]})
    {'sink': {'path': 'out'}, 'stages': [{'op': 'take', 'n': 3}]}
    """
    if isinstance(spec, dict):
        return {k: "<redacted>" if SECRET_KEY.search(str(k)) else redacted(v) for k, v in spec.items()}
    if isinstance(spec, list | tuple):
        return [redacted(v) for v in spec]
    if isinstance(spec, str):
        return public_text(spec)
    return spec


def revision_of(files: Sequence[str]) -> str | dict | None:
    """The revision of the files read: the Hub commit (``{repo: commit}`` for several repos);
    for ``gs://`` objects ``{"digest", "generations"}`` (the generation of each object, listed
    up to :data:`MAX_LISTED_GENERATIONS` objects; the digest covers them all); None for local files.
    """
    hub = sorted({f for f in files if f.startswith("hf://")})
    gcs = sorted({f for f in files if f.startswith("gs://")})
    if hub:
        from crucible_datasets.storage.hub.paths import parse_hf_url

        commits = {}
        for url in hub:
            where = parse_hf_url(url)
            commits[where.repo_id] = where.revision
        return next(iter(commits.values())) if len(commits) == 1 else commits
    if gcs:
        generations = _generations(gcs)
        text = "\n".join(f"{url} {generations[url]}" for url in gcs)
        revision: dict = {"digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}
        if len(gcs) <= MAX_LISTED_GENERATIONS:
            revision["generations"] = generations
        return revision
    return None


def _generations(urls: list[str]) -> dict[str, int]:
    """The object generation of each ``gs://`` URL: one listing per bucket and common prefix."""
    from crucible_datasets.storage import gcs

    by_bucket: dict[str, list[str]] = {}
    for url in urls:
        bucket, name = gcs.split_gs_url(url)
        by_bucket.setdefault(bucket, []).append(name)
    found: dict[str, int] = {}
    client = gcs.storage_client()
    for bucket, names in by_bucket.items():
        prefix = os.path.commonprefix(names)
        wanted = set(names)
        for blob in client.list_blobs(bucket, prefix=prefix):
            if blob.name in wanted:
                found[f"gs://{bucket}/{blob.name}"] = int(blob.generation)
    missing = [url for url in urls if url not in found]
    if missing:
        raise FileNotFoundError(f"no such objects: {', '.join(missing[:3])}")
    return found


def _read_card(root: str) -> str | None:
    """The README.md of the dataset at ``root`` (a folder, a Hub repo at a commit, a gs:// folder)."""
    if not fs.is_remote(root) and not os.path.isdir(root):
        return None  # a single file: no card of its own
    path = fs.join(root, "README.md")
    if not fs.exists(path):
        return None
    with fs.open_input(path) as f:
        return f.read().decode("utf-8", errors="replace")


def card_facts(text: str | None) -> dict:
    """What a dataset card says that our card carries on: ``license``, ``pretty_name``,
    ``language``, ``task_categories`` (front matter), ``citation`` (a ``citation:`` key, else the
    first BibTeX block of the body) and ``descriptions`` (column -> text: the front matter's
    ``dataset_info`` features with a ``description``, and the "Data Fields" bullets of the
    body, ``- `name`: text``). Keys the card does not have are left out."""
    if not text:
        return {}
    meta, body = split_front_matter(text)
    meta = meta or {}
    facts: dict = {key: meta[key] for key in CARD_KEYS if meta.get(key)}
    citation = meta.get("citation") if isinstance(meta.get("citation"), str) else None
    for lang, block in _FENCED.findall(body):
        if citation is None and (lang.lower() in ("bibtex", "bib") or block.lstrip().startswith("@")):
            citation = block.strip()
    if citation:
        facts["citation"] = citation.strip()
    descriptions = {**_body_descriptions(body), **_feature_descriptions(meta.get("dataset_info"))}
    if descriptions:
        facts["descriptions"] = descriptions
    return facts


def _feature_descriptions(info: object) -> dict[str, str]:
    infos = info if isinstance(info, list) else [info]
    found: dict[str, str] = {}
    for one in infos:
        features = one.get("features") if isinstance(one, dict) else None
        for feature in features if isinstance(features, list) else []:
            if isinstance(feature, dict) and isinstance(feature.get("description"), str):
                found.setdefault(str(feature.get("name")), feature["description"].strip())
    return found


def _body_descriptions(body: str) -> dict[str, str]:
    """The bullets ``- `column`: text`` of the sections whose heading names fields or columns."""
    found: dict[str, str] = {}
    headings = list(_HEADING.finditer(body))
    for i, heading in enumerate(headings):
        if not re.search(r"field|column", heading.group(1), re.IGNORECASE):
            continue
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        for name, text in _FIELD_BULLET.findall(body[heading.end() : end]):
            found.setdefault(name, text)
    return found
