"""The compression suffixes of data files: those the readers decompress, and those they cannot.

>>> compression_of("a/train.jsonl.ZST"), compression_of("a.csv.bz2"), strip_compression("b.json.xz")
('zstd', 'bz2', 'b.json')
>>> compression_of("a.jsonl.lz4") is None
True
"""

from __future__ import annotations

# Suffix -> the codec the readers decompress on the fly (see formats/_compressed.py). A
# compressed file is always read whole: a decompressor cannot start mid-stream.
COMPRESSION_SUFFIXES = {
    ".gz": "gzip",
    ".zst": "zstd",
    ".zstd": "zstd",
    ".bz2": "bz2",
    ".xz": "xz",
}
# Compressions data files come in that no reader here opens: such files are listed as data (so
# reading them fails with a message) but never decompressed.
NO_READER_COMPRESSIONS = (".lz4", ".zip")


def compression_of(path: str) -> str | None:
    """``"gzip"``, ``"zstd"``, ``"bz2"``, ``"xz"`` or None, from the file name."""
    lower = path.lower()
    for suffix, name in COMPRESSION_SUFFIXES.items():
        if lower.endswith(suffix):
            return name
    return None


def strip_compression(path: str) -> str:
    """``path`` without a ``.gz``/``.zst``/``.zstd``/``.bz2``/``.xz`` suffix."""
    lower = path.lower()
    for suffix in COMPRESSION_SUFFIXES:
        if lower.endswith(suffix):
            return path[: -len(suffix)]
    return path
