"""Compression suffixes (crucible_datasets/formats/compression.py) and reading compressed files."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os

import pytest
import zstandard

from crucible_datasets.bad_records import ErrorPolicy
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.formats import ReadOptions, format_for_path
from crucible_datasets.formats.compression import NO_READER_COMPRESSIONS, compression_of, strip_compression


@pytest.mark.parametrize(
    ("path", "codec", "stripped"),
    [
        ("a.jsonl.gz", "gzip", "a.jsonl"),
        ("a.JSONL.ZST", "zstd", "a.JSONL"),
        ("a.csv.zstd", "zstd", "a.csv"),
        ("a.parquet", None, "a.parquet"),
        ("a.csv.bz2", "bz2", "a.csv"),
        ("a.JSONL.XZ", "xz", "a.JSONL"),
        ("a.csv.lz4", None, "a.csv.lz4"),
    ],
)
def test_compression_of_and_strip(path, codec, stripped):
    assert compression_of(path) == codec
    assert strip_compression(path) == stripped


def test_no_reader_compressions_are_never_decompressed():
    assert all(compression_of("a.jsonl" + suffix) is None for suffix in NO_READER_COMPRESSIONS)


# -- every line format reads .bz2 and .xz whole, with the same error policy --------------------

CODECS = {".gz": gzip.compress, ".zst": zstandard.compress, ".bz2": bz2.compress, ".xz": lzma.compress}
FILES = {
    "a.jsonl": (b'{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
    "a.csv": (b"a,b\n1,x\n2,y\n", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]),
    "a.json": (b'[{"a": 1}, {"a": 2}]', [{"a": 1}, {"a": 2}]),
    "a.txt": (b"one\ntwo\n", [{"text": "one"}, {"text": "two"}]),
}


def _rows(path, errors=None):
    fmt = format_for_path(path)
    parts = fmt.file_parts(path, os.path.getsize(path), 4)
    return [r for p in parts for b in fmt.read(p, ReadOptions(), errors or ErrorPolicy()) for r in b.rows]


@pytest.mark.parametrize("suffix", [".bz2", ".xz"])
@pytest.mark.parametrize("name", sorted(FILES))
def test_bz2_and_xz_files_read_whole(tmp_path, name, suffix):
    data, expected = FILES[name]
    path = str(tmp_path / (name + suffix))
    with open(path, "wb") as f:
        f.write(CODECS[suffix](data))
    fmt = format_for_path(path)
    assert fmt.split_unit_of(path) in ("whole", "row_groups") and len(fmt.file_parts(path, 10**9, 4)) == 1
    assert _rows(path) == expected


@pytest.mark.parametrize("suffix", [".bz2", ".xz"])
def test_concatenated_streams_are_read_one_after_another(tmp_path, suffix):
    path = str(tmp_path / ("a.jsonl" + suffix))
    with open(path, "wb") as f:
        f.write(CODECS[suffix](b'{"a": 1}\n') + CODECS[suffix](b'{"a": 2}\n'))
    assert _rows(path) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_truncated_or_corrupt_data_is_a_data_file_error(tmp_path, suffix):
    packed = CODECS[suffix](b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 50)) for i in range(5000)))
    cut = str(tmp_path / ("cut.jsonl" + suffix))
    with open(cut, "wb") as f:
        f.write(packed[: len(packed) // 2])
    with pytest.raises(DataFileError, match=r"cut\.jsonl.*truncated or corrupt"):
        _rows(cut)
    bad = str(tmp_path / ("bad.jsonl" + suffix))
    with open(bad, "wb") as f:
        f.write(b"this was never compressed\n" * 10)
    with pytest.raises(DataFileError, match=r"bad\.jsonl"):
        _rows(bad)


def test_bad_records_inside_a_compressed_file_follow_the_policy(tmp_path):
    path = str(tmp_path / "a.jsonl.xz")
    with open(path, "wb") as f:
        f.write(lzma.compress(b'{"a": 1}\n{oops\n{"a": 3}\n'))
    with pytest.raises(BadRecordError, match="line 2"):
        _rows(path)
    errors = ErrorPolicy("skip")
    assert _rows(path, errors) == [{"a": 1}, {"a": 3}] and errors.bad == 1
