"""``cast`` / ``cast_column``: the type forms taken, and what a cast refuses."""

import pyarrow as pa
import pytest

from crucible_datasets.batch import Batch
from crucible_datasets.errors import ColumnNotFoundError
from crucible_datasets.features import ClassLabel, Features, List, Value
from crucible_datasets.transforms.base import StageCounter
from crucible_datasets.transforms.casting import CastColumns, arrow_type, arrow_types


def test_the_type_forms():
    assert arrow_type(pa.int16()) == pa.int16()
    assert arrow_type("float") == pa.float32() and arrow_type("double") == pa.float64()
    assert arrow_type("timestamp[s]") == pa.timestamp("s") and arrow_type("large_string") == pa.large_string()
    assert arrow_type(Value("int8")) == pa.int8() and arrow_type(ClassLabel(names=["a"])) == pa.int64()
    assert arrow_type(List(Value("string"))) == pa.list_(pa.string())
    assert arrow_type({"a": Value("int32")}) == pa.struct([("a", pa.int32())])
    with pytest.raises(ValueError, match="unknown dtype 'nope'"):
        arrow_type("nope")
    with pytest.raises(TypeError, match="a column type is"):
        arrow_type(3)
    schema = pa.schema([("a", pa.int8())])
    assert arrow_types(schema) == arrow_types(Features({"a": Value("int8")})) == {"a": pa.int8()}
    assert arrow_types({"a": "int8"}) == {"a": pa.int8()}


def test_cast_column_keeps_the_other_columns_and_their_order():
    batch = Batch.from_rows([{"a": 1, "b": "2", "c": [1]}])
    out = CastColumns({"b": "int64"}).process(batch)
    assert out.arrow.schema.names == ["a", "b", "c"] and out.rows == [{"a": 1, "b": 2, "c": [1]}]


def test_exact_cast_needs_the_same_columns_and_orders_them():
    batch = Batch.from_rows([{"a": 1, "b": 2}])
    out = CastColumns({"b": "int8", "a": "float64"}, exact=True).process(batch)
    assert out.arrow.schema == pa.schema([("b", pa.int8()), ("a", pa.float64())])
    with pytest.raises(ValueError, match="must be identical as the columns in the dataset"):
        CastColumns({"a": "int8"}, exact=True).process(batch)


def test_a_missing_column_or_an_impossible_cast_is_a_clear_error():
    stream = iter([Batch.from_rows([{"a": "x"}])])
    with pytest.raises(ColumnNotFoundError, match="cast_column"):
        list(CastColumns({"z": "int8"}).apply(stream, StageCounter()))
    with pytest.raises(ValueError, match="cannot cast column 'a' from string to int64"):
        CastColumns({"a": "int64"}).process(Batch.from_rows([{"a": "x"}]))
