"""The file formats: a registry by name and a lookup by file extension.

>>> format_for_path("data/train-00000.jsonl.zst").name
'jsonl'
>>> get_format("parquet").name
'parquet'
"""

from __future__ import annotations

import os

from crucible_datasets.formats.base import FilePart, Format, ReadOptions, strip_compression
from crucible_datasets.formats.csv import CsvFormat
from crucible_datasets.formats.json import JsonFormat
from crucible_datasets.formats.jsonl import JsonlFormat
from crucible_datasets.formats.parquet import ParquetFormat

__all__ = [
    "FORMATS",
    "CsvFormat",
    "FilePart",
    "Format",
    "JsonFormat",
    "JsonlFormat",
    "ParquetFormat",
    "ReadOptions",
    "format_for_path",
    "get_format",
]

FORMATS: dict[str, Format] = {
    fmt.name: fmt for fmt in (JsonlFormat(), ParquetFormat(), CsvFormat(), JsonFormat())
}

# Extension (after stripping .gz/.zst) -> format name. ``.tsv`` is CSV with a tab delimiter:
# CsvFormat picks the tab itself from the file name (see formats/csv.py).
EXTENSIONS: dict[str, str] = {ext: fmt.name for fmt in FORMATS.values() for ext in fmt.extensions}


def get_format(name: str) -> Format:
    """The format called ``name`` (``"jsonl"``, ``"parquet"``, ``"csv"``, ``"json"``)."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown format {name!r}; supported formats: {', '.join(sorted(FORMATS))}"
        ) from None


def format_for_path(path: str) -> Format:
    """The format of ``path`` from its extension, ignoring a ``.gz``/``.zst`` suffix."""
    ext = os.path.splitext(strip_compression(path).rstrip("/"))[1].lower()
    if ext in EXTENSIONS:
        return FORMATS[EXTENSIONS[ext]]
    raise ValueError(
        f"cannot tell the format of {path} from its extension; supported extensions: "
        f"{', '.join(sorted(EXTENSIONS))} (optionally followed by .gz or .zst); "
        "pass the format explicitly otherwise"
    )
