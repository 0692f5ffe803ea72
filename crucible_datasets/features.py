"""``Features``: the column types of a dataset, as Hugging Face ``datasets`` describes them.

A :class:`Features` maps column names to :class:`Value` (an Arrow scalar type by its
``datasets`` name: ``"int64"``, ``"float32"``, ``"string"``...), :class:`List` (``Sequence``
is its older name), :class:`ClassLabel` (int64 storage plus label names) or a nested dict
(a struct). It converts to and from a ``pyarrow.Schema`` (:attr:`Features.arrow_schema`,
:meth:`Features.from_arrow_schema`); the schema carries the ``datasets`` description in its
``huggingface`` metadata, as ``datasets`` writes it, so class label names survive a Parquet
file. :func:`as_features` also reads the forms found in dataset cards: the YAML list of
``dataset_info.features`` (``{name, dtype}``, ``{name, list: ...}``, ``{name, struct: [...]}``,
``{name, class_label: {names: ...}}``) and the JSON dict of ``Features.to_dict()``.

>>> f = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"]),
...               "tags": List(Value("string")), "meta": {"n": Value("int32")}})
>>> f.arrow_schema.types
[DataType(string), DataType(int64), ListType(list<item: string>), StructType(struct<n: int32>)]
>>> Features.from_arrow_schema(f.arrow_schema) == f
True
>>> f["label"].str2int("pos"), f["label"].int2str(0)
(1, 'neg')
>>> yaml_list = [{"name": "label", "dtype": {"class_label": {"names": {"0": "neg", "1": "pos"}}}}]
>>> as_features(yaml_list)
{'label': ClassLabel(names=['neg', 'pos'])}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.batch import Batch
from crucible_datasets.transforms.base import Stage

HF_METADATA_KEY = b"huggingface"
# datasets' Value aliases (Value.__post_init__) and the Arrow types whose str() is not their name.
_DTYPE_ALIASES = {"double": "float64", "float": "float32", "half": "float16"}
_ARROW_NAMES = {"double": "float64", "float": "float32", "halffloat": "float16"}


@dataclass(frozen=True)
class Value:
    """A scalar column: ``dtype`` is the ``datasets`` name of an Arrow type.

    >>> Value("double").dtype, Value("int32").pa_type
    ('float64', DataType(int32))
    """

    dtype: str

    def __post_init__(self) -> None:
        dtype = _DTYPE_ALIASES.get(self.dtype, self.dtype)
        object.__setattr__(self, "dtype", dtype)
        self.pa_type  # noqa: B018 - fails early on an unknown dtype

    @property
    def pa_type(self) -> pa.DataType:
        try:
            return pa.type_for_alias(self.dtype)
        except (ValueError, TypeError):
            raise ValueError(f"unknown dtype {self.dtype!r} (an Arrow name: int64, string...)") from None

    def __repr__(self) -> str:
        return f"Value({self.dtype!r})"


@dataclass(frozen=True)
class ClassLabel:
    """Integer class labels (stored as int64) with names; ``num_classes`` alone names them 0..n-1.

    >>> c = ClassLabel(names=["neg", "pos"])
    >>> c.num_classes, c.str2int(["pos", "neg"]), c.int2str([1])
    (2, [1, 0], ['pos'])
    """

    num_classes: int | None = None
    names: list[str] | tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.names is None:
            if self.num_classes is None:
                raise ValueError("ClassLabel needs names= or num_classes=")
            object.__setattr__(self, "names", [str(i) for i in range(self.num_classes)])
        names = [str(n) for n in self.names]
        if len(set(names)) != len(names):
            raise ValueError(f"ClassLabel names must be unique, got {names}")
        if self.num_classes is not None and self.num_classes != len(names):
            raise ValueError(f"ClassLabel: num_classes={self.num_classes} but {len(names)} names")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "num_classes", len(names))

    pa_type = pa.int64()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClassLabel) and list(self.names) == list(other.names)

    def __hash__(self) -> int:
        return hash(tuple(self.names))

    def __repr__(self) -> str:
        return f"ClassLabel(names={list(self.names)!r})"

    def _one_str2int(self, value: str) -> int:
        """As ``datasets``: the name, the name stripped, else a number string in range."""
        index = {n: i for i, n in enumerate(self.names)}
        value = str(value)
        found = index.get(value, index.get(value.strip()))
        if found is not None:
            return found
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or not -1 <= number < self.num_classes:
            raise ValueError(f"Invalid string class label {value} (labels: {', '.join(self.names)})")
        return number

    def str2int(self, values: str | Iterable[str]) -> int | list[int]:
        """Label name(s) to integer(s)."""
        if isinstance(values, str):
            return self._one_str2int(values)
        return [self._one_str2int(v) for v in values]

    def _one_int2str(self, value: int) -> str:
        if not 0 <= int(value) < self.num_classes:
            raise ValueError(f"Invalid integer class label {value} (0..{self.num_classes - 1})")
        return self.names[int(value)]

    def int2str(self, values: int | Iterable[int]) -> str | list[str]:
        """Integer(s) to label name(s)."""
        if isinstance(values, int):
            return self._one_int2str(values)
        return [self._one_int2str(v) for v in values]


@dataclass(frozen=True)
class List:
    """A list column of ``feature`` items; ``length`` >= 0 makes it fixed-size.

    >>> List(Value("int64")).pa_type, List(Value("int64"), length=2).pa_type
    (ListType(list<item: int64>), FixedSizeListType(fixed_size_list<item: int64>[2]))
    """

    feature: Any
    length: int = -1

    @property
    def pa_type(self) -> pa.DataType:
        item = _pa_type(self.feature)
        return pa.list_(item, self.length) if self.length >= 0 else pa.list_(item)

    def __repr__(self) -> str:
        return f"List({self.feature!r}" + (f", length={self.length})" if self.length >= 0 else ")")


def Sequence(feature: Any, length: int = -1) -> List | dict:  # noqa: N802 - the datasets name
    """``datasets.Sequence``: a :class:`List`, except that a dict of features becomes a dict of lists.

    >>> Sequence({"a": Value("int64")})
    {'a': List(Value('int64'))}
    """
    if isinstance(feature, Mapping):
        return {k: v if isinstance(v, List) else List(v, length) for k, v in feature.items()}
    return List(feature, length)


FeatureType = Value | ClassLabel | List | dict


def _pa_type(feature: FeatureType) -> pa.DataType:
    if isinstance(feature, Mapping):
        return pa.struct([pa.field(k, _pa_type(v)) for k, v in feature.items()])
    if isinstance(feature, list | tuple) and len(feature) == 1:  # datasets' [feature] shorthand
        return pa.list_(_pa_type(feature[0]))
    if hasattr(feature, "pa_type"):
        return feature.pa_type
    raise TypeError(f"not a feature type: {feature!r}")


def _arrow_dtype_name(t: pa.DataType) -> str:
    name = str(t)
    return _ARROW_NAMES.get(name, name)


def _from_arrow_type(t: pa.DataType) -> FeatureType:
    if pa.types.is_struct(t):
        return {t.field(i).name: _from_arrow_type(t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_fixed_size_list(t):
        return List(_from_arrow_type(t.value_type), t.list_size)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return List(_from_arrow_type(t.value_type))
    if pa.types.is_dictionary(t):
        return _from_arrow_type(t.value_type)
    return Value(_arrow_dtype_name(t))


class Features(dict):
    """Column name -> feature type (:class:`Value`, :class:`List`, :class:`ClassLabel`, dict)."""

    @property
    def type(self) -> pa.StructType:
        """The Arrow struct type of a row."""
        return pa.struct([pa.field(k, _pa_type(v)) for k, v in self.items()])

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Arrow schema, with the ``datasets`` description in its ``huggingface`` metadata."""
        meta = json.dumps({"info": {"features": self.to_dict()}})
        return pa.schema(list(self.type)).with_metadata({HF_METADATA_KEY: meta})

    @classmethod
    def from_arrow_schema(cls, schema: pa.Schema) -> Features:
        """The features of ``schema``: its ``huggingface`` metadata where it has it, else from types."""
        described: dict = {}
        meta = schema.metadata or {}
        if HF_METADATA_KEY in meta:
            info = json.loads(meta[HF_METADATA_KEY].decode()).get("info") or {}
            if info.get("features"):
                described = cls.from_dict(info["features"])
        out = cls()
        for f in schema:
            known = described.get(f.name)
            same = known is not None and _pa_type(known).equals(f.type)
            out[f.name] = known if same else _from_arrow_type(f.type)
        return out

    def to_dict(self) -> dict:
        """The JSON form ``datasets`` stores (``{"a": {"dtype": "int64", "_type": "Value"}}``)."""
        return {k: _to_json(v) for k, v in self.items()}

    @classmethod
    def from_dict(cls, data: Mapping) -> Features:
        """Features from :meth:`to_dict`'s JSON form."""
        return cls({k: _from_json(v) for k, v in data.items()})

    def to_yaml_list(self) -> list:
        """The ``dataset_info.features`` form of a dataset card."""
        return [{"name": k, **_to_yaml(v)} for k, v in self.items()]

    @classmethod
    def from_yaml_list(cls, items: list) -> Features:
        """Features from a card's ``dataset_info.features`` list."""
        return cls({item["name"]: _from_yaml(_without_name(item)) for item in items})


def _to_json(feature: FeatureType) -> dict:
    if isinstance(feature, Mapping):
        return {k: _to_json(v) for k, v in feature.items()}
    if isinstance(feature, Value):
        return {"dtype": feature.dtype, "_type": "Value"}
    if isinstance(feature, ClassLabel):
        return {"names": list(feature.names), "_type": "ClassLabel"}
    if isinstance(feature, List):
        out = {"feature": _to_json(feature.feature), "_type": "List"}
        return {**out, "length": feature.length} if feature.length >= 0 else out
    raise TypeError(f"not a feature type: {feature!r}")


def _from_json(data: Any) -> FeatureType:
    if not isinstance(data, Mapping):
        raise ValueError(f"a feature must be a mapping, got {data!r}")
    kind = data.get("_type")
    if kind is None:
        return {k: _from_json(v) for k, v in data.items()}
    if kind == "Value":
        return Value(data["dtype"])
    if kind == "ClassLabel":
        return ClassLabel(num_classes=data.get("num_classes"), names=data.get("names"))
    if kind in ("List", "Sequence", "LargeList"):
        inner = _from_json(data["feature"])
        length = int(data.get("length", -1))
        return Sequence(inner, length) if kind == "Sequence" else List(inner, length)
    raise ValueError(f"feature type {kind!r} is not supported (Value, List, Sequence, ClassLabel, dicts)")


def _to_yaml(feature: FeatureType) -> dict:
    if isinstance(feature, Mapping):
        return {"struct": [{"name": k, **_to_yaml(v)} for k, v in feature.items()]}
    if isinstance(feature, Value):
        return {"dtype": feature.dtype}
    if isinstance(feature, ClassLabel):
        return {"dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(feature.names)}}}}
    if isinstance(feature, List):
        inner = _to_yaml(feature.feature)
        inner = inner["dtype"] if list(inner) == ["dtype"] and isinstance(inner["dtype"], str) else inner
        inner = inner["struct"] if isinstance(inner, dict) and list(inner) == ["struct"] else inner
        return {"list": inner, **({"length": feature.length} if feature.length >= 0 else {})}
    raise TypeError(f"not a feature type: {feature!r}")


def _from_yaml(item: Any) -> FeatureType:
    """One feature of the card form: ``{dtype: ...}``, ``{list: ...}``, ``{struct: [...]}``..."""
    if isinstance(item, str):
        return Value(item)
    if isinstance(item, list):  # a struct's fields
        return {sub["name"]: _from_yaml(_without_name(sub)) for sub in item}
    if not isinstance(item, Mapping) or not item:
        raise ValueError(f"cannot read feature {item!r}")
    kind = next(iter(item))
    if kind in ("list", "large_list", "sequence"):
        inner, length = _from_yaml(item[kind]), int(item.get("length", -1))
        return Sequence(inner, length) if kind == "sequence" else List(inner, length)
    if kind == "struct":
        return _from_yaml(item["struct"])
    if kind == "class_label":
        names = item["class_label"].get("names")
        if isinstance(names, Mapping):
            ids = sorted(names, key=int)
            if [int(i) for i in ids] != list(range(len(ids))):
                raise ValueError(f"class_label names must have ids 0..{len(ids) - 1}, got {ids}")
            names = [names[i] for i in ids]
        return ClassLabel(num_classes=item["class_label"].get("num_classes"), names=names)
    if kind == "dtype":
        return _from_yaml(item["dtype"])
    raise ValueError(f"feature type {kind!r} is not supported (dtype, list, sequence, struct, class_label)")


def as_features(description: Any) -> Features:
    """``Features`` from a ``Features``/dict, a card's YAML list, the JSON dict, or JSON/YAML text.

    A dict of ``{"a": "int64"}`` strings is read as ``Value`` dtypes; ``datasets.Features``
    objects (from the real library) are read through their ``to_dict()``.
    """
    if isinstance(description, Features):
        return description
    if hasattr(description, "to_dict") and hasattr(description, "arrow_schema"):  # datasets.Features
        return Features.from_dict(description.to_dict())
    if isinstance(description, pa.Schema):
        return Features.from_arrow_schema(description)
    if isinstance(description, str):
        import yaml

        description = yaml.safe_load(description)
        if isinstance(description, Mapping) and "features" in description:
            description = description["features"]
    if isinstance(description, list):
        return Features.from_yaml_list(description)
    if isinstance(description, Mapping):
        return Features({name: _coerce(feature) for name, feature in description.items()})
    raise TypeError(f"features: a Features, a dict or a card's list of {{name, dtype}}; got {description!r}")


def _coerce(feature: Any) -> FeatureType:
    """One feature given in any form: an object, a dtype string, a JSON or card-form dict."""
    if isinstance(feature, str):
        return Value(feature)
    if isinstance(feature, Value | ClassLabel | List):
        return feature
    if isinstance(feature, list | tuple) and len(feature) == 1:
        return List(_coerce(feature[0]))
    if isinstance(feature, Mapping):
        if "_type" in feature:
            return _from_json(feature)
        if _yaml_like(feature):
            return _from_yaml(feature)
        return {k: _coerce(v) for k, v in feature.items()}
    raise TypeError(f"not a feature type: {feature!r}")


_YAML_KINDS = ("dtype", "list", "large_list", "sequence", "struct", "class_label")


def _without_name(item: Mapping) -> dict:
    return {k: v for k, v in item.items() if k != "name"}


def _yaml_like(feature: Mapping) -> bool:
    return bool(feature) and next(iter(feature)) in _YAML_KINDS


def class_labels(features: Features) -> dict[str, ClassLabel]:
    """The top-level :class:`ClassLabel` columns of ``features``."""
    return {k: v for k, v in features.items() if isinstance(v, ClassLabel)}


def encode_labels(
    column: pa.Array | pa.ChunkedArray, label: ClassLabel, name: str, json_text: bool = False
) -> pa.Array:
    """A class label column as int64: names (or number strings) mapped, numbers checked.

    >>> encode_labels(pa.array(["pos", None, "neg"]), ClassLabel(names=["neg", "pos"]), "y").to_pylist()
    [1, None, 0]
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        values = column.to_pylist()
        if json_text:  # names and numbers mixed in one column: decoded from their JSON text
            values = [None if v is None else json.loads(v) for v in values]
        try:
            values = [v if v is None or isinstance(v, int) else label.str2int(str(v)) for v in values]
        except ValueError as exc:
            raise ValueError(f"column {name!r}: {exc}") from None
        column = pa.array(values, pa.int64())
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.int64())
    if not pa.types.is_integer(column.type):
        raise ValueError(f"column {name!r}: class labels must be names or integers, got {column.type}")
    out = column.cast(pa.int64())
    bad = [v for v in out.to_pylist() if v is not None and not -1 <= v < label.num_classes]
    if bad:
        raise ValueError(f"column {name!r}: class label {bad[0]} is outside -1..{label.num_classes - 1}")
    return out


class CastToFeatures(Stage):
    """The per-batch stage ``load(features=)`` ends the read with: class labels to int64, the
    declared columns first in their order, and the ``datasets`` description in the schema.
    The readers have already cast the other declared columns.
    """

    def __init__(self, features: Features) -> None:
        self.features = features
        self.schema = features.arrow_schema

    def process(self, batch: Batch) -> Batch:
        arrow = batch.arrow
        labels = class_labels(self.features)
        names = [n for n in self.features if n in arrow.schema.names or n in labels]
        names += [n for n in arrow.schema.names if n not in self.features]
        arrays, fields = [], []
        for name in names:
            feature = self.features.get(name)
            index = arrow.schema.get_field_index(name)
            column = arrow.column(index) if index >= 0 else pa.nulls(arrow.num_rows)
            if isinstance(feature, ClassLabel):
                json_text = index >= 0 and schemas.is_json_text(arrow.schema.field(index))
                column = encode_labels(column, feature, name, json_text)
                fields.append(self.schema.field(name))
            else:
                fields.append(arrow.schema.field(index))
            arrays.append(column)
        out = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata=self.schema.metadata))
        return Batch.from_arrow(out)


__all__ = [
    "CastToFeatures",
    "ClassLabel",
    "Features",
    "List",
    "Sequence",
    "Value",
    "as_features",
    "class_labels",
    "encode_labels",
]
