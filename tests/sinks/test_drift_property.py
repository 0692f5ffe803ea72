"""Property: whatever the drift, every shard has one schema and no value is lost."""

from __future__ import annotations

import tempfile

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crucible_datasets.sinks import JsonlSink, ParquetSink
from tests.sinks.helpers import read_jsonl_rows, read_parquet_rows, write

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.text(max_size=3),
)
values = st.one_of(
    scalars,
    st.lists(st.one_of(st.none(), st.integers(-5, 5)), max_size=3),
    st.lists(st.text(max_size=2), max_size=2),
    st.dictionaries(st.sampled_from(["k", "j"]), scalars, max_size=2),
)
keys = st.sampled_from(["a", "b", "c"])
rows = st.lists(st.dictionaries(keys, values, min_size=1, max_size=3), min_size=1, max_size=12)
rows_or_empty = st.lists(st.dictionaries(keys, values, max_size=3), min_size=1, max_size=12)


def normalize(value):
    """Compare values as data: ints and floats alike, a null the same as a missing key."""
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def split_into_tasks(data: list[dict], cuts: list[int]) -> list[list[list[dict]]]:
    """Cut ``data`` into batches at ``cuts``, then every other cut also ends a task."""
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    batches = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return [batches[i : i + 2] for i in range(0, len(batches), 2)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows, cuts=st.lists(st.integers(0, 12), max_size=5), cap=st.one_of(st.none(), st.integers(1, 4)))
def test_parquet_drift_keeps_values_and_one_schema(data, cuts, cap):
    with tempfile.TemporaryDirectory() as out:
        summary = write(ParquetSink(out, max_rows_per_shard=cap), split_into_tasks(data, cuts))
        shard_schemas = [pq.read_schema(f) for f in summary.files]
        assert all(s.equals(shard_schemas[0], check_metadata=True) for s in shard_schemas)
        assert sum(summary.file_rows) == len(data)
        assert [normalize(r) for r in read_parquet_rows(summary.files)] == [normalize(r) for r in data]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows_or_empty, cuts=st.lists(st.integers(0, 12), max_size=5))
def test_jsonl_drift_writes_rows_as_given(data, cuts):
    with tempfile.TemporaryDirectory() as out:
        summary = write(
            JsonlSink(out, compression="gzip", max_rows_per_shard=3), split_into_tasks(data, cuts)
        )
        assert read_jsonl_rows(summary.files) == data
