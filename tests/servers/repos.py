"""The repos the test Hub serves, built once per session from tests/data/gsm8k.

- ``openai/gsm8k``: the real layout: README.md with YAML ``configs:`` ``main`` (train:
  ``main/train-*``, test: ``main/test-*``) and ``socratic`` (test: ``socratic/test-*``),
  Parquet shards ``main/train-00000-of-00001.parquet`` etc. (7473, 1319 and 1319 rows);
- ``test/large``: one deterministic ~30 MB Parquet file of 100 row groups, to show a
  ``take(5)`` reads a small fraction of it;
- ``test/jsonl``: gsm8k's ``train.jsonl`` served as a plain (non-LFS) file, for byte-range and
  retry tests;
- ``test/revs``: two commits of ``data.jsonl`` (tag ``v1`` on the first, ``main`` on the second);
- ``test/private``: needs ``Authorization: Bearer`` :data:`PRIVATE_TOKEN`.
"""

from __future__ import annotations

import functools
import io
import json
import os
import random

import pyarrow as pa
import pyarrow.parquet as pq

from tests.data_paths import GSM8K_DIR

PRIVATE_TOKEN = "hf_crucibleTestSecret0123456789abcdef"
LARGE_ROWS = 128_000
LARGE_ROW_GROUP = 1_280
LARGE_PATH = "data/train-00000-of-00001.parquet"

GSM8K_README = """---
license: mit
language:
- en
dataset_info:
- config_name: main
  features:
  - name: question
    dtype: string
  - name: answer
    dtype: string
  splits:
  - name: train
    num_examples: 7473
  - name: test
    num_examples: 1319
configs:
- config_name: main
  data_files:
  - split: train
    path: main/train-*
  - split: test
    path: main/test-*
- config_name: socratic
  data_files:
  - split: test
    path: socratic/test-*
---

# Dataset Card for GSM8K (test copy)
"""


def _jsonl_rows(name: str) -> list[dict]:
    with open(os.path.join(GSM8K_DIR, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _parquet(rows: list[dict], row_group_size: int | None = None) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink, row_group_size=row_group_size)
    return sink.getvalue()


@functools.cache
def gsm8k_files() -> dict[str, bytes]:
    with open(os.path.join(GSM8K_DIR, "LICENSE"), "rb") as f:
        license_text = f.read()
    return {
        ".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n",
        "LICENSE": license_text,
        "README.md": GSM8K_README.encode(),
        "main/train-00000-of-00001.parquet": _parquet(_jsonl_rows("train.jsonl")),
        "main/test-00000-of-00001.parquet": _parquet(_jsonl_rows("test.jsonl")),
        "socratic/test-00000-of-00001.parquet": _parquet(_jsonl_rows("test_socratic.jsonl")),
    }


@functools.cache
def large_parquet() -> bytes:
    """~30 MB, 100 row groups of 1280 rows, uncompressed so the size is predictable."""
    rng = random.Random(1234)
    ids = pa.array(range(LARGE_ROWS), pa.int64())
    text = pa.array([rng.randbytes(120).hex() for _ in range(LARGE_ROWS)], pa.string())
    score = pa.array([rng.random() for _ in range(LARGE_ROWS)], pa.float64())
    table = pa.table({"id": ids, "text": text, "score": score})
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=LARGE_ROW_GROUP, compression="none")
    return sink.getvalue()


@functools.cache
def gsm8k_train_jsonl() -> bytes:
    with open(os.path.join(GSM8K_DIR, "train.jsonl"), "rb") as f:
        return f.read()


def revs_v1() -> bytes:
    return b'{"version": 1, "text": "first"}\n'


def revs_v2() -> bytes:
    return b'{"version": 2, "text": "second"}\n{"version": 2, "text": "more"}\n'


def build_hub(server) -> dict[str, str]:
    """Add the test repos to a :class:`~tests.servers.hub_server.HubServer`; the shas by name."""
    shas = {}
    shas["gsm8k"] = server.add_repo("openai/gsm8k", gsm8k_files()).refs["main"]
    shas["large"] = server.add_repo("test/large", {LARGE_PATH: large_parquet()}).refs["main"]
    shas["jsonl"] = server.add_repo(
        "test/jsonl", {"README.md": b"# lines\n", "data/train.jsonl": gsm8k_train_jsonl()}
    ).refs["main"]
    revs = server.add_repo("test/revs", {"data.jsonl": revs_v1()})
    shas["revs_v1"] = revs.refs["main"]
    revs.tag("v1", shas["revs_v1"])
    shas["revs_v2"] = revs.commit({"data.jsonl": revs_v2()})
    shas["private"] = server.add_repo(
        "test/private",
        {"data/train.jsonl": b'{"secret": true}\n'},
        private=True,
        token=PRIVATE_TOKEN,
    ).refs["main"]
    return shas
