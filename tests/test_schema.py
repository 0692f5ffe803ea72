"""schema.py: objects whose keys vary become JSON text; partial declared schemas."""

from __future__ import annotations

import pyarrow as pa
import pytest

from crucible_datasets import schema as schemas

TURNS = [
    {"turns": [{"role": "user", "text": "hi", "lang": "en"}, {"role": "bot", "text": "yo"}]},
    {"turns": [{"role": "user", "text": "again"}]},
]


def test_a_list_of_objects_whose_keys_vary_is_json_text_and_reads_back_as_written():
    batch = schemas.from_pylist(TURNS)
    assert schemas.is_json_text(batch.schema.field("turns"))
    assert schemas.to_pylist(batch) == TURNS
    assert "lang" not in schemas.to_pylist(batch)[0]["turns"][1]


@pytest.mark.parametrize(
    "rows",
    [
        [{"meta": {"a": 1}}, {"meta": {"a": 2, "b": "x"}}],  # a struct column
        [{"m": {"inner": [{"k": 1}, {"k": 2, "j": 3}]}}],  # below a struct whose keys agree
        [{"m": [[{"k": 1}], [{"j": 2}]]}],  # a list of lists
        [{"m": [{"k": 1}, None, {}]}, {"m": None}],  # None and an empty object among them
    ],
)
def test_keys_that_vary_anywhere_below_a_column_make_it_json_text(rows):
    batch = schemas.from_pylist(rows)
    name = batch.schema.names[0]
    assert schemas.is_json_text(batch.schema.field(name))
    assert schemas.to_pylist(batch) == [{name: row.get(name)} for row in rows]


def _same_keys_stay_a_plain_struct():
    rows = [
        {"turns": [{"role": "user", "text": "hi"}, None], "meta": {"n": 1, "lang": None}},  # None is a value
        {"turns": None, "meta": None},
        {"turns": [{"text": "yo", "role": "bot"}], "meta": {"lang": "en", "n": 2}},  # key order differs
    ]
    batch = schemas.from_pylist(rows)
    turn = pa.struct([("role", pa.string()), ("text", pa.string())])
    assert batch.schema.field("turns").type == pa.list_(turn)
    assert batch.schema.field("meta").type == pa.struct([("n", pa.int64()), ("lang", pa.string())])
    assert not any(schemas.is_json_text(f) for f in batch.schema)
    assert schemas.to_pylist(batch) == rows


def _a_missing_top_level_key_is_still_none():
    batch = schemas.from_pylist([{"a": 1, "b": 2}, {"a": 3}])
    assert schemas.to_pylist(batch) == [{"a": 1, "b": 2}, {"a": 3, "b": None}]


def _objects_with_bytes_whose_keys_vary_stay_a_struct():
    rows = [{"m": {"b": b"\x00"}}, {"m": {"b": b"\x01", "c": 1}}]
    assert pa.types.is_struct(schemas.from_pylist(rows).schema.field("m").type)


def test_only_keys_that_vary_change_the_representation():
    """Uniform objects stay structs (no cost to ordinary rows); a varying list next to them is JSON."""
    batch = schemas.from_pylist([{**TURNS[0], "meta": {"n": 1}}, {**TURNS[1], "meta": {"n": 2}}])
    assert schemas.is_json_text(batch.schema.field("turns"))
    assert batch.schema.field("meta").type == pa.struct([("n", pa.int64())])
    _same_keys_stay_a_plain_struct()
    _a_missing_top_level_key_is_still_none()
    _objects_with_bytes_whose_keys_vary_stay_a_struct()


def test_a_partial_schema_casts_what_it_names_and_infers_the_rest():
    declared = schemas.partial(pa.schema([("score", pa.float64()), ("late", pa.string())]))
    assert schemas.is_partial(declared) and not schemas.is_partial(declared.remove_metadata())
    rows = [{"id": 1, "score": 2, "t": "x"}, {"id": 2, "score": None, "t": "y"}]
    batch = schemas.from_pylist(rows, declared)
    assert batch.schema == pa.schema(
        [("id", pa.int64()), ("score", pa.float64()), ("t", pa.string()), ("late", pa.string())]
    )
    assert not schemas.is_partial(batch.schema)
    assert batch.to_pylist()[0] == {"id": 1, "score": 2.0, "t": "x", "late": None}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        schemas.from_pylist([{"score": "high"}], declared)
    assert schemas.bad_rows_for_schema([{"score": 1}, {"score": "high", "other": 1}], declared)[0][0] == 1
    full = declared.remove_metadata()  # not partial: keeps only its columns, as before
    assert schemas.from_pylist([{"id": 1, "score": 2}], full).to_pylist() == [{"score": 2.0, "late": None}]


def test_overlay_and_narrow():
    stored = pa.schema([("a", pa.int64()), ("b", pa.string())])
    declared = schemas.partial(pa.schema([("b", pa.large_string()), ("c", pa.int8())]))
    assert schemas.overlay(stored, declared) == pa.schema([("a", pa.int64()), ("b", pa.large_string())])
    narrowed = schemas.narrow(declared, ("a", "c"))
    assert narrowed.names == ["c"] and schemas.is_partial(narrowed)
    assert schemas.narrow(declared, None) is declared
