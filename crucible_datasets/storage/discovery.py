"""Which files make which split of which config: the Hub's rules, on any folder or file list.

A dataset folder (local, ``gs://``, ``hf://`` ...) becomes a :class:`Layout`: configs, each with
splits, each with a sorted list of data files. The rules are those of Hugging Face ``datasets``
(``data_files.py`` and ``utils/metadata.py``):

- a README.md whose YAML header has a ``configs:`` block decides everything: each item has a
  ``config_name``, ``data_files`` (a pattern, a list of patterns -> split ``train``, a list of
  ``{split, path}`` items, or a mapping split -> pattern(s)), maybe ``data_dir`` and
  ``default: true``; every other key (``field``, ``sep`` ...) is kept as a reader option;
- otherwise one config, ``default``, with splits inferred from the paths: first sharded files
  ``data/{split}-00000-of-00003.*`` (any split name), then split keywords in folder names
  (``train/``, ``my_test_dir/``), then in file names (``train.jsonl``, ``data/dev_0.csv``), a
  keyword counting only when delimited by ``-``, ``_``, ``.``, a space or a digit; with no
  keyword at all, every data file is ``train``.

Data files end in .jsonl, .ndjson, .json, .csv, .tsv or .parquet (maybe plus .gz/.zst/.zstd).
Files that look like data but have no reader here (``.arrow``, ``.feather``, ``.avro``, ``.orc``,
or a data extension plus ``.bz2``/``.xz``/``.lz4``/``.zip``) are listed too, so that reading them
fails with a message instead of skipping them. One config reads one format: a config whose
files are of several formats is an error when read, unless ``format=`` picks one (then split
inference and patterns see only that format's files). Hidden files and folders, ``__special__``
folders and ``_errors/`` (dead letters) are skipped unless a pattern names them; so are
README.md, manifest.json and the HF metadata files.

>>> layout = infer_layout("/d", ["README.md", "train.jsonl", "dev.jsonl", "notes.txt"], None)
>>> layout.config(None).splits
{'train': ['/d/train.jsonl'], 'validation': ['/d/dev.jsonl']}
>>> try:
...     layout.files(None, "test")
... except LayoutError as exc:
...     print(exc)
split 'test' not found in config 'default' of /d; available splits: train, validation
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache

from crucible_datasets.errors import CrucibleError
from crucible_datasets.formats import EXTENSIONS, data_kind, looks_like_data
from crucible_datasets.naming import (
    DEFAULT_CONFIG,
    DEFAULT_SPLITS,
    KEYWORD_DELIMITERS,
    SHARD_NAME,
    SHARDED_SPLIT_PATTERN,
    SPLIT_KEYWORDS,
    SPLIT_NAME,
)
from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.readme import ReadmeError, configs_block, split_patterns, yaml_header

# The extensions with a reader, in the registry's order (for messages).
DATA_EXTENSIONS = tuple(EXTENSIONS)
README = "README.md"
# HF FILES_TO_IGNORE (minus the non-data ones) plus our own output manifest.
IGNORED_FILE_NAMES = frozenset(
    {README, "manifest.json", "config.json", "dataset_info.json", "dataset_infos.json", "dataset_dict.json"}
)
ERRORS_DIR = "_errors"

# datasets/data_files.py (fsspec >= 2023.12 variant of the patterns); the keywords: naming.py
KEYWORDS_IN_FILENAME_BASE_PATTERNS = ("**/{keyword}[{sep}]*", "**/*[{sep}]{keyword}[{sep}]*")
KEYWORDS_IN_DIR_NAME_BASE_PATTERNS = (
    "**/{keyword}/**",
    "**/{keyword}[{sep}]*/**",
    "**/*[{sep}]{keyword}/**",
    "**/*[{sep}]{keyword}[{sep}]*/**",
)
DEFAULT_PATTERNS_SPLIT_IN_FILENAME = {
    split: [
        pattern.format(keyword=keyword, sep=KEYWORD_DELIMITERS)
        for keyword in keywords
        for pattern in KEYWORDS_IN_FILENAME_BASE_PATTERNS
    ]
    for split, keywords in SPLIT_KEYWORDS.items()
}
DEFAULT_PATTERNS_SPLIT_IN_DIR_NAME = {
    split: [
        pattern.format(keyword=keyword, sep=KEYWORD_DELIMITERS)
        for keyword in keywords
        for pattern in KEYWORDS_IN_DIR_NAME_BASE_PATTERNS
    ]
    for split, keywords in SPLIT_KEYWORDS.items()
}
DEFAULT_PATTERNS_ALL = {"train": ["**"]}
_MAGIC = re.compile(r"[*?\[]")


class LayoutError(CrucibleError, ValueError):
    """A config or split that does not exist, a bad README ``configs:`` block, an unmatched pattern."""


class EmptyDatasetError(CrucibleError, FileNotFoundError):
    """A folder or pattern with no data files in it (the name HF uses for the same case)."""


class DatasetNotFoundError(CrucibleError, FileNotFoundError):
    """No file or folder at the path (nor a Hub dataset by that name): says what is there instead."""


@dataclass(frozen=True)
class ConfigLayout:
    """One config: split -> data files (full paths or URLs), sorted; reader options from README.

    ``problem`` says why the config cannot be read (data files of several formats, files with
    no reader); :meth:`Layout.config` raises it when the config is picked, so other configs of
    the same dataset stay readable.
    """

    name: str
    splits: dict[str, list[str]]
    default: bool = False
    options: dict = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class Layout:
    """The configs of the dataset at ``root`` (a folder, or the single data file itself)."""

    root: str
    configs: dict[str, ConfigLayout]

    def config(self, name: str | None) -> ConfigLayout:
        """The named config; for None the one marked default, the only one, or ``default``.

        A config that cannot be read as it is (see ``ConfigLayout.problem``) is a :class:`LayoutError`.
        """
        chosen = self._pick(name)
        if chosen.problem:
            raise LayoutError(chosen.problem)
        return chosen

    def _pick(self, name: str | None) -> ConfigLayout:
        if name is not None:
            if name not in self.configs:
                raise LayoutError(
                    f"config {name!r} not found in {self.root}; available configs: {', '.join(self.configs)}"
                )
            return self.configs[name]
        marked = [c for c in self.configs.values() if c.default]
        if len(marked) == 1:
            return marked[0]
        if not marked:
            if len(self.configs) == 1:
                return next(iter(self.configs.values()))
            if DEFAULT_CONFIG in self.configs:
                return self.configs[DEFAULT_CONFIG]
        raise LayoutError(
            f"{self.root} has several configs and no single default one; pick a config among: "
            f"{', '.join(self.configs)}"
        )

    def files(self, config: str | None, split: str) -> list[str]:
        """The data files of ``split`` in ``config`` (None: the default config)."""
        chosen = self.config(config)
        if split not in chosen.splits:
            raise LayoutError(
                f"split {split!r} not found in config {chosen.name!r} of {self.root}; "
                f"available splits: {', '.join(chosen.splits)}"
            )
        return list(chosen.splits[split])


# ---------------------------------------------------------------------------------------------
# Pattern matching over relative POSIX paths (fsspec >= 2023.12 / Python glob semantics):
# '*' and '?' stay inside one path segment, '**' as a whole segment spans any number of folders,
# '**' inside a segment is a plain '*', '[...]' is a character class ('[!...]' negated).


def _segment_regex(segment: str) -> str:
    out, i, n = [], 0, len(segment)
    while i < n:
        c = segment[i]
        i += 1
        if c == "*":
            while i < n and segment[i] == "*":
                i += 1
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i
            if j < n and segment[j] == "!":
                j += 1
            if j < n and segment[j] == "]":
                j += 1
            while j < n and segment[j] != "]":
                j += 1
            if j >= n:
                out.append(re.escape(c))
                continue
            body, i = segment[i:j], j + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = re.sub(r"([\\&~|\[^])", r"\\\1", body)
            out.append(f"(?!/)[^{body}]" if negate else f"[{body}]")
        else:
            out.append(re.escape(c))
    return "".join(out)


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = pattern.split("/")
    out = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            out.append(".+" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(part) + ("" if last else "/"))
    return re.compile("".join(out))


def _hidden_parts(parts: list[str] | tuple[str, ...]) -> int:
    return sum(1 for p in parts if p.startswith(".") and set(p) != {"."})


def _skipped(rel: str, pattern: str) -> bool:
    """HF ``resolve_pattern`` filters: hidden, ``__special__``, ignored names, plus ``_errors/``."""
    parts, pattern_parts = rel.split("/"), pattern.split("/")
    if parts[-1] in IGNORED_FILE_NAMES and parts[-1] != pattern_parts[-1]:
        return True
    if _hidden_parts(parts) != _hidden_parts(pattern_parts):
        return True
    special = [p for p in parts[:-1] if p.startswith("__")]
    if len(special) != len([p for p in pattern_parts[:-1] if p.startswith("__")]):
        return True
    return ERRORS_DIR in parts[:-1] and ERRORS_DIR not in pattern_parts


def match(pattern: str, files: list[str]) -> list[str]:
    """The data(-looking) files among ``files`` (relative POSIX paths) that ``pattern`` selects, sorted.

    >>> match("**/train/**", ["train/a.jsonl", "x/train/b.csv", ".git/train/c.json", "trainer/d.csv"])
    ['train/a.jsonl', 'x/train/b.csv']
    """
    regex = _glob_regex(pattern)
    return sorted(f for f in files if regex.fullmatch(f) and looks_like_data(f) and not _skipped(f, pattern))


def _match_any(patterns: list[str], files: list[str]) -> list[str]:
    return sorted({f for pattern in patterns for f in match(pattern, files)})


def _check_split_name(split: str, where: str) -> None:
    if not SPLIT_NAME.match(split):
        raise LayoutError(f"split name {split!r} in {where} must match {SPLIT_NAME.pattern}")


def infer_splits(files: list[str], where: str = "the dataset") -> dict[str, list[str]]:
    """Split -> relative data files, by the HF default patterns (``_get_data_files_patterns``).

    >>> infer_splits(["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"])
    {'train': ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']}
    >>> infer_splits(["test/a.jsonl", "my_valid_dir/b.jsonl", "train_notes.csv"])
    {'validation': ['my_valid_dir/b.jsonl'], 'test': ['test/a.jsonl']}
    """
    sharded = match(SHARDED_SPLIT_PATTERN.replace("{split}", "*"), files)
    if sharded:
        found = {f: SHARD_NAME.match(posixpath.basename(f)) for f in sharded}
        unnamed = [f for f, m in found.items() if m is None]
        if unnamed:
            raise LayoutError(f"shard file {unnamed[0]} in {where} has no split name before -NNNNN-of-NNNNN")
        names = {m["split"] for m in found.values()}
        for name in sorted(names):
            _check_split_name(name, where)
        ordered = [s for s in DEFAULT_SPLITS if s in names] + sorted(names - set(DEFAULT_SPLITS))
        return {s: match(SHARDED_SPLIT_PATTERN.format(split=s), files) for s in ordered}
    for patterns_per_split in (DEFAULT_PATTERNS_SPLIT_IN_DIR_NAME, DEFAULT_PATTERNS_SPLIT_IN_FILENAME):
        found = {split: _match_any(patterns, files) for split, patterns in patterns_per_split.items()}
        found = {split: matched for split, matched in found.items() if matched}
        if found:
            return found
    everything = _match_any(DEFAULT_PATTERNS_ALL["train"], files)
    if everything:
        return {"train": everything}
    raise EmptyDatasetError(
        f"{where} contains no data files (looked for {', '.join(DATA_EXTENSIONS)}, maybe compressed)"
    )


# ---------------------------------------------------------------------------------------------


def _normalize(rel: str) -> str:
    rel = rel.replace("\\", "/") if os.sep == "\\" else rel
    while rel.startswith("./"):
        rel = rel[2:]
    return rel


def _is_absolute(pattern: str) -> bool:
    return "://" in pattern or pattern.startswith("/")


def _examples(root: str, files: list[str], limit: int = 3) -> str:
    prefix = root.rstrip("/") + "/"
    names = [f[len(prefix) :] if root and f.startswith(prefix) else f for f in sorted(files)[:limit]]
    more = f", ... ({len(files)} files)" if len(files) > limit else ""
    return ", ".join(names) + more


def one_format(where: str, root: str, files: list[str], format: str | None) -> tuple[list[str], str | None]:
    """The files a config reads and, if it cannot be read, why.

    Files of one format are all read (``format`` then just names the reader). Files of several
    formats, or data-looking files with no reader, are a problem unless ``format`` is given:
    then only that format's files are kept. Files of no data kind (named explicitly) are kept.

    >>> one_format("/d", "/d", ["/d/a.jsonl", "/d/b.csv"], "csv")
    (['/d/b.csv'], None)
    >>> print(one_format("/d", "/d", ["/d/a.jsonl", "/d/b.csv"], None)[1])  # doctest: +ELLIPSIS
    /d has data files of 2 formats: jsonl: a.jsonl; csv: b.csv. One config reads one format: ...
    """
    kinds: dict[str, list[str]] = {}
    for f in files:
        kind = data_kind(f)
        if kind is not None:
            kinds.setdefault(kind, []).append(f)
    if len(kinds) <= 1:
        kind = next(iter(kinds), None)
        if kind is not None and kind.startswith(".") and format is None:
            return files, (
                f"{where}: no reader for {kind} files ({_examples(root, kinds[kind])}); readable data "
                f"files end in {', '.join(DATA_EXTENSIONS)} (maybe .gz/.zst); pass format= (--format) "
                "if they are one of those formats under another name"
            )
        return files, None
    found = "; ".join(
        f"{kind + ' files (no reader)' if kind.startswith('.') else kind}: {_examples(root, group)}"
        for kind, group in kinds.items()
    )
    if format is None:
        readable = sorted((k for k in kinds if not k.startswith(".")), key=lambda k: -len(kinds[k]))
        pick = f", e.g. format={readable[0]!r} (--format {readable[0]})" if readable else ""
        return files, (
            f"{where} has data files of {len(kinds)} formats: {found}. One config reads one format: "
            f"pass format= to read only the files of that format{pick}, or give each format its own "
            "config in README.md"
        )
    if format not in kinds:
        return files, f"{where} has no {format} files; it has {found}"
    return [f for f in files if data_kind(f) in (format, None)], None


def _config_from_yaml(root: str, files: list[str], item: dict, format: str | None = None) -> ConfigLayout:
    name = str(item["config_name"])
    data_dir = item.get("data_dir")
    base = posixpath.normpath(_normalize(data_dir)).strip("/") if data_dir else ""
    base = "" if base == "." else base
    in_dir = f" (data_dir {data_dir!r})" if base else ""
    options = {k: v for k, v in item.items() if k not in ("config_name", "data_files", "data_dir", "default")}

    def full(rels: list[str]) -> list[str]:
        return [fs.join(root, rel) if root else rel for rel in rels]

    if "data_files" not in item:
        prefix = base + "/" if base else ""
        inside = [f[len(prefix) :] for f in files if f.startswith(prefix)]
        where = f"config {name!r} of {root}{in_dir}"
        splits, problem = _inferred(root, prefix, inside, where, format)
        full_splits = {s: full([prefix + f for f in rels]) for s, rels in splits.items()}
        return ConfigLayout(name, full_splits, options=options, problem=problem)

    root_prefix = root.rstrip("/") + "/"
    splits: dict[str, list[str]] = {}
    for split, patterns in split_patterns(item["data_files"]).items():
        _check_split_name(split, f"config {name!r} of {root}")
        found: set[str] = set()
        for pattern in patterns:
            pattern = _normalize(pattern)
            if _is_absolute(pattern):
                if root and pattern.startswith(root_prefix):
                    pattern = pattern[len(root_prefix) :]
                elif not _MAGIC.search(pattern):
                    found.add(pattern)  # a file or URL elsewhere, as HF allows; readers check it
                    continue
                else:
                    raise LayoutError(
                        f"config {name!r}, split {split!r}: glob pattern {pattern!r} is outside {root}"
                    )
            joined = posixpath.normpath(posixpath.join(base, pattern)) if base else pattern
            matched = match(joined, files)
            if not matched:
                raise LayoutError(
                    f"config {name!r}, split {split!r}: pattern {pattern!r}{in_dir} matches no data files "
                    f"in {root} (data files end in {', '.join(DATA_EXTENSIONS)}, maybe compressed)"
                )
            found.update(fs.join(root, rel) if root else rel for rel in matched)
        splits[split] = sorted(found)
    everything = sorted({f for split_files in splits.values() for f in split_files})
    kept, problem = one_format(f"config {name!r} of {root}", root, everything, format)
    if not problem and len(kept) < len(everything):
        keep = set(kept)
        splits = {s: [f for f in split_files if f in keep] for s, split_files in splits.items()}
        splits = {s: split_files for s, split_files in splits.items() if split_files}
    return ConfigLayout(name, splits, options=options, problem=problem)


def _inferred(
    root: str, prefix: str, files: list[str], where: str, format: str | None
) -> tuple[dict[str, list[str]], str | None]:
    """Splits inferred from ``files`` (relative to ``root/prefix``), of one format, and any problem."""
    candidates = match("**", files)
    shown = [fs.join(root, prefix + f) if root else prefix + f for f in candidates]
    kept, problem = one_format(where, root, shown, format)
    if not problem and len(kept) < len(shown):
        keep_full = set(kept)
        keep = {f for f, full in zip(candidates, shown, strict=True) if full in keep_full}
        files = [f for f in files if f in keep or not looks_like_data(f)]
    return infer_splits(files, where=where), problem


def _with_default(configs: list[ConfigLayout], items: list[dict], root: str) -> dict[str, ConfigLayout]:
    """Mark the default config like HF ``get_default_config_name`` (several marked: an error)."""
    marked = [
        c.name
        for c, item in zip(configs, items, strict=True)
        if c.name == DEFAULT_CONFIG or item.get("default")
    ]
    if len(marked) > 1:
        raise LayoutError(f"README.md of {root} marks several default configs: {', '.join(marked)}")
    if not marked and len(configs) == 1:
        marked = [configs[0].name]
    return {c.name: dataclasses.replace(c, default=c.name in marked) for c in configs}


def infer_layout(root: str, files: list[str], readme_text: str | None, format: str | None = None) -> Layout:
    """The layout of the dataset at ``root``, from its file list (relative POSIX paths) and README.

    ``format`` (``format=`` of ``load``) picks that format's files in a config that mixes
    formats (see :func:`one_format`). Nothing here touches storage: the caller lists the files
    (a local walk, a Hub API listing).
    """
    files = [_normalize(f) for f in files]
    try:
        items = configs_block(yaml_header(readme_text))
    except ReadmeError as exc:
        raise LayoutError(f"README.md of {root}: {exc}") from exc
    if not items:
        splits, problem = _inferred(root, "", files, root or "the file list", format)
        full = {s: [fs.join(root, rel) if root else rel for rel in rels] for s, rels in splits.items()}
        config = ConfigLayout(DEFAULT_CONFIG, full, default=True, problem=problem)
        return Layout(root, {DEFAULT_CONFIG: config})
    configs = [_config_from_yaml(root, files, item, format) for item in items]
    return Layout(root, _with_default(configs, items, root))


def _relative(root: str, path: str) -> str:
    if fs.is_remote(root):
        prefix = root.rstrip("/") + "/"
        if not path.startswith(prefix):
            raise LayoutError(f"listing {root} returned {path}, which is not inside it")
        return path[len(prefix) :]
    return os.path.relpath(path, root).replace(os.sep, "/")


def _read_readme(root: str) -> str:
    with fs.open_input(fs.join(root, README)) as f:
        return f.read().decode("utf-8", errors="replace")


def _single_file(path: str, format: str | None = None) -> Layout:
    _, problem = one_format(path, "", [path], format)
    config = ConfigLayout(DEFAULT_CONFIG, {"train": [path]}, default=True, problem=problem)
    return Layout(path, {DEFAULT_CONFIG: config})


def _holdings(folder: str, limit: int = 8) -> str:
    """``folder holds: a.jsonl, b/, ...`` (visible entries), for messages about a missing path."""
    try:
        entries = sorted(e for e in os.listdir(folder) if not e.startswith("."))
    except OSError:
        return ""
    if not entries:
        return f"{folder} is empty"
    shown = [e + ("/" if os.path.isdir(os.path.join(folder, e)) else "") for e in entries[:limit]]
    more = f", ... ({len(entries)} entries)" if len(entries) > limit else ""
    return f"{folder} holds: {', '.join(shown)}{more}"


def describe_missing(path: str, also: str = "") -> str:
    """The message for a local ``path`` that does not exist: ``also`` is added (the Hub's side), then
    what the nearest existing folder above it holds.

    >>> describe_missing("/nonexistent-root/x", also=", and no Y").split(";")[0]
    "no file or folder '/nonexistent-root/x', and no Y"
    """
    here = "" if os.path.isabs(os.path.expanduser(path)) else f" here ({os.getcwd()})"
    message = f"no file or folder {path!r}{here}{also}"
    parent = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    while parent != os.path.dirname(parent) and not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    holds = _holdings(parent) if parent != os.path.dirname(parent) else ""
    return f"{message}; {holds}" if holds else message


def _missing_remote(path: str) -> str:
    if path.startswith("gs://"):
        from crucible_datasets.storage import gcs

        return gcs.missing_message(path, folder_too=True)
    return f"{path}: no such file or folder"


def _resolve_glob(pattern: str, format: str | None = None) -> Layout:
    parts = pattern.split("/")
    first_magic = next(i for i, part in enumerate(parts) if _MAGIC.search(part))
    base = "/".join(parts[:first_magic]) or "/"
    matched = fs.glob(pattern)
    if not matched:
        if fs.is_remote(pattern):
            raise DatasetNotFoundError(f"no files match {pattern}")
        if not os.path.isdir(base):
            raise DatasetNotFoundError(f"no files match {pattern}: {describe_missing(base)}")
        holds = _holdings(base)
        raise DatasetNotFoundError(f"no files match {pattern}" + (f"; {holds}" if holds else ""))
    rels = [_relative(base, p) for p in matched]
    try:
        return infer_layout(base, rels, None, format)
    except EmptyDatasetError as exc:
        raise EmptyDatasetError(f"{pattern} matches no data files: {exc}") from exc


def resolve(path: str, format: str | None = None) -> Layout:
    """The layout of a data file, a glob pattern, or a dataset folder (local or remote).

    A single file is config ``default``, split ``train``. A pattern (``*``, ``?``, ``[``) takes
    the matched files and infers splits from their paths below the pattern's fixed folder. A
    folder is listed, and its README.md ``configs:`` block, if any, is honoured. A path that
    does not exist is a :class:`DatasetNotFoundError` saying what is there instead. ``format``:
    see :func:`infer_layout`.
    """
    given = path
    if not fs.is_remote(path):
        path = os.path.abspath(os.path.expanduser(path))
    if _MAGIC.search(path) and not fs.exists(path):  # "run[1]/x.jsonl" may be a real name
        return _resolve_glob(path, format)
    if fs.is_remote(path):
        if fs.exists(path):
            return _single_file(path, format)
        listed = fs.list_files(path)
        if not listed:
            raise DatasetNotFoundError(_missing_remote(path))
    else:
        if not fs.exists(path):
            raise DatasetNotFoundError(describe_missing(given))
        if not fs.is_dir(path):
            return _single_file(path, format)
        listed = fs.list_files(path)
    rels = [_relative(path, p) for p in listed]
    readme = _read_readme(path) if README in rels else None
    return infer_layout(path, rels, readme, format)
