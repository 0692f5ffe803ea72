"""Shared by the sink tests: run a sink over lists of rows, read what it wrote."""

from __future__ import annotations

import copy
import gzip
import os
import re

import orjson
import pyarrow.parquet as pq
import yaml
import zstandard

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.sinks import Sink, WriteSummary


def write(sink: Sink, tasks: list[list[list[dict]]], source: str = "test") -> WriteSummary:
    """``tasks[i]`` is the list of batches (lists of rows) of task ``i``."""
    results = []
    for i, batches in enumerate(tasks):
        with sink.open_task(i) as writer:
            for rows in batches:
                writer.write(Batch.from_rows(rows))
        results.append(writer.result)
    rows = sum(len(rows) for batches in tasks for rows in batches)
    return sink.finalize(results, counts=RunCounts(rows_read=rows, rows_written=rows), source=source)


GENERATION = re.compile(r"-g\d{6,}-[0-9a-f]{8}(?=[.*])")


def plain(name: str) -> str:
    """``name`` without a publish generation: ``data/train-00000-of-00001.parquet``."""
    return GENERATION.sub("", name)


def files_under(root: str) -> list[str]:
    """Every file below ``root`` (hidden folders included), relative, sorted, generations left out."""
    found = []
    for folder, _, names in os.walk(root):
        found += [plain(os.path.relpath(os.path.join(folder, n), root)) for n in names]
    return sorted(found)


def read_parquet_rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        rows += schemas.to_pylist(pq.read_table(path))
    return rows


def read_jsonl_rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
        elif path.endswith(".zst"):
            data = zstandard.ZstdDecompressor().stream_reader(data).read()
        rows += [orjson.loads(line) for line in data.splitlines() if line]
    return rows


def card_front_matter(root: str) -> dict:
    """The card's YAML; data_files paths without their generation (``data/train-*.parquet``)."""
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("---\n")
    return yaml.safe_load(plain(text.split("\n---\n", 1)[0][4:]))


def manifest(root: str) -> dict:
    with open(os.path.join(root, "manifest.json"), "rb") as f:
        return orjson.loads(f.read())


def filled(rows: list[dict]) -> list[dict]:
    """Rows with every column present (None where a row lacked it), as Arrow gives them back."""
    names = schemas.column_names(rows)
    return [{name: copy.deepcopy(row.get(name)) for name in names} for row in rows]
