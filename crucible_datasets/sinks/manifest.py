"""``manifest.json`` beside the shards: what each written split holds, merged across runs.

Layout (one entry per config and split; writing a split replaces its entry, keeps the others)::

    {"format": "crucible-datasets/manifest", "version": 1,
     "configs": {"default": {"data_dir": "data", "splits": {"train": {
         "format": "parquet", "rows": 3, "bytes": 1234, "num_bytes": 24,
         "shards": [{"file": "data/train-00000-of-00001.parquet", "rows": 3, "bytes": 1234}],
         "schema": "a: int64", "arrow_schema": "<base64 of the Arrow IPC schema>",
         "source": "...", "created": "2026-05-10T12:00:00Z", "wall_seconds": 1.5,
         "counts": {"rows_read": 3, ...}, "run_id": "...",
         "revision": "<Hub commit sha>", "package_version": "0.1.0", "spec": null,
         "stages": [{"name": "read", "kind": "read", "rows_in": 3, "rows_out": 3, "bad": 0}, ...],
         "bad_files": [["train.jsonl", 1]], "source_card": {"license": "mit", ...},
         "history": [{"run_id": "...", "created": "...", "rows": 3, "counts": {...}, "revision": ...}]}}}}}

``source`` names the dataset as its reader was given it, without a local absolute path;
``stages`` lists the read, each pipeline stage and the write with their rows in and out, in
order (see :func:`stage_entries`); ``history`` the last :data:`HISTORY_RUNS` runs of the split.

>>> import pyarrow as pa
>>> s = pa.schema([("a", pa.int64())])
>>> decode_schema(encode_schema(s)).equals(s)
True
>>> m = merge({}, "default", "train", {"rows": 1})
>>> merge(m, "default", "test", {"rows": 2})["configs"]["default"]["splits"]["train"]
{'rows': 1}
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from crucible_datasets.counts import RunCounts
    from crucible_datasets.sinks.provenance import Provenance
    from crucible_datasets.sinks.summary import WriteSummary

MANIFEST_NAME = "manifest.json"
FORMAT = "crucible-datasets/manifest"
VERSION = 1
HISTORY_RUNS = 20  # runs of a split kept in its history
BAD_FILES_LISTED = 20  # files with the most bad records, listed in a split's entry


def empty() -> dict:
    return {"format": FORMAT, "version": VERSION, "configs": {}}


def loads(data: bytes | None) -> dict:
    """The manifest in ``data``; an empty one when there is none or it is not a manifest.

    >>> loads(None) == loads(b"not json") == empty()
    True
    """
    if data is None:
        return empty()
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError:
        return empty()
    if not isinstance(manifest, dict) or not isinstance(manifest.get("configs"), dict):
        return empty()
    return manifest


def dumps(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2) + b"\n"


def merge(manifest: dict, config: str, split: str, entry: dict, data_dir: str | None = None) -> dict:
    """A copy of ``manifest`` with ``config``/``split`` set to ``entry``; other splits kept."""
    merged = copy.deepcopy(manifest) if manifest else empty()
    merged["format"], merged["version"] = FORMAT, VERSION
    configs = merged.setdefault("configs", {})
    config_entry = configs.setdefault(config, {})
    if data_dir is None:
        data_dir = entry.get("data_dir")
    if data_dir is not None:
        config_entry["data_dir"] = data_dir
    config_entry.setdefault("splits", {})[split] = {k: v for k, v in entry.items() if k != "data_dir"}
    return merged


def split_entry(
    summary: WriteSummary,
    names: list[str],
    *,
    data_dir: str,
    num_bytes: int,
    provenance: Provenance | None = None,
    previous: dict | None = None,
) -> dict:
    """The manifest entry of one written split (``names`` relative to the dataset folder);
    ``provenance`` (when the run has one) adds the source's revision, card facts, the stages and
    the spec; ``previous`` is the split's entry before this run (its history goes on)."""
    from crucible_datasets.sinks.provenance import Provenance, package_version

    known = provenance or Provenance()
    counts = summary.counts
    entry = {
        "data_dir": data_dir,
        "format": summary.format,
        "rows": summary.rows,
        "bytes": summary.bytes,
        "num_bytes": num_bytes,
        "shards": [
            {"file": name, "rows": rows, "bytes": size}
            for name, rows, size in zip(names, summary.file_rows, summary.file_bytes, strict=True)
        ],
        "schema": schema_text(summary.schema),
        "arrow_schema": encode_schema(summary.schema),
        "source": known.source or summary.source,
        "created": summary.created,
        "wall_seconds": summary.wall_seconds,
        "counts": counts.totals(),
        "run_id": summary.run_id,
        "revision": known.revision,
        "package_version": known.package_version or package_version(),
        "spec": known.spec,
        "stages": stage_entries(known.stages, counts) if provenance is not None else [],
        "bad_files": [[known.public_path(f), n] for f, n in counts.worst_files(BAD_FILES_LISTED)],
        "source_card": dict(known.card),
    }
    entry["history"] = history(previous, entry)
    return entry


def stage_entries(stages: Sequence[tuple[str, str]], counts: RunCounts) -> list[dict]:
    """``[{name, kind, rows_in, rows_out, bad}]``: the read (bad records are counted there), each
    stage of ``stages`` ((name, kind) pairs) with its rows from ``counts.stages``, the write.

    >>> from crucible_datasets.counts import RunCounts
    >>> c = RunCounts(rows_read=10, rows_bad=1, rows_filtered=4, rows_written=5, stages=((9, 5),))
    >>> entries = stage_entries([("RowFilter", "per_batch")], c)
    >>> [(s["name"], s["rows_in"], s["rows_out"], s["bad"]) for s in entries]
    [('read', 10, 9, 1), ('RowFilter', 9, 5, 0), ('write', 5, 5, 0)]
    """
    good = counts.rows_read - counts.rows_bad
    entries = [
        {
            "name": "read",
            "kind": "read",
            "rows_in": counts.rows_read,
            "rows_out": good,
            "bad": counts.rows_bad,
        }
    ]
    rows = (*counts.stages, *((0, 0),) * max(0, len(stages) - len(counts.stages)))
    for (name, kind), (rows_in, rows_out) in zip(stages, rows, strict=False):
        entries.append({"name": name, "kind": kind, "rows_in": rows_in, "rows_out": rows_out, "bad": 0})
    written = counts.rows_written
    entries.append({"name": "write", "kind": "write", "rows_in": written, "rows_out": written, "bad": 0})
    return entries


def history(previous: dict | None, entry: dict) -> list[dict]:
    """The split's last :data:`HISTORY_RUNS` runs, oldest first, ending with ``entry``'s run (an
    older entry without a history starts it with its own run). A run is its ``run_id``, ``created``,
    ``rows``, ``counts``, ``revision`` and ``generation`` (set by the sink once chosen); an incremental
    run adds the input files it ``added``, ``changed``, ``removed`` and ``kept``."""

    def run(e: dict) -> dict:
        return {k: e.get(k) for k in ("run_id", "created", "rows", "counts", "revision", "generation")}

    runs = list((previous or {}).get("history") or [])
    if not runs and previous and previous.get("run_id"):
        runs = [run(previous)]
    runs = [r for r in runs if r.get("run_id") != entry["run_id"]]  # a re-staged run: once
    return [*runs, run(entry)][-HISTORY_RUNS:]


def schema_text(schema: pa.Schema) -> str:
    """Readable one-field-per-line form; JSON-text columns are marked ``(json)``."""
    from crucible_datasets.schema import is_json_text

    lines = []
    for field in schema:
        mark = " (json)" if is_json_text(field) else ""
        lines.append(f"{field.name}: {field.type}{mark}")
    return "\n".join(lines)


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))
