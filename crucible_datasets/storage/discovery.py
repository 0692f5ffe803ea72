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

Data files end in .jsonl, .ndjson, .json, .csv, .tsv, .parquet, .txt or .arrow (maybe plus
.gz/.zst/.zstd/.bz2/.xz). Files that look like data but have no reader here (``.feather``,
``.avro``, ``.orc``, or a data extension plus ``.lz4``/``.zip``) are listed too, so that reading
them fails with a message instead of skipping them. ``.txt`` files are text data only in a
config without data of another format, and never when named like documentation
(``LICENSE.txt``, ``notes.txt``: ``formats.NOT_DATA_NAMES``). One config reads one format: a config whose
files are of several formats is an error when read, unless ``format=`` picks one (then split
inference and patterns see only that format's files) or ``data_files=`` picks the files.
Hidden files and folders, ``__special__`` folders and ``_errors/`` (dead letters) are skipped
unless a pattern names them; so are README.md, manifest.json and the HF metadata files.

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
from collections.abc import Callable, Mapping
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


class DataFilesNotFoundError(LayoutError, FileNotFoundError):
    """A ``data_files`` pattern that matches no data file (the name ``datasets`` uses)."""


@dataclass(frozen=True)
class Selection:
    """What ``load(data_files=, data_dir=)`` picks in place of the README configs or inference.

    ``data_files``: a pattern, a list (split ``train``) or a mapping split -> pattern(s),
    relative to the dataset's root (``data_dir`` below it) or absolute; ``data_dir`` alone:
    splits inferred from the files below it. The result is one config, named ``config`` (or
    ``default``) with that README config's reader options, as ``datasets`` overrides a
    config's ``data_files``.
    """

    data_files: str | list | tuple | Mapping | None = None
    data_dir: str | None = None
    config: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_files", _checked_data_files(self.data_files))
        if self.data_dir is not None and (not isinstance(self.data_dir, str) or not self.data_dir):
            raise ValueError(f"data_dir must be a non-empty string (a folder), got {self.data_dir!r}")

    @property
    def empty(self) -> bool:
        return self.data_files is None and self.data_dir is None


def _checked_data_files(data_files: object) -> str | list | dict | None:
    """``data_files`` as ``datasets`` accepts it (str, list/tuple, mapping split -> str/list)."""

    def patterns(value: object) -> str | list[str]:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list | tuple) and value and all(isinstance(v, str) and v for v in value):
            return list(value)
        raise ValueError(
            "data_files must be a pattern, a list of patterns, or a mapping split -> pattern(s) "
            f"(e.g. {{'train': 'train/*.jsonl', 'test': ['t1.jsonl', 't2.jsonl']}}); got {data_files!r}"
        )

    if data_files is None:
        return None
    if isinstance(data_files, Mapping):
        if not data_files:
            patterns(None)
        return {str(k): patterns(v) for k, v in data_files.items()}
    return patterns(data_files)


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
    if "text" in kinds and len(kinds) > 1 and format != "text":  # .txt beside other data: notes
        notes = set(kinds.pop("text"))
        files = [f for f in files if f not in notes]
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
        ext = next((e for e, k in EXTENSIONS.items() if readable and k == readable[0]), None)
        glob = f", e.g. data_files='**/*{ext}'" if ext else ""
        return files, (
            f"{where} has data files of {len(kinds)} formats: {found}. One config reads one format: "
            f"pass format= to read only the files of that format{pick}, or data_files= to pick the files"
            f"{glob}, or give each format its own config in README.md"
        )
    if format not in kinds:
        return files, f"{where} has no {format} files; it has {found}"
    return [f for f in files if data_kind(f) in (format, None)], None


def _base_dir(data_dir: str | None) -> str:
    """``data_dir`` as a relative POSIX folder ("" for the root)."""
    base = posixpath.normpath(_normalize(data_dir)).strip("/") if data_dir else ""
    return "" if base == "." else base


def resolve_data_files(
    root: str,
    files: list[str],
    data_files: str | list | dict,
    base: str = "",
    where: str = "",
    outside: Callable[[str], list[str]] | None = None,
    keep_order: bool = False,
) -> dict[str, list[str]]:
    """Split -> data files (full paths or URLs) that ``data_files`` selects: the one place
    patterns are resolved, for README ``configs:`` and for ``load(data_files=)`` alike.

    ``data_files`` is a pattern, a list of them (split ``train``) or a mapping split ->
    pattern(s), as ``datasets``' ``sanitize_patterns`` reads it. Patterns are globs relative to
    ``root``/``base`` matched against ``files`` (relative POSIX paths), or absolute paths/URLs:
    one inside ``root`` is matched like a relative one; a file elsewhere is kept as given (its
    reader checks it); a glob elsewhere is expanded with ``outside`` (e.g. ``filesystem.glob``;
    None: an error). A pattern matching nothing is a :class:`DataFilesNotFoundError` naming
    it and what exists. ``keep_order``: files in pattern order (as ``datasets`` lists them),
    else sorted.

    >>> resolve_data_files("/d", ["a/x.jsonl", "a/y.jsonl", "b.csv"], {"test": ["b.csv", "a/*.jsonl"]})
    {'test': ['/d/a/x.jsonl', '/d/a/y.jsonl', '/d/b.csv']}
    """
    root_prefix = root.rstrip("/") + "/"
    in_dir = f" (data_dir {base!r})" if base else ""
    splits: dict[str, list[str]] = {}
    for split, patterns in split_patterns(data_files).items():
        _check_split_name(split, where or str(root))
        found: dict[str, None] = {}
        for given in patterns:
            pattern = _normalize(given)
            if not _is_absolute(pattern):
                joined = posixpath.normpath(posixpath.join(base, pattern)) if base else pattern
                if joined.startswith("../") and root and not fs.is_remote(root):
                    pattern = os.path.normpath(os.path.join(root, joined))  # outside the folder
                else:
                    pattern = joined
            elif root and pattern.startswith(root_prefix):
                pattern = pattern[len(root_prefix) :]
            if _is_absolute(pattern):
                if not _MAGIC.search(pattern):
                    found[pattern] = None  # a file or URL elsewhere, as HF allows; readers check it
                    continue
                if outside is None:
                    raise LayoutError(f"{where}, split {split!r}: glob pattern {given!r} is outside {root}")
                matched = sorted(p for p in outside(pattern) if looks_like_data(p))
                if not matched:
                    raise DataFilesNotFoundError(f"{where}, split {split!r}: no file matches {given!r}")
                found.update(dict.fromkeys(matched))
                continue
            matched = match(pattern, files)
            if not matched:
                raise DataFilesNotFoundError(
                    f"{where}, split {split!r}: pattern {given!r}{in_dir} matches no data files in {root} "
                    f"(data files end in {', '.join(DATA_EXTENSIONS)}, maybe compressed); "
                    + _what_exists(root, files)
                )
            found.update(dict.fromkeys(fs.join(root, rel) if root else rel for rel in matched))
        splits[split] = list(found) if keep_order else sorted(found)
    return splits


def _what_exists(root: str, files: list[str]) -> str:
    data = match("**", files)
    if data:
        return f"its data files: {_examples(root, [fs.join(root, f) if root else f for f in data], 6)}"
    return f"{root or 'it'} has no data files"


def _keep_one_format(
    splits: dict[str, list[str]], where: str, root: str, format: str | None
) -> tuple[dict[str, list[str]], str | None]:
    everything = sorted({f for split_files in splits.values() for f in split_files})
    kept, problem = one_format(where, root, everything, format)
    if not problem and len(kept) < len(everything):
        keep = set(kept)
        splits = {s: [f for f in split_files if f in keep] for s, split_files in splits.items()}
        splits = {s: split_files for s, split_files in splits.items() if split_files}
    return splits, problem


_DRIVE = re.compile(r"^[A-Za-z]:")


def check_metadata_path(path: str, root: str, where: str) -> str:
    """``path`` as given, if a path from repository metadata (a README's ``data_files`` or
    ``data_dir``) stays inside the dataset ``root``; else a :class:`LayoutError` naming ``where``.

    Refused: absolute paths, drive letters, ``~``, URLs of any scheme (``file://``, ``gs://``,
    ``https://``, ``hf://`` of another repo or revision) and ``..`` segments. The root's own
    full path or URL as a prefix is fine. So a dataset's card can never make a read leave it
    (``load(data_files=...)``, the user's own choice, may name any file).

    >>> check_metadata_path("data/*.jsonl", "/d", "README.md of /d")
    'data/*.jsonl'
    >>> try:
    ...     check_metadata_path("/etc/passwd", "/d", "README.md of /d, config 'x'")
    ... except LayoutError as exc:
    ...     print(exc)  # doctest: +ELLIPSIS
    README.md of /d, config 'x': path '/etc/passwd' leaves the dataset (an absolute path or URL); ...
    """
    normal = _normalize(path)
    prefix = root.rstrip("/") + "/"
    inside = normal[len(prefix) :] if root and normal.startswith(prefix) else normal
    why = None
    if "://" in inside or inside.startswith(("/", "\\", "~")) or _DRIVE.match(inside) or "\x00" in inside:
        why = "an absolute path or URL"
    elif ".." in re.split(r"[/\\]", inside):
        why = "a '..' segment"
    if why is not None:
        raise LayoutError(
            f"{where}: path {path!r} leaves the dataset ({why}); name files inside {root} with relative "
            "paths or patterns, without '..'"
        )
    return path


def _config_from_yaml(root: str, files: list[str], item: dict, format: str | None = None) -> ConfigLayout:
    name = str(item["config_name"])
    data_dir = item.get("data_dir")
    if data_dir:
        check_metadata_path(data_dir, root, f"README.md of {root}, config {name!r}, data_dir")
    base = _base_dir(data_dir)
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

    for split, patterns in split_patterns(item["data_files"]).items():
        for pattern in patterns:
            check_metadata_path(pattern, root, f"README.md of {root}, config {name!r}, split {split!r}")
    splits = resolve_data_files(root, files, item["data_files"], base, f"config {name!r} of {root}")
    splits, problem = _keep_one_format(splits, f"config {name!r} of {root}", root, format)
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


def infer_layout(
    root: str,
    files: list[str],
    readme_text: str | None,
    format: str | None = None,
    selection: Selection | None = None,
) -> Layout:
    """The layout of the dataset at ``root``, from its file list (relative POSIX paths) and README.

    ``format`` (``format=`` of ``load``) picks that format's files in a config that mixes
    formats (see :func:`one_format`). ``selection`` (``data_files=``/``data_dir=`` of ``load``)
    replaces the README configs and split inference (see :class:`Selection`). Nothing here
    touches storage: the caller lists the files (a local walk, a Hub API listing), except that
    an absolute ``data_files`` glob outside ``root`` is expanded with ``filesystem.glob``.
    """
    files = [_normalize(f) for f in files]
    try:
        items = configs_block(yaml_header(readme_text))
    except ReadmeError as exc:
        raise LayoutError(f"README.md of {root}: {exc}") from exc
    if selection is not None and not selection.empty:
        return _selected(root, files, items, format, selection)
    if not items:
        splits, problem = _inferred(root, "", files, root or "the file list", format)
        full = {s: [fs.join(root, rel) if root else rel for rel in rels] for s, rels in splits.items()}
        config = ConfigLayout(DEFAULT_CONFIG, full, default=True, problem=problem)
        return Layout(root, {DEFAULT_CONFIG: config})
    configs = [_config_from_yaml(root, files, item, format) for item in items]
    return Layout(root, _with_default(configs, items, root))


_NOT_OPTIONS = ("config_name", "data_files", "data_dir", "default")


def _selected(root: str, files: list[str], items: list[dict], format: str | None, sel: Selection) -> Layout:
    """The one config that ``data_files=``/``data_dir=`` make (``datasets``' override of a config)."""
    name, options = sel.config or DEFAULT_CONFIG, {}
    if items:
        named = {str(item["config_name"]): item for item in items}
        if sel.config is not None and sel.config not in named:
            available = ", ".join(named)
            raise LayoutError(f"config {sel.config!r} not found in {root}; available configs: {available}")
        item = named.get(name)
        if item is not None:
            options = {k: v for k, v in item.items() if k not in _NOT_OPTIONS}
    elif sel.config not in (None, DEFAULT_CONFIG):
        raise LayoutError(f"config {sel.config!r} not found in {root}; available configs: default")
    base = _base_dir(sel.data_dir)
    where = f"data_files of {root}" if sel.data_files is not None else f"data_dir {sel.data_dir!r} of {root}"
    if sel.data_files is not None:
        given = sel.data_files
        splits = resolve_data_files(root, files, given, base, where, outside=fs.glob, keep_order=True)
        splits, problem = _keep_one_format(splits, where, root, format)
    else:
        prefix = base + "/" if base else ""
        inside = [f[len(prefix) :] for f in files if f.startswith(prefix)]
        if not match("**", inside):
            raise DataFilesNotFoundError(f"{where}: no data files below it; " + _what_exists(root, files))
        rel_splits, problem = _inferred(root, prefix, inside, where, format)
        full = {s: [prefix + f for f in rels] for s, rels in rel_splits.items()}
        splits = {s: [fs.join(root, f) if root else f for f in rels] for s, rels in full.items()}
    config = ConfigLayout(name, splits, default=True, options=options, problem=problem)
    return Layout(root, {name: config})


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


def _no_selection(path: str, selection: Selection | None) -> None:
    if selection is not None and not selection.empty:
        raise LayoutError(
            f"data_files=/data_dir= select files inside a folder or Hub repo; {path} is a file or a pattern "
            "(pass the folder as path, or the pattern as data_files=)"
        )


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


def resolve(path: str, format: str | None = None, selection: Selection | None = None) -> Layout:
    """The layout of a data file, a glob pattern, or a dataset folder (local or remote).

    A single file is config ``default``, split ``train``. A pattern (``*``, ``?``, ``[``) takes
    the matched files and infers splits from their paths below the pattern's fixed folder. A
    folder is listed, and its README.md ``configs:`` block, if any, is honoured. A path that
    does not exist is a :class:`DatasetNotFoundError` saying what is there instead. A folder whose
    card and files disagree is listed again once: a writer publishing in between is not an error. ``format``:
    see :func:`infer_layout`; ``selection``: ``data_files=``/``data_dir=`` in a folder (:class:`Selection`).
    """
    given = path
    if not fs.is_remote(path):
        path = os.path.abspath(os.path.expanduser(path))
    if _MAGIC.search(path) and not fs.exists(path):  # "run[1]/x.jsonl" may be a real name
        _no_selection(given, selection)
        return _resolve_glob(path, format)
    if fs.is_remote(path):
        if fs.exists(path):
            _no_selection(given, selection)
            return _single_file(path, format)
        listed = fs.list_files(path)
        if not listed:
            raise DatasetNotFoundError(_missing_remote(path))
    else:
        if not fs.exists(path):
            raise DatasetNotFoundError(describe_missing(given))
        if not fs.is_dir(path):
            _no_selection(given, selection)
            return _single_file(path, format)
        listed = fs.list_files(path)
    try:
        return _folder_layout(path, listed, format, selection)
    except (LayoutError, EmptyDatasetError):
        # A publish may have switched the card between the listing and the card's read (its
        # data_files then name shards the listing lacks): if the folder changed, resolve once more.
        again = fs.list_files(path)
        if again == listed:
            raise
        return _folder_layout(path, again, format, selection)


def _folder_layout(path: str, listed: list[str], format: str | None, selection: Selection | None) -> Layout:
    rels = [_relative(path, p) for p in listed]
    readme = _read_readme(path) if README in rels else None
    return infer_layout(path, rels, readme, format, selection)


def resolve_patterns(root: str, selection: Selection, format: str | None = None) -> Layout:
    """The layout of ``selection`` under ``root`` without listing all of ``root``: only the files
    its ``data_files`` patterns match (or below its ``data_dir``) are listed. What
    ``load("json", data_files=...)`` uses, where ``root`` is the working directory.
    """
    if selection.data_files is None:
        if selection.data_dir is None:
            raise LayoutError("a format name as path needs data_files= or data_dir=")
        folder = os.path.abspath(os.path.join(root, os.path.expanduser(selection.data_dir)))
        return resolve(folder, format)
    if selection.data_dir is not None:  # as datasets: the patterns are relative to data_dir
        root = os.path.abspath(os.path.join(root, os.path.expanduser(selection.data_dir)))
        selection = dataclasses.replace(selection, data_dir=None)
    base = root
    found: set[str] = set()
    for patterns in split_patterns(selection.data_files).values():
        for pattern in patterns:
            pattern = os.path.expanduser(_normalize(pattern))
            if "://" in pattern:
                continue  # a URL: resolve_data_files keeps or expands it
            found.update(fs.glob(os.path.join(base, pattern)))  # an absolute pattern stays itself
    rels = {os.path.relpath(p, root).replace(os.sep, "/") for p in found}
    rels = sorted(r for r in rels if not r.startswith("../"))  # outside root: resolve_data_files
    return infer_layout(root, rels, None, format, selection)
