"""The last phase of a write: staged shards, ``manifest.json`` and the card become the split.

A :class:`Publisher` is a destination. :meth:`Sink.finalize <crucible_datasets.sinks.base.Sink.finalize>`
stages the split's shards as files in the run's temp folder and renders the new manifest and card
(from what :meth:`Publisher.read` returns); :meth:`Publisher.publish` then makes those the split's
published state: the staged shards under their names, the split's previous shards gone, the
manifest and card in place. It returns where the shards are now.

:class:`FolderPublisher` (a local folder or a ``gs://`` prefix) publishes a new *generation*:
the shards go under names no reader's pattern matches yet, and one atomic write of the card
(whose ``data_files`` name that generation, and which embeds the manifest) switches readers
from the previous split to the new one; the previous generation is deleted after the switch
(see docs/PUBLISHING.md). It can be re-run: before its first change to the destination it
records its plan in the run's temp folder, and a re-run follows that plan, skipping the steps
already made. A Hub publisher would be one more class: ``read`` downloads ``README.md`` from
the repo, ``publish`` makes one commit of the staged shards (``CommitOperationAdd``), the
deletions of the split's old shards (``CommitOperationDelete``) and the card; one commit is
atomic, so it needs no plan.

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

import hashlib
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
# Test-only: a finalize kills its own process (SIGKILL) just before the N-th step of its publish plan
# (every rename, card switch, write and deletion counts), so a test can check what readers see at
# that instant and that a re-run completes the publish. Read for no other purpose.
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

    ``prefix`` is where the split's files are, relative to the root (``data/train-``); of the
    files directly there, those whose rest of the name matches ``shard`` are the split's shards
    (any generation, an older layout's or ``push_to_hub``'s names), replaced by a publish; any
    other file (``data/train-notes.txt``) is the user's and is kept: the card's ``data_files``
    name only the published generation, so no reader takes it for part of the split.
    """

    def __init__(self, root: str, *, prefix: str, shard: re.Pattern) -> None:
        self.root = root
        self.prefix = prefix
        self.shard = shard

    def read(self, name: str) -> bytes | None:
        """The published file ``name`` (``manifest.json``, ``README.md``); ``None`` if there is none."""
        raise NotImplementedError

    def publish(
        self,
        staged: Sequence[StagedShard],
        manifest: bytes,
        card: bytes,
        *,
        base_digest: str | None = None,
        pinned_card: bytes | None = None,
        dead_letters: Sequence[str] = (),
        errors_dir: str | None = None,
        kept: Sequence[str] = (),
    ) -> Published:
        """Make ``staged`` the split's shards and ``manifest``/``card`` the dataset's metadata:
        only if the published card is still the one of ``base_digest`` (else
        :class:`PublishConflict`); ``pinned_card`` first pins readers of an older card to its
        files; ``dead_letters`` (files) become the split's dead letters under ``errors_dir``;
        ``kept``: published shards (names relative to the root) that stay as they are beside
        ``staged`` (an incremental write)."""
        raise NotImplementedError

    def names_under(self, folder: str) -> list[str]:
        """The files below ``folder`` (relative to the root), relative to the root."""
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


class PublishConflict(RuntimeError):
    """The card changed since this run staged (another run published): this publish cannot switch."""


def digest(data: bytes | None) -> str | None:
    """The sha256 of ``data`` (a card), or None for no card."""
    return None if data is None else hashlib.sha256(data).hexdigest()


class FolderPublisher(Publisher):
    """Publishes into a folder (local or ``gs://``) with one atomic switch; a re-run completes it.

    The staged shards carry a new generation in their names (``StagedShard.name``,
    ``data/train-00000-of-00002-g000004-3fa9c2d1.parquet``) that no data_files pattern of the
    published card matches, and the new card names only that generation. :meth:`publish`
    records a plan (``publish-plan.json`` in ``work_dir``, the run's temp folder, on the same
    filesystem as ``root``) and then runs its steps in order:

    1. ``switch`` to a *pinned* card, only when the published card has a pattern that would also
       match the new names (``data/train-*`` of an older layout): the same card with those
       patterns replaced by the files they match now, so the next steps stay invisible;
    2. ``rename`` each staged shard to its name (invisible: no pattern matches it yet);
    3. ``switch`` the card ``README.md`` (its data_files and the manifest embedded in it): the
       one atomic write that publishes the split. Local: ``os.replace`` of the staged card;
       ``gs://``: an upload with ``if_generation_match`` of the card this run staged against.
       Either way it is a compare-and-swap: a card that is neither the expected one nor this
       run's new one means another run published meanwhile, a :class:`PublishConflict`;
    4. ``write`` ``manifest.json``, the convenience copy of the card's manifest;
    5. ``delete`` the split's previous shards (any generation, and the older layout's names);
    6. ``delete`` the split's previous dead letters, ``rename`` this run's into place.

    A reader that reads the card before step 3 sees the previous split whole, after it the new
    one. Run again with the same ``work_dir`` the plan is followed again, each done step skipped:
    a rename whose source is gone and whose target exists, a switch whose card is already the
    new one, a deletion of a missing file. A rename whose source and target are both gone means
    another run removed them: an error.
    """

    def __init__(self, root: str, *, work_dir: str, prefix: str, shard: re.Pattern) -> None:
        super().__init__(root, prefix=prefix, shard=shard)
        self.work_dir = work_dir

    def read(self, name: str) -> bytes | None:
        path = fs.join(self.root, name)
        if fs.is_remote(path) and path.startswith("gs://"):
            from crucible_datasets.storage import gcs

            return gcs.read_generation(path)[0]
        if not fs.exists(path):
            return None
        with fs.open_input(path) as f:
            return f.read()

    def publish(
        self,
        staged: Sequence[StagedShard],
        manifest: bytes,
        card: bytes,
        *,
        base_digest: str | None = None,
        pinned_card: bytes | None = None,
        dead_letters: Sequence[str] = (),
        errors_dir: str | None = None,
        kept: Sequence[str] = (),
    ) -> Published:
        """Publish ``staged`` with the rendered ``card`` and ``manifest``. ``base_digest``: the
        :func:`digest` of the card published when the run staged (None: there was none), which
        the switch expects to replace; ``pinned_card`` when step 1 is needed. ``dead_letters``
        (staged files) go to ``errors_dir`` (relative to the root), replacing the files there."""
        plan_path = fs.join(self.work_dir, PLAN_NAME)
        if fs.exists(plan_path):
            with fs.open_input(plan_path) as f:
                plan = orjson.loads(f.read())
        else:
            plan = self._plan(
                staged, manifest, card, base_digest, pinned_card, dead_letters, errors_dir, kept
            )
            write_atomically(plan_path, orjson.dumps(plan, option=orjson.OPT_INDENT_2))
        kill_at = int(os.environ.get(KILL_AT_RENAME_ENV) or 0)
        for number, step in enumerate(plan["steps"], 1):
            if number == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            self._run(step)
        return Published(files=plan["files"], warnings=plan["warnings"])

    # -- the steps --

    def _run(self, step: dict) -> None:
        op = step["op"]
        if op == "rename":
            src, dst = step["src"], step["dst"]
            if fs.exists(src):
                fs.rename(src, dst)
            elif not fs.exists(dst):
                raise FileNotFoundError(
                    f"cannot complete the publish of {self.root}: {src} is gone and {dst} is not in "
                    "place (another run of the split finalized or aborted meanwhile?)"
                )
        elif op == "switch":
            self._switch(step["src"], step["expect"], step["result"])
        elif op == "write":
            with fs.open_input(step["src"]) as f:
                write_atomically(step["dst"], f.read(), work_dir=self.work_dir)
        elif op == "delete":
            fs.delete(step["path"])
        else:  # pragma: no cover - plans are written by _plan
            raise ValueError(f"unknown publish step {op!r}")

    def _switch(self, src: str, expect: str | None, result: str) -> None:
        """Replace the card by the staged ``src`` if the card's digest is ``expect`` (compare-and-swap)."""
        dst = fs.join(self.root, README_NAME)
        if dst.startswith("gs://"):
            from crucible_datasets.storage import gcs

            current, generation = gcs.read_generation(dst)
            if digest(current) == result:
                return
            self._check_expected(current, expect)
            with fs.open_input(src) as f:
                data = f.read()
            try:
                gcs.write_if_generation(dst, data, generation)
            except gcs.PreconditionFailed as exc:
                raise PublishConflict(f"{dst} was changed by another run during this publish") from exc
            return
        current = self.read(README_NAME)
        if digest(current) == result:
            return
        self._check_expected(current, expect)
        fs.rename(src, dst)  # local: os.replace, atomic; the caller holds the folder's lease

    def _check_expected(self, current: bytes | None, expect: str | None) -> None:
        if digest(current) != expect:
            raise PublishConflict(
                f"{fs.join(self.root, README_NAME)} changed since this run staged its split (another run "
                "published into the folder meanwhile): write the split again"
            )

    def _plan(
        self,
        staged: Sequence[StagedShard],
        manifest: bytes,
        card: bytes,
        base_digest: str | None,
        pinned_card: bytes | None,
        dead_letters: Sequence[str],
        errors_dir: str | None,
        kept: Sequence[str] = (),
    ) -> dict:
        """Stage the metadata; the steps and warnings of this publish."""
        paths = {}
        for name, data in (("manifest", manifest), ("card", card), ("pinned", pinned_card)):
            if data is not None:
                paths[name] = fs.join(self.work_dir, f"{name}.staged")
                with fs.open_output(paths[name]) as f:
                    f.write(data)
        steps: list[dict] = []
        expect = base_digest
        if pinned_card is not None and digest(pinned_card) != base_digest:
            pin = {"op": "switch", "src": paths["pinned"], "expect": expect, "result": digest(pinned_card)}
            steps.append(pin)
            expect = pin["result"]
        files = [fs.join(self.root, s.name) for s in staged]
        steps += [{"op": "rename", "src": s.path, "dst": dst} for s, dst in zip(staged, files, strict=True)]
        steps.append({"op": "switch", "src": paths["card"], "expect": expect, "result": digest(card)})
        steps.append({"op": "write", "src": paths["manifest"], "dst": fs.join(self.root, MANIFEST_NAME)})
        folder = self.prefix.rsplit("/", 1)[0] if "/" in self.prefix else ""
        shards, _ = self.old_shards(self.names_under(folder))
        keep = {s.name for s in staged} | set(kept)
        steps += [{"op": "delete", "path": fs.join(self.root, name)} for name in shards if name not in keep]
        if errors_dir is not None:
            old = [n for n in self.names_under(errors_dir) if n.rpartition("/")[0] == errors_dir]
            old = [n for n in old if n.rpartition("/")[2].startswith("errors-")]
            steps += [{"op": "delete", "path": fs.join(self.root, name)} for name in old]
            steps += [
                {"op": "rename", "src": path, "dst": fs.join(self.root, errors_dir, path.rsplit("/", 1)[-1])}
                for path in dead_letters
            ]
        files += [fs.join(self.root, name) for name in kept]
        return {"steps": steps, "files": files, "warnings": []}

    def names_under(self, folder: str) -> list[str]:
        """Files below ``folder`` (relative to the root), relative to the root."""
        path = fs.join(self.root, folder) if folder else self.root
        if fs.is_remote(path):
            root = self.root.rstrip("/") + "/"
            return [p[len(root) :] for p in fs.list_files(path)]
        if not os.path.isdir(path):
            return []
        return [os.path.relpath(p, self.root).replace(os.sep, "/") for p in fs.list_files(path)]


def write_atomically(path: str, data: bytes, *, work_dir: str | None = None) -> None:
    """Write ``path`` so that a reader sees all of ``data`` or no file (a gs:// object always is);
    on local disk through a temp file in ``work_dir`` (default: beside ``path``) and ``os.replace``."""
    if fs.is_remote(path):
        with fs.open_output(path) as f:
            f.write(data)
        return
    partial = (fs.join(work_dir, os.path.basename(path)) if work_dir else path) + ".partial"
    with fs.open_output(partial) as f:
        f.write(data)
    fs.rename(partial, path)


# The destinations by URL scheme: a new one is one Publisher subclass and one line here (a Hub
# publisher would be ``"hf": HubPublisher``). Any other path is a folder, local or behind Beam's
# filesystems (gs://, ...).
PUBLISHERS: dict[str, type[FolderPublisher]] = {}


def publisher_for(root: str, *, work_dir: str, prefix: str, shard: re.Pattern) -> Publisher:
    """The publisher of the split under ``root``: by its scheme in :data:`PUBLISHERS`, else a folder.

    >>> folder = publisher_for("/tmp/out", work_dir="/tmp/w", prefix="data/train-", shard=re.compile(""))
    >>> type(folder).__name__
    'FolderPublisher'
    """
    scheme = root.split("://", 1)[0] if "://" in root else ""
    return PUBLISHERS.get(scheme, FolderPublisher)(root, work_dir=work_dir, prefix=prefix, shard=shard)
