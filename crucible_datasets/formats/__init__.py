"""The format registry: every question about what a data file is gets its answer here.

Each format class declares its ``extensions`` and its ``split_unit`` (see
:mod:`crucible_datasets.formats.base`); the lists below are built from those declarations, so a
new format is one class added to :data:`FORMATS`. Discovery, the Hub listing, the sinks (which
recognise old shards) and Beam's split reader all ask the registry, never a list of their own.

>>> format_for_path("data/train-00000.jsonl.zst").name
'jsonl'
>>> get_format("parquet").name, get_format("parquet").split_unit
('parquet', 'rows')
>>> data_kind("a/train.ndjson.gz"), data_kind("b.arrow"), data_kind("c.csv.lz4"), data_kind("poems.txt.xz")
('jsonl', 'arrow', '.csv.lz4', 'text')
>>> data_kind("LICENSE.txt"), data_kind("docs/notes.txt")
(None, None)
"""

from __future__ import annotations

import os
import posixpath
import re

from crucible_datasets.formats.arrow import ArrowFormat
from crucible_datasets.formats.base import FilePart, Format, ReadOptions
from crucible_datasets.formats.compression import (
    COMPRESSION_SUFFIXES,
    NO_READER_COMPRESSIONS,
    strip_compression,
)
from crucible_datasets.formats.csv import CsvFormat
from crucible_datasets.formats.json import JsonFormat
from crucible_datasets.formats.jsonl import JsonlFormat
from crucible_datasets.formats.parquet import ParquetFormat
from crucible_datasets.formats.text import TextFormat

__all__ = [
    "EXTENSIONS",
    "EXTENSION_PATTERN",
    "FORMATS",
    "NOT_DATA_NAMES",
    "NO_READER_EXTENSIONS",
    "ArrowFormat",
    "CsvFormat",
    "FilePart",
    "Format",
    "JsonFormat",
    "JsonlFormat",
    "ParquetFormat",
    "ReadOptions",
    "TextFormat",
    "data_kind",
    "format_for_path",
    "get_format",
    "is_data_file",
    "looks_like_data",
]

FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (JsonlFormat(), ParquetFormat(), CsvFormat(), JsonFormat(), TextFormat(), ArrowFormat())
}

# Extension (after stripping a compression suffix) -> format name, in the order of FORMATS.
# ``.tsv`` is CSV with a tab delimiter: CsvFormat picks the tab from the file name (formats/csv.py).
EXTENSIONS: dict[str, str] = {ext: fmt.name for fmt in FORMATS.values() for ext in fmt.extensions}
# Data-looking files without a reader: listed like data files so that reading them is an error
# naming them, not a silent skip.
NO_READER_EXTENSIONS = (".feather", ".avro", ".orc")
# Text files that are a dataset's documentation, not its data (``LICENSE.txt``, ``notes.txt``):
# their name less extensions, lowercased. Discovery also sets ``.txt`` files aside in a config
# that has data files of another format (see storage/discovery.py), as ``datasets`` does when
# they are outnumbered.
NOT_DATA_NAMES = frozenset(
    {
        "authors", "changelog", "changes", "citation", "code_of_conduct", "contributing", "contributors",
        "copying", "copyright", "history", "licence", "license", "notes", "notice", "readme",
        "requirements", "security",
    }
)  # fmt: skip
# Regular expression text for the extension of any data(-looking) file, without its leading dot:
# ``parquet``, ``jsonl.gz``, ``arrow``, ``csv.bz2`` ...
EXTENSION_PATTERN = r"({})(\.({}))?".format(
    "|".join(re.escape(ext[1:]) for ext in (*EXTENSIONS, *NO_READER_EXTENSIONS)),
    "|".join(re.escape(suffix[1:]) for suffix in (*COMPRESSION_SUFFIXES, *NO_READER_COMPRESSIONS)),
)


def get_format(name: str) -> Format:
    """The format called ``name`` (a key of :data:`FORMATS`: ``"jsonl"``, ``"text"``, ``"arrow"`` ...)."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown format {name!r}; supported formats: {', '.join(sorted(FORMATS))}"
        ) from None


def format_for_path(path: str) -> Format:
    """The format of ``path`` from its extension, ignoring a compression suffix (``.gz``, ``.xz`` ...)."""
    ext = os.path.splitext(strip_compression(path).rstrip("/"))[1].lower()
    if ext in EXTENSIONS:
        return FORMATS[EXTENSIONS[ext]]
    raise ValueError(
        f"cannot tell the format of {path} from its extension; supported extensions: "
        f"{', '.join(sorted(EXTENSIONS))} (optionally followed by {', '.join(COMPRESSION_SUFFIXES)}); "
        "pass the format explicitly otherwise"
    )


def is_data_file(path: str) -> bool:
    """True for the extensions with a reader, compressed or not.

    >>> is_data_file("a/train.jsonl.zst"), is_data_file("LICENSE"), is_data_file("x.txt")
    (True, False, True)
    >>> is_data_file("NOTICE.txt"), is_data_file("x.arrow"), is_data_file("x.avro")
    (False, True, False)
    """
    kind = data_kind(path)
    return kind is not None and not kind.startswith(".")


def data_kind(path: str) -> str | None:
    """The format a data file is read with; its extension if it looks like data but has no reader."""
    lower = strip_compression(path.lower())
    ext = posixpath.splitext(lower)[1]
    if ext in EXTENSIONS:
        if EXTENSIONS[ext] == "text" and posixpath.basename(lower).split(".")[0] in NOT_DATA_NAMES:
            return None
        return EXTENSIONS[ext]
    if ext in NO_READER_EXTENSIONS:
        return ext
    if ext in NO_READER_COMPRESSIONS:
        inner = posixpath.splitext(lower[: -len(ext)])[1]
        if inner in EXTENSIONS or inner in NO_READER_EXTENSIONS:
            return inner + ext
    return None


def looks_like_data(path: str) -> bool:
    """True for the files discovery lists: readable data files and data-looking ones with no reader.

    >>> looks_like_data("x/data-00000-of-00001.arrow"), looks_like_data("LICENSE.txt")
    (True, False)
    """
    return data_kind(path) is not None
