"""The YAML header of a dataset card (README.md) and its ``configs:`` block, Hub style.

The one reader of card front matter, for discovery (:func:`yaml_header`, strict) and for the
card writer (:func:`split_front_matter`, lenient: it keeps the body and replaces a bad header).
The header is the YAML between a leading ``---`` line and the next ``---`` line, found with the
same regular expression as ``huggingface_hub.repocard`` (an empty header, ``---`` right after
``---``, counts too). Duplicate keys are an error, as in ``datasets.utils.metadata``.

>>> text = "---\\nconfigs:\\n- config_name: main\\n  data_files: main/*.parquet\\n---\\n# Card\\n"
>>> configs_block(yaml_header(text))
[{'config_name': 'main', 'data_files': 'main/*.parquet'}]
>>> split_front_matter(text)[1]
'# Card\\n'
"""

from __future__ import annotations

import re
from collections import Counter

import yaml

# huggingface_hub/repocard.py: REGEX_YAML_BLOCK, plus an empty header (the YAML group is optional).
_YAML_BLOCK = re.compile(r"^(\s*---[\r\n]+)(?:([\S\s]*?)[\r\n]+)?(---(\r\n|\n|$))")

DATA_FILES_EXAMPLES = """\
data_files: data.csv
data_files: [part0/*, part1/*]
data_files:
  - split: train
    path: train/*
  - split: test
    path: [test/part0/*, test/part1/*]
data_files:
  train: train/*
  test: test/*"""


class ReadmeError(ValueError):
    """The README YAML header is malformed; the caller adds which dataset it belongs to."""


class _NoDuplicateSafeLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep=deep)
        keys = [self.constructed_objects[key_node] for key_node, _ in node.value]
        keys = [tuple(key) if isinstance(key, list) else key for key in keys]
        duplicates = [key for key, n in Counter(keys).items() if n > 1]
        if duplicates:
            raise ReadmeError(f"duplicate YAML keys: {duplicates}")
        return mapping


def _header(readme_text: str) -> tuple[str | None, str]:
    """``(yaml_text, body)``; ``yaml_text`` is None when the card has no header."""
    text = readme_text.lstrip("\ufeff")
    match = _YAML_BLOCK.search(text)
    if match is None:
        return None, readme_text
    return match.group(2) or "", text[match.end() :]


def _parse(yaml_text: str) -> dict:
    try:
        data = yaml.load(yaml_text, Loader=_NoDuplicateSafeLoader)
    except yaml.YAMLError as exc:
        raise ReadmeError(f"the YAML header of README.md is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ReadmeError(f"the YAML header of README.md must be a mapping, got {type(data).__name__}")
    return data


def yaml_header(readme_text: str | None) -> dict:
    """The parsed YAML header of a README, or ``{}`` when it has none; :class:`ReadmeError` if bad."""
    if not readme_text:
        return {}
    yaml_text, _ = _header(readme_text)
    return {} if yaml_text is None else _parse(yaml_text)


def split_front_matter(text: str) -> tuple[dict | None, str]:
    """``(yaml_dict, body)`` of a card; ``None`` when it has no (valid) front matter.

    A header that is not a valid mapping gives ``None`` and the body after it.

    >>> split_front_matter("---\\na: 1\\n---\\nbody\\n"), split_front_matter("no header")
    (({'a': 1}, 'body\\n'), (None, 'no header'))
    >>> split_front_matter("---\\nkey: [unclosed\\n---\\nBody\\n")
    (None, 'Body\\n')
    """
    yaml_text, body = _header(text)
    if yaml_text is None:
        return None, text
    try:
        return _parse(yaml_text), body
    except ReadmeError:
        return None, body


def configs_block(header: dict) -> list[dict]:
    """The validated ``configs:`` items of a parsed header (``[]`` when there is none)."""
    configs = header.get("configs")
    if not configs:
        return []
    if not isinstance(configs, list):
        raise ReadmeError(f"'configs' in the README.md YAML header must be a list, got {configs!r}")
    names: list[str] = []
    for item in configs:
        if not isinstance(item, dict) or not isinstance(item.get("config_name"), str | int | float):
            raise ReadmeError(f"each item of 'configs' needs a 'config_name', got {item!r}")
        name = str(item["config_name"])
        if name in names:
            raise ReadmeError(f"config {name!r} appears twice in 'configs'")
        names.append(name)
        if "data_files" in item:
            _check_data_files(name, item["data_files"])
        if "data_dir" in item and not isinstance(item["data_dir"], str):
            raise ReadmeError(f"config {name!r}: 'data_dir' must be a string, got {item['data_dir']!r}")
    return configs


def _check_data_files(name: str, data_files: object) -> None:
    def bad() -> ReadmeError:
        return ReadmeError(
            f"config {name!r}: 'data_files' must be a pattern, a list of patterns, a list of "
            f"{{split, path}} items or a mapping split -> pattern(s); got {data_files!r}. "
            f"Examples:\n{DATA_FILES_EXAMPLES}"
        )

    def patterns_ok(value: object) -> bool:
        if isinstance(value, str):
            return bool(value)
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)

    if isinstance(data_files, str):
        if not data_files:
            raise bad()
    elif isinstance(data_files, dict):
        if not data_files or not all(patterns_ok(v) for v in data_files.values()):
            raise bad()
    elif isinstance(data_files, list):
        if not data_files:
            raise bad()
        if any(isinstance(item, dict) for item in data_files):
            for item in data_files:
                if not (
                    isinstance(item, dict)
                    and set(item) == {"split", "path"}
                    and isinstance(item["split"], str | int | float)
                    and patterns_ok(item["path"])
                ):
                    raise bad()
            splits = [str(item["split"]) for item in data_files]
            if len(set(splits)) != len(splits):
                raise ReadmeError(f"config {name!r}: some splits are listed twice in 'data_files': {splits}")
        elif not patterns_ok(data_files):
            raise bad()
    else:
        raise bad()


def split_patterns(data_files: str | list | dict) -> dict[str, list[str]]:
    """``data_files`` (already checked) as split -> patterns, the HF ``sanitize_patterns`` rules.

    >>> split_patterns("a/*.csv"), split_patterns({"test": "t.csv"})
    ({'train': ['a/*.csv']}, {'test': ['t.csv']})
    """
    if isinstance(data_files, str):
        return {"train": [data_files]}
    if isinstance(data_files, dict):
        return {str(k): v if isinstance(v, list) else [v] for k, v in data_files.items()}
    if any(isinstance(item, dict) for item in data_files):
        return {
            str(item["split"]): item["path"] if isinstance(item["path"], list) else [item["path"]]
            for item in data_files
        }
    return {"train": list(data_files)}
