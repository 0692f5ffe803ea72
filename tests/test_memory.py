"""Streaming stays flat: 10x more rows through filter/map grows peak RSS by less than 25%."""

import subprocess
import sys
import textwrap

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import crucible_datasets as cd
    ds = cd.load(sys.argv[1], split="train", streaming=True)
    ds = ds.filter(lambda r: r["i"] % 3 != 0).map(lambda r: {"n": len(r["text"])})
    kept = sum(1 for _ in ds)
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


def _chunks(rows):
    for start in range(0, rows, 10_000):
        yield [
            {"i": i, "text": "x" * (50 + i % 200), "tags": ["a", "b"]}
            for i in range(start, min(rows, start + 10_000))
        ]


def _write(path, rows):
    if str(path).endswith(".parquet"):
        schema = pa.schema([("i", pa.int64()), ("text", pa.string()), ("tags", pa.list_(pa.string()))])
        with pq.ParquetWriter(path, schema) as writer:
            for chunk in _chunks(rows):
                writer.write_table(pa.Table.from_pylist(chunk, schema))
        return
    with open(path, "wb") as f:
        for chunk in _chunks(rows):
            f.write(b"".join(orjson.dumps(r) + b"\n" for r in chunk))


def _peak_kb(path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    kept, peak = map(int, out.stdout.split())
    return kept, peak


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_streaming_memory_is_flat(tmp_path, suffix):
    small, large = tmp_path / f"small{suffix}", tmp_path / f"large{suffix}"
    _write(small, 100_000)
    _write(large, 1_000_000)
    kept_small, peak_small = _peak_kb(small)
    kept_large, peak_large = _peak_kb(large)
    assert kept_small == 66_666 and kept_large == 666_666
    assert peak_large < 1.25 * peak_small, (peak_small, peak_large)
