"""The dataset card ``README.md``: YAML front matter that ``datasets.load_dataset(folder)`` reads.

The front matter holds ``configs`` (``config_name`` and ``data_files: [{split, path}]`` per config,
``path`` a glob such as ``data/train-*``) and ``dataset_info`` (``features`` in the Hub's YAML form,
``splits`` with ``num_examples`` and ``num_bytes``), built from ``manifest.json``. Other YAML keys
and a user's text are kept; this module owns only its entries and the section between its markers.

Features follow ``datasets.Features._to_yaml_list``: a column is ``{name, dtype}`` for a plain
value, ``{name, list: <item>}`` for a list (``large_list`` for large lists; ``sequence`` plus
``length`` for fixed-size lists), ``{name, struct: [fields]}`` for a struct; an item that is a
plain value is written as its dtype name (``list``, not ``sequence``: a ``sequence`` of a struct
means a struct of lists to ``datasets``; ``list`` reads the same in datasets 3 and 4+). JSON-text
columns (mixed types, objects whose keys vary) are ``dtype: json`` in Parquet shards:
``datasets`` 5 reads them back as the original values with its ``Json`` feature (older
versions do not know it); in JSON Lines shards, strings. A split without rows is listed only
when its config has no split with rows: ``datasets`` 5.2 cannot load an empty split eagerly,
which would fail ``load_dataset(folder)`` as a whole; otherwise its empty shard stays on disk.

>>> import pyarrow as pa
>>> for f in features(pa.schema([("a", pa.int64()), ("tags", pa.list_(pa.string())),
...                               ("m", pa.struct([("x", pa.float64())]))])):
...     print(f)
{'name': 'a', 'dtype': 'int64'}
{'name': 'tags', 'list': 'string'}
{'name': 'm', 'struct': [{'name': 'x', 'dtype': 'float64'}]}
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson
import pyarrow as pa
import yaml

from crucible_datasets import naming
from crucible_datasets.naming import DEFAULT_CONFIG
from crucible_datasets.schema import is_json_text
from crucible_datasets.sinks import manifest as manifests
from crucible_datasets.sinks.provenance import CARD_KEYS
from crucible_datasets.sinks.summary import human_bytes
from crucible_datasets.storage.readme import split_front_matter

README_NAME = "README.md"
BEGIN = "<!-- crucible-datasets:begin -->"
END = "<!-- crucible-datasets:end -->"
MANIFEST_MARK = "<!-- crucible-datasets:manifest "
_EMBEDDED = re.compile(re.escape(MANIFEST_MARK) + r"(\{.*?\}) -->", re.S)


class UnsupportedType(ValueError):
    """An Arrow type that ``datasets`` features cannot describe (map, union, extension)."""


# --- features ------------------------------------------------------------------------------------


def features(schema: pa.Schema, *, json_lines: bool = False) -> list[dict]:
    """The ``dataset_info.features`` YAML list for ``schema``.

    ``json_lines``: the shards are JSON Lines, where binary and decimal values are written as
    text, so those columns are strings.
    """
    return [
        {"name": field.name, "dtype": "json"}
        if is_json_text(field) and not json_lines
        else {"name": field.name, **_feature(field.type, json_lines)}
        for field in schema
    ]


def _feature(t: pa.DataType, json_lines: bool) -> dict:
    if pa.types.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        return {"struct": [{"name": f.name, **_feature(f.type, json_lines)} for f in fields]}
    if pa.types.is_fixed_size_list(t):
        item = _feature(t.value_type, json_lines)
        key = "list" if "struct" in item else "sequence"
        return {key: _simplify(item), "length": t.list_size}
    if pa.types.is_large_list(t):
        return {"large_list": _simplify(_feature(t.value_type, json_lines))}
    if pa.types.is_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return {"list": _simplify(_feature(t.value_type, json_lines))}
    if pa.types.is_dictionary(t):
        return _feature(t.value_type, json_lines)
    return {"dtype": dtype_name(t, json_lines=json_lines)}


def _simplify(item: dict) -> str | list | dict:
    if list(item) == ["dtype"]:
        return item["dtype"]
    if list(item) == ["struct"]:
        return item["struct"]
    return item


def dtype_name(t: pa.DataType, *, json_lines: bool = False) -> str:
    """The ``datasets.Value`` dtype of an Arrow type: ``float64`` for double, ``date32``..."""
    if json_lines and (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_decimal(t)):
        return "string"
    if pa.types.is_floating(t):
        return {16: "float16", 32: "float32", 64: "float64"}[t.bit_width]
    if pa.types.is_date32(t):
        return "date32"
    if pa.types.is_date64(t):
        return "date64"
    if pa.types.is_string_view(t):
        return "string"
    if pa.types.is_binary_view(t):
        return "binary"
    if (
        pa.types.is_null(t)
        or pa.types.is_boolean(t)
        or pa.types.is_integer(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_time(t)
        or pa.types.is_duration(t)
        or pa.types.is_decimal(t)
    ):
        return str(t)  # "int64", "timestamp[us, tz=UTC]", "decimal128(10, 2)" as datasets spells them
    raise UnsupportedType(f"Arrow type {t} has no datasets feature")


# --- front matter --------------------------------------------------------------------------------


def render(manifest: dict, existing: str | None, *, title: str = "Dataset") -> tuple[str, list[str]]:
    """The card text for ``manifest``, merged into ``existing`` card text; and warnings."""
    warnings: list[str] = []
    meta, body = split_front_matter(existing) if existing is not None else (None, None)
    if existing is not None and meta is None and existing.startswith("---"):
        warnings.append("the existing README.md front matter is not valid YAML: replaced")
    meta = dict(meta or {})

    ours_configs: dict[str, dict] = {}
    owned: dict[str, set[str]] = {}  # splits the manifest knows, per config: their data_files are ours
    ours_infos: dict[str, dict] = {}
    for config_name, config in manifest.get("configs", {}).items():
        data_files, info, config_warnings = _config_yaml(config_name, config)
        ours_configs[config_name] = {"config_name": config_name, "data_files": data_files}
        owned[config_name] = set(config.get("splits", {}))
        ours_infos[config_name] = info
        warnings += config_warnings

    for key, value in _source_card_keys(
        manifest
    ).items():  # the source's licence...: a key the card has stays
        meta.setdefault(key, value)
    meta["dataset_info"] = _merge_infos(meta.get("dataset_info"), ours_infos)
    meta["configs"] = _merge_configs(meta.get("configs"), ours_configs, owned)
    if not meta["configs"]:
        del meta["configs"]
    front = _dump(meta)
    section = _section(manifest, title)
    if body is None:
        body = f"\n# {title}\n\n{section}\n"
    elif BEGIN in body and END in body:
        before, rest = body.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        body = before + section + after
    else:
        body = body.rstrip("\n") + "\n\n" + section + "\n"
    return f"---\n{front}---\n{body}", warnings


def _dump(meta: dict) -> str:
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def embedded_manifest(card: str | None) -> dict | None:
    """The manifest embedded in our section of the card text ``card`` (None if there is none).

    The card is the one file a publish switches atomically, so this copy always matches the
    card's ``data_files``; ``manifest.json`` beside it is written just after the switch.
    """
    if not card or BEGIN not in card:
        return None
    found = _EMBEDDED.search(card.split(BEGIN, 1)[1].split(END, 1)[0])
    if found is None:
        return None
    try:
        manifest = orjson.loads(found.group(1))
    except orjson.JSONDecodeError:
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("configs"), dict) else None


def pinned(existing: str | None, new_names: list[str], files: list[str]) -> str | None:
    """``existing`` card text with each ``data_files`` pattern that would match one of
    ``new_names`` (a new generation's shards, relative to the folder) replaced by the list of
    the files it matches now (``files``: the folder's, relative); None when no pattern does.

    Publishing that card first keeps the new shards invisible until the real switch (a card
    of an older layout reads ``data/train-*``, which the new names match too). Only the
    ``[{split, path}]`` form without ``data_dir`` is pinned (the form this package writes).
    """
    from crucible_datasets.storage.discovery import match

    meta, body = split_front_matter(existing) if existing is not None else (None, None)
    if not isinstance(meta, dict) or not isinstance(meta.get("configs"), list):
        return None
    changed = False
    for entry in meta["configs"]:
        data_files = entry.get("data_files") if isinstance(entry, dict) else None
        if not isinstance(data_files, list) or entry.get("data_dir"):
            continue
        for item in data_files:
            if not isinstance(item, dict) or not isinstance(item.get("path"), (str, list)):
                continue
            patterns = [item["path"]] if isinstance(item["path"], str) else [str(p) for p in item["path"]]
            if any(match(p, new_names) for p in patterns):
                item["path"] = sorted({f for p in patterns for f in match(p, files)})
                changed = True
    if not changed:
        return None
    return f"---\n{_dump(meta)}---\n{body or ''}"


def placeholder(config: str, split: str, pattern: str, *, title: str = "Dataset") -> str:
    """The card a first publish switches to before its shards appear: its one split's
    ``data_files`` ``pattern`` matches nothing, so readers find no data (as before) instead of
    the new shards by split inference, whole or not."""
    meta = {"configs": [{"config_name": config, "data_files": [{"split": split, "path": pattern}]}]}
    return f"---\n{_dump(meta)}---\n\n# {title}\n"


def _config_yaml(config_name: str, config: dict) -> tuple[list[dict], dict, list[str]]:
    data_dir = config.get("data_dir", naming.data_dir(config_name))
    splits = config.get("splits", {})
    warnings = []
    # datasets 5.2 generates an empty split (a Parquet shard without row groups) but then refuses
    # to read it eagerly ("corresponds to no data"), failing the whole load_dataset(folder): so an
    # empty split is listed only when the config has no split with rows (streaming reads it).
    written = {name: split for name, split in splits.items() if split.get("shards") and split.get("rows")}
    for name, split in splits.items():
        if written and split.get("shards") and not split.get("rows"):
            warnings.append(
                f"config {config_name!r} split {name!r} has no rows: its empty shard is left out of the card "
                "(datasets.load_dataset cannot load an empty split beside others)"
            )
    if not written:
        written = {name: split for name, split in splits.items() if split.get("shards")}
    data_files = [
        {"split": name, "path": split.get("data_files") or f"{data_dir}/{name}-*"}
        for name, split in written.items()
    ]
    formats = sorted({str(split.get("format")) for split in written.values()})
    if len(formats) > 1:
        warnings.append(
            f"config {config_name!r} has splits in several formats ({', '.join(formats)}): "
            "datasets needs one format per config"
        )
    feature_lists = []
    for name, split in written.items():
        try:
            schema = manifests.decode_schema(split["arrow_schema"])
            feature_lists.append(features(schema, json_lines=split.get("format") == "json"))
            mixed = [f.name for f in schema if is_json_text(f)]
            if mixed and split.get("format") == "json":
                warnings.append(
                    f"config {config_name!r} split {name!r}: columns {mixed} hold values of mixed types; "
                    "datasets cannot load them from JSON Lines (Parquet keeps them as JSON text)"
                )
        except (KeyError, UnsupportedType, ValueError, pa.ArrowInvalid) as exc:
            warnings.append(f"config {config_name!r} split {name!r}: no features in the card: {exc}")
            feature_lists.append(None)
    info: dict = {}
    if feature_lists and all(f is not None and f == feature_lists[0] for f in feature_lists):
        info["features"] = feature_lists[0]
    elif feature_lists and all(f is not None for f in feature_lists):
        warnings.append(
            f"config {config_name!r}: the splits have different schemas, so the card declares no features "
            "(datasets needs the same columns and types in every split of a config)"
        )
    info["splits"] = [
        {"name": name, "num_bytes": int(split.get("num_bytes", 0)), "num_examples": int(split["rows"])}
        for name, split in written.items()
    ]
    info["download_size"] = sum(int(s.get("bytes", 0)) for s in written.values())
    info["dataset_size"] = sum(int(s.get("num_bytes", 0)) for s in written.values())
    return data_files, info, warnings


def _merge_configs(existing: object, ours: dict[str, dict], owned: dict[str, set[str]]) -> list[dict]:
    merged: list[dict] = []
    seen = set()
    for entry in existing if isinstance(existing, list) else []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("config_name", DEFAULT_CONFIG)
        if name in ours:
            data_files = _merge_data_files(entry.get("data_files"), ours[name]["data_files"], owned[name])
            entry = {**entry, "data_files": data_files}
            seen.add(name)
        if entry.get("data_files"):
            merged.append(entry)
    merged += [entry for name, entry in ours.items() if name not in seen and entry["data_files"]]
    return merged


def _merge_data_files(existing: object, ours: list[dict], owned: set[str]) -> list[dict]:
    if not isinstance(existing, list) or not all(isinstance(e, dict) and "split" in e for e in existing):
        return ours
    remaining = {e["split"]: e for e in ours}
    merged = []
    for entry in existing:  # keep the card's order; replace (or drop) the splits the manifest owns
        if entry["split"] not in owned:
            merged.append(entry)
        elif entry["split"] in remaining:
            merged.append(remaining.pop(entry["split"]))
    return merged + list(remaining.values())


def _merge_infos(existing: object, ours: dict[str, dict]) -> dict | list:
    infos: dict[str, dict] = {}
    if isinstance(existing, dict):
        infos[existing.get("config_name", DEFAULT_CONFIG)] = existing
    elif isinstance(existing, list):
        infos.update({e["config_name"]: e for e in existing if isinstance(e, dict) and "config_name" in e})
    for name, info in ours.items():
        infos[name] = {"config_name": name, **info}
    if len(infos) == 1:
        ((name, info),) = infos.items()
        info = {k: v for k, v in info.items() if k != "config_name"}
        return info if name == DEFAULT_CONFIG else {"config_name": name, **info}
    return [{"config_name": name, **_without_name(infos[name])} for name in sorted(infos)]


def _without_name(info: dict) -> dict:
    return {k: v for k, v in info.items() if k != "config_name"}


# --- human-readable section ----------------------------------------------------------------------


def _splits(manifest: dict) -> list[tuple[str, str, dict]]:
    return [
        (config_name, name, split)
        for config_name, config in manifest.get("configs", {}).items()
        for name, split in config.get("splits", {}).items()
    ]


def _source_card_keys(manifest: dict) -> dict:
    """The front matter keys the sources' cards give (licence, pretty name...), first split first."""
    keys: dict = {}
    for _, _, split in _splits(manifest):
        card = split.get("source_card") or {}
        for key in CARD_KEYS:
            if key in card:
                keys.setdefault(key, card[key])
    return keys


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(values: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(v) for v in values) + " |"


def describe_type(t: pa.DataType) -> str:
    """A short description of a column of Arrow type ``t``, for a card whose source says none.

    >>> describe_type(pa.list_(pa.string())), describe_type(pa.struct([("x", pa.int64())]))
    ('list of text', 'record of x (integer)')
    """
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_boolean(t):
        return "true or false"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return "date or time"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return "bytes"
    if pa.types.is_null(t):
        return "always empty"
    if pa.types.is_dictionary(t):
        return describe_type(t.value_type)
    if isinstance(
        t, pa.ListType | pa.LargeListType | pa.FixedSizeListType | pa.ListViewType | pa.LargeListViewType
    ):
        return f"list of {describe_type(t.value_type)}"
    if pa.types.is_struct(t):
        fields = [t.field(i) for i in range(t.num_fields)]
        return "record of " + ", ".join(f"{f.name} ({describe_type(f.type)})" for f in fields)
    return str(t)


def _columns(config_name: str, splits: dict) -> list[str]:
    """The columns table of one config: name, type, description (the source card's, or generated)."""
    for split in splits.values():
        try:
            schema = manifests.decode_schema(split["arrow_schema"])
        except (KeyError, ValueError, pa.ArrowInvalid):
            continue
        told = (split.get("source_card") or {}).get("descriptions") or {}
        lines = ["| column | type | description |", "|---|---|---|"]
        for f in schema:
            kind = "json" if is_json_text(f) else str(f.type)
            about = told.get(f.name) or (
                "JSON value of mixed types" if is_json_text(f) else describe_type(f.type)
            )
            lines.append(_row([f"`{f.name}`", f"`{kind}`", about]))
        return lines
    return [f"No schema recorded for config `{config_name}`."]


def _revision(revision: object) -> str:
    if isinstance(revision, str):
        return f" at revision `{revision}`"
    if isinstance(revision, dict) and "digest" in revision:
        return f" at object generations `{revision['digest']}` (listed in the manifest)"
    if isinstance(revision, dict) and revision:
        return " at revisions " + ", ".join(f"`{repo}@{commit}`" for repo, commit in revision.items())
    return ""


def _how_made(config_name: str, name: str, split: dict) -> list[str]:
    counts = split.get("counts") or {}
    lines = [f"### {config_name} / {name}", ""]
    stages = split.get("stages") or []
    if stages:
        lines += ["| step | kind | rows in | rows out | bad |", "|---|---|---:|---:|---:|"]
        for stage in stages:
            values = (stage.get("rows_in", 0), stage.get("rows_out", 0), stage.get("bad", 0))
            lines.append(_row([stage.get("name"), stage.get("kind"), *(f"{v:,}" for v in values)]))
        lines.append("")
    lines.append(
        f"Rows read {counts.get('rows_read', 0):,}, written {counts.get('rows_written', 0):,}, filtered "
        f"{counts.get('rows_filtered', 0):,}, bad {counts.get('rows_bad', 0):,}"
        + (f", added {counts['rows_added']:,}" if counts.get("rows_added") else "")
        + "."
    )
    if split.get("dead_letters"):
        lines.append(f"The bad records are in `{split['dead_letters'][0].rsplit('/', 1)[0]}/`.")
    version = split.get("package_version")
    made = f"Written {split.get('created') or ''} by crucible-datasets {version}" if version else "Written"
    runs = len(split.get("history") or [])
    lines.append(f"{made}, run `{split.get('run_id', '')}`; the manifest keeps the last {runs} run(s).")
    if split.get("spec"):
        lines += ["", "The pipeline spec:", "", "```yaml", _dump(split["spec"]).rstrip("\n"), "```"]
    return lines + [""]


def _loading(manifest: dict, title: str) -> list[str]:
    config_name, name, _ = _splits(manifest)[0]
    config = "" if config_name == DEFAULT_CONFIG else f'"{config_name}", '
    crucible = "" if config_name == DEFAULT_CONFIG else f', config="{config_name}"'
    return [
        "## How to load",
        "",
        f"From the folder or Hub repo that holds this card (here `{title}`), with crucible-datasets:",
        "",
        "```python",
        "import crucible_datasets as cd",
        "",
        f'ds = cd.load("{title}"{crucible}, split="{name}")',
        "```",
        "",
        "or with Hugging Face `datasets`:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{title}", {config}split="{name}")',
        "```",
        "",
    ]


def _section(manifest: dict, title: str = "Dataset") -> str:
    splits = _splits(manifest)
    sources = list(dict.fromkeys(split.get("source") or "" for _, _, split in splits if split.get("source")))
    versions = sorted(
        {str(split["package_version"]) for _, _, split in splits if split.get("package_version")}
    )
    rows = sum(int(split.get("rows", 0)) for _, _, split in splits)
    made = f"crucible-datasets {', '.join(versions)}" if versions else "crucible-datasets"
    lines = [
        BEGIN,
        "## Dataset description",
        "",
        f"{rows:,} rows written by {made}" + (f" from {'; '.join(sources)}." if sources else "."),
        "",
        "## Contents",
        "",
        "Row counts per split: *read* from the source, *written* here, *filtered* out by the pipeline, "
        "*bad* records skipped.",
        "",
        "| config | split | rows | shards | size | read | filtered | bad | source | written at |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for config_name, name, split in splits:
        counts = split.get("counts") or {}
        lines.append(
            _row(
                [
                    config_name,
                    name,
                    f"{split.get('rows', 0):,}",
                    len(split.get("shards", [])),
                    human_bytes(int(split.get("bytes", 0))),
                    f"{counts.get('rows_read', 0):,}",
                    f"{counts.get('rows_filtered', 0):,}",
                    f"{counts.get('rows_bad', 0):,}",
                    split.get("source") or "",
                    split.get("created") or "",
                ]
            )
        )
    configs = manifest.get("configs", {})
    lines += ["", "## Columns", ""]
    for config_name, config in configs.items():
        if len(configs) > 1:
            lines += [f"### {config_name}", ""]
        lines += [*_columns(config_name, config.get("splits", {})), ""]
    lines += ["## Source", ""]
    for config_name, name, split in splits:
        card = split.get("source_card") or {}
        licence = card.get("license")
        licence = ", ".join(map(str, licence)) if isinstance(licence, list) else licence
        told = f"licence `{licence}`" if licence else "no licence stated by the source"
        where = split.get("source") or "an unnamed source"
        lines.append(f"- {config_name} / {name}: {where}{_revision(split.get('revision'))}; {told}.")
    lines += ["", "## How it was made", ""]
    for config_name, name, split in splits:
        lines += _how_made(config_name, name, split)
    if splits:
        lines += _loading(manifest, title)
    citations = list(
        dict.fromkeys(c for _, _, s in splits if (c := (s.get("source_card") or {}).get("citation")))
    )
    if citations:
        lines += ["## Citation", "", "The source dataset asks to be cited as:", ""]
        for citation in citations:
            lines += ["```bibtex", citation, "```", ""]
    embedded = orjson.dumps(manifest).decode("utf-8").replace("<", "\\u003c").replace(">", "\\u003e")
    lines += [f"{MANIFEST_MARK}{embedded} -->", END]
    return "\n".join(lines)
