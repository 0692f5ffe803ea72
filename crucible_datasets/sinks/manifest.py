"""``manifest.json`` beside the shards: what each written split holds, merged across runs.

Layout (one entry per config and split; writing a split replaces its entry, keeps the others)::

    {"format": "crucible-datasets/manifest", "version": 1,
     "configs": {"default": {"data_dir": "data", "splits": {"train": {
         "format": "parquet", "rows": 3, "bytes": 1234, "num_bytes": 24,
         "shards": [{"file": "data/train-00000-of-00001.parquet", "rows": 3, "bytes": 1234}],
         "schema": "a: int64", "arrow_schema": "<base64 of the Arrow IPC schema>",
         "source": "...", "created": "2026-05-10T12:00:00Z", "wall_seconds": 1.5,
         "counts": {"rows_read": 3, ...}, "run_id": "..."}}}}}

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
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa

if TYPE_CHECKING:
    from crucible_datasets.sinks.summary import WriteSummary

MANIFEST_NAME = "manifest.json"
FORMAT = "crucible-datasets/manifest"
VERSION = 1


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


def split_entry(summary: WriteSummary, names: list[str], *, data_dir: str, num_bytes: int) -> dict:
    """The manifest entry of one written split (``names`` relative to the dataset folder)."""
    return {
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
        "source": summary.source,
        "created": summary.created,
        "wall_seconds": summary.wall_seconds,
        "counts": summary.counts.as_dict(),
        "run_id": summary.run_id,
    }


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
