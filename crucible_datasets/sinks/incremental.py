"""An incremental write's plan: which input files to read again, which published shards to keep.

The manifest entry of a split written incrementally records the fingerprint of every input file
it read (``inputs``: input key -> fingerprint, see :mod:`crucible_datasets.storage.fingerprints`)
and, for every shard, the input it came from (``shards[i].inputs``). :func:`plan` compares that
with the current inputs: a file that is new or whose fingerprint changed is read again (one task,
and its own shards, per file); the shards of an unchanged file are kept as they are (the same
files, no rewrite); the shards of a file that changed or disappeared are dropped. A published
split that was not written incrementally (no ``inputs``) is read again whole. See docs/INCREMENTAL.md.

>>> def shard(name, key):
...     return {"file": f"data/{name}.parquet", "inputs": [{"file": key, "fingerprint": "1"}]}
>>> published = {"inputs": {"a": "1", "b": "1"}, "shards": [shard("s0", "a"), shard("s1", "b")]}
>>> p = plan(published, {"a": "1", "b": "2", "c": "1"})
>>> p.files, p.added, p.changed, p.removed, [s["file"] for s in p.kept]
(('b', 'c'), ('c',), ('b',), (), ['data/s0.parquet'])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from crucible_datasets.storage.fingerprints import input_key

HISTORY_NAMES = 20  # file names kept per list of a history entry


@dataclass(frozen=True)
class IncrementalPlan:
    """``files``: the input paths to read, task ``i`` reading ``files[i]``; ``fingerprints`` of
    every current input path; ``kept``: the published shard entries kept as they are;
    ``added``/``changed``/``removed``/``unchanged``: input keys; ``previous``: the published
    split entry (None when there is none)."""

    files: tuple[str, ...]
    fingerprints: Mapping[str, str]
    kept: tuple[dict, ...] = ()
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    previous: dict | None = field(default=None, compare=False)
    root: str = ""  # the source's root: local inputs are remembered relative to it

    def inputs_of(self, task_index: int) -> list[dict]:
        """The manifest's ``inputs`` of a shard written by task ``task_index``."""
        path = self.files[task_index]
        return [{"file": input_key(path, self.root), "fingerprint": self.fingerprints[path]}]

    def current_inputs(self) -> dict[str, str]:
        """The split's ``inputs`` after this run: every current input's key and fingerprint."""
        return {input_key(p, self.root): fp for p, fp in self.fingerprints.items()}

    def changes(self) -> dict:
        """What this run changed, for its entry in the split's ``history`` (input keys, at most
        :data:`HISTORY_NAMES` named per list)."""

        def names(keys: tuple[str, ...]) -> dict:
            return {"count": len(keys), "files": list(keys[:HISTORY_NAMES])}

        return {
            "added": names(self.added),
            "changed": names(self.changed),
            "removed": names(self.removed),
            "kept": names(self.unchanged),
        }


def plan(
    published: dict | None,
    fingerprints: Mapping[str, str],
    present: Collection[str] | None = None,
    root: str = "",
) -> IncrementalPlan:
    """The plan of an incremental write over inputs with ``fingerprints`` (path -> fingerprint, in
    input order) against the ``published`` split entry of the manifest; ``present``: the shard
    names the destination holds (a kept shard that is missing there is written again); ``root``:
    the source's root (see :func:`~crucible_datasets.storage.fingerprints.input_key`)."""
    published = published if isinstance(published, dict) else None
    recorded = published.get("inputs") if published else None
    recorded = recorded if isinstance(recorded, dict) else {}
    by_input: dict[str, list[dict]] = {}
    for shard in (published or {}).get("shards", []) if recorded else []:
        keys = [i.get("file") for i in shard.get("inputs") or []]
        if len(keys) == 1:
            by_input.setdefault(keys[0], []).append(shard)
    files, added, changed, unchanged, kept = [], [], [], [], []
    current = set()
    for path, fingerprint in fingerprints.items():
        key = input_key(path, root)
        current.add(key)
        shards = by_input.get(key, [])
        whole = present is None or all(s["file"] in present for s in shards)
        if key in recorded and recorded[key] == fingerprint and whole:
            unchanged.append(key)
            kept += shards
            continue
        files.append(path)
        (changed if key in recorded else added).append(key)
    removed = [key for key in recorded if key not in current]
    return IncrementalPlan(
        files=tuple(files),
        fingerprints=dict(fingerprints),
        kept=tuple(kept),
        added=tuple(added),
        changed=tuple(changed),
        removed=tuple(removed),
        unchanged=tuple(unchanged),
        previous=published,
        root=root,
    )
