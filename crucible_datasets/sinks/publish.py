"""The last phase of a write: staged shards, ``manifest.json`` and the card become the split.

A :class:`Publisher` is a destination. :meth:`Sink.finalize <crucible_datasets.sinks.base.Sink.finalize>`
stages the split's shards as files in the run's temp folder and renders the new manifest and card
(from what :meth:`Publisher.read` returns); :meth:`Publisher.publish` then makes those the split's
published state: the staged shards under their names, the split's previous shards gone, the
manifest and card in place. It returns where the shards are now.

:class:`FolderPublisher` (a local folder or a ``gs://`` prefix) publishes by renaming, like
Beam's ``FileBasedSink.finalize_write``, and can be re-run: before its first change to the
destination it records its plan (which staged file goes to which name, which old shards are
removed) in the run's temp folder, and a re-run follows that plan, skipping the moves already
made. A Hub publisher would be one more class: ``read`` downloads ``manifest.json`` /
``README.md`` from the repo, ``publish`` makes one commit of the staged shards
(``CommitOperationAdd``), the deletions of the split's old shards (``CommitOperationDelete``, the
files :meth:`Publisher.old_shards` finds in the repo listing) and the manifest and card; one
commit is atomic, so it needs no plan.

>>> import os, re, tempfile
>>> root = tempfile.mkdtemp()
>>> work = os.path.join(root, ".tmp")
>>> os.makedirs(work)
>>> with open(os.path.join(work, "s0"), "wb") as f:
...     _ = f.write(b"rows")
>>> publisher = FolderPublisher(root, work_dir=work, prefix="data/train-", shard=re.compile(r"\\d{5}\\.txt$"))
>>> staged = [StagedShard(os.path.join(work, "s0"), "data/train-00000.txt", rows=1, bytes=4, num_bytes=8)]
>>> published = publisher.publish(staged, manifest=b"{}", card=b"---\\n---\\n")
>>> [os.path.relpath(p, root) for p in published.files], sorted(os.listdir(root))
(['data/train-00000.txt'], ['.tmp', 'README.md', 'data', 'manifest.json'])
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from crucible_datasets.sinks.card import README_NAME
from crucible_datasets.sinks.manifest import MANIFEST_NAME
from crucible_datasets.storage import filesystem as fs

PLAN_NAME = "publish-plan.json"
# Test-only: a finalize kills its own process (SIGKILL) just before its N-th rename, so a test can
# check that a re-run completes the publish. Read for no other purpose.
KILL_AT_RENAME_ENV = "CRUCIBLE_DATASETS_TEST_KILL_AT_RENAME"


@dataclass(frozen=True)
class StagedShard:
    """One shard ready to publish: the staged file and its name relative to the dataset root."""

    path: str  # in the run's temp folder
    name: str  # e.g. ``data/train-00000-of-00002.parquet``
    rows: int
    bytes: int  # size of the file
    num_bytes: int  # Arrow (in-memory) size of its rows


@dataclass
class Published:
    """What :meth:`Publisher.publish` did: the shards' locations, and warnings for the summary."""

    files: list[str]
    warnings: list[str] = field(default_factory=list)


class Publisher:
    """The destination of one split: reads the published metadata, publishes a staged split.

    ``prefix`` is where the split's files are, relative to the root (``data/train-``: the card's
    ``data_files`` pattern is ``{prefix}*``); of the files directly there, those whose rest of
    the name matches ``shard`` are the split's shards, replaced by a publish; any other file is
    read by ``datasets`` as part of the split too, so it is kept and warned about.
    """

    def __init__(self, root: str, *, prefix: str, shard: re.Pattern) -> None:
        self.root = root
        self.prefix = prefix
        self.shard = shard

    def read(self, name: str) -> bytes | None:
        """The published file ``name`` (``manifest.json``, ``README.md``); ``None`` if there is none."""
        raise NotImplementedError

    def publish(self, staged: Sequence[StagedShard], manifest: bytes, card: bytes) -> Published:
        """Make ``staged`` the split's shards and ``manifest``/``card`` the dataset's metadata."""
        raise NotImplementedError

    def old_shards(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """Of the ``names`` (relative to the root) the destination holds: the split's shards, and
        the other files its data_files pattern matches."""
        folder, start = self.prefix.rsplit("/", 1) if "/" in self.prefix else ("", self.prefix)
        shards, others = [], []
        for name in names:
            head, _, base = name.rpartition("/")
            if head != folder or not base.startswith(start):
                continue
            (shards if self.shard.match(base[len(start) :]) else others).append(name)
        return shards, others


class FolderPublisher(Publisher):
    """Publishes into a folder (local or ``gs://``) by renaming; a re-run completes a publish.

    ``work_dir`` is the run's temp folder (on the same filesystem as ``root``, so a rename is
    cheap). :meth:`publish` first writes the manifest and card there, and the plan
    (``publish-plan.json``: the renames, staged file -> final path, metadata last, and the old
    shards to delete), then deletes the old shards and renames. Run again with the same run's
    ``work_dir`` it follows the recorded plan: a rename whose staged file is gone and whose
    target exists was made (staged files belong to this run only), a deletion of a missing file
    is done. A staged file and its target both gone means another run removed them: an error.

    Generations (a later change, inside this class): instead of deleting the old shards and
    renaming into names that readers' pattern ``{prefix}*`` already matches, ``publish`` would
    rename the staged shards into a new generation no current pattern matches (a folder of this
    run), make the rename of the card and manifest that name it the one atomic switch (the
    plan's last step already), and delete the previous generation after it. The plan, and the
    skip of done steps, stay as they are; ``publish`` already returns where the shards went.
    The card is rendered before ``publish`` from ``StagedShard.name``, so the generation's
    folder has to be part of those names: the one change outside this class is the Sink asking
    its publisher for them instead of naming the shards itself.
    """

    def __init__(self, root: str, *, work_dir: str, prefix: str, shard: re.Pattern) -> None:
        super().__init__(root, prefix=prefix, shard=shard)
        self.work_dir = work_dir

    def read(self, name: str) -> bytes | None:
        path = fs.join(self.root, name)
        if not fs.exists(path):
            return None
        with fs.open_input(path) as f:
            return f.read()

    def publish(self, staged: Sequence[StagedShard], manifest: bytes, card: bytes) -> Published:
        plan_path = fs.join(self.work_dir, PLAN_NAME)
        if fs.exists(plan_path):
            with fs.open_input(plan_path) as f:
                plan = orjson.loads(f.read())
        else:
            plan = self._plan(staged, manifest, card)
            write_atomically(plan_path, orjson.dumps(plan, option=orjson.OPT_INDENT_2))
        for path in plan["delete"]:
            fs.delete(path)
        kill_at = int(os.environ.get(KILL_AT_RENAME_ENV) or 0)
        for number, (src, dst) in enumerate(plan["renames"], 1):
            if fs.exists(src):
                if number == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                fs.rename(src, dst)
            elif not fs.exists(dst):
                raise FileNotFoundError(
                    f"cannot complete the publish of {self.root}: {src} is gone and {dst} is not in "
                    "place (another run of the split finalized or aborted meanwhile?)"
                )
        return Published(files=plan["files"], warnings=plan["warnings"])

    def _plan(self, staged: Sequence[StagedShard], manifest: bytes, card: bytes) -> dict:
        """Stage the metadata; the renames, deletions and warnings of this publish."""
        metadata = []
        for name, data in ((MANIFEST_NAME, manifest), (README_NAME, card)):
            path = fs.join(self.work_dir, name)
            with fs.open_output(path) as f:
                f.write(data)
            metadata.append((path, fs.join(self.root, name)))
        files = [fs.join(self.root, s.name) for s in staged]
        shards, others = self.old_shards(self._names_under_prefix())
        keep = {s.name for s in staged}
        return {
            "renames": [(s.path, dst) for s, dst in zip(staged, files, strict=True)] + metadata,
            "delete": [fs.join(self.root, name) for name in shards if name not in keep],
            "files": files,
            "warnings": [
                f"{fs.join(self.root, name)} also matches the card's data_files pattern {self.prefix}* "
                "and will be read as part of the split by datasets"
                for name in others
            ],
        }

    def _names_under_prefix(self) -> list[str]:
        folder = fs.join(self.root, self.prefix.rsplit("/", 1)[0]) if "/" in self.prefix else self.root
        if not fs.is_remote(folder) and not os.path.isdir(folder):
            return []
        if fs.is_remote(folder):
            root = self.root.rstrip("/") + "/"
            return [path[len(root) :] for path in fs.list_files(folder)]
        return [os.path.relpath(path, self.root).replace(os.sep, "/") for path in fs.list_files(folder)]


def write_atomically(path: str, data: bytes) -> None:
    """Write ``path`` so that a reader sees all of ``data`` or no file (a gs:// object always is)."""
    if fs.is_remote(path):
        with fs.open_output(path) as f:
            f.write(data)
        return
    partial = path + ".partial"
    with fs.open_output(partial) as f:
        f.write(data)
    fs.rename(partial, path)
