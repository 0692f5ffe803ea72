"""A pipeline written as a spec: :func:`pipeline_spec` (``Pipeline.to_spec``, ``ds.to_spec()``).

The source is the ``load()`` call that made the pipeline (``Pipeline.origin``); each stage is the
named operation that made it (``Stage.operation``), its functions by import path
(:mod:`~crucible_datasets.spec.functions`), or, for a stage of your own, ``op: apply`` with its
class and ``spec_args()``. What has no spec form is an error naming the stage, never dropped.

>>> import crucible_datasets as cd, tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "train.jsonl")
>>> _ = open(p, "w").write('{"x": 1}\\n')
>>> ds = cd.load(p, split="train", streaming=True).where("x > 0").take(5)
>>> pipeline_spec(ds.pipeline)["stages"]
[{'op': 'where', 'expression': 'x > 0'}, {'op': 'take', 'n': 5}]
>>> pipeline_spec(ds.map(lambda r: r).pipeline)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: stage 3 (map): function: a lambda has no import path; define the function at the top level ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from crucible_datasets.spec.functions import reference
from crucible_datasets.spec.schema import FUNCTION_ARGUMENTS, OPS

if TYPE_CHECKING:
    from crucible_datasets.pipeline import Pipeline
    from crucible_datasets.transforms.base import Stage

VERSION = 1


def pipeline_spec(pipeline: Pipeline, sink: Mapping | None = None, runner: Mapping | None = None) -> dict:
    """The spec of ``pipeline`` (plus ``sink`` and ``runner`` as given); ValueError if it has none."""
    origin = pipeline.origin
    if origin is None:
        raise ValueError(
            f"the source {pipeline.source.description or type(pipeline.source).__name__!r} was not made by "
            "cd.load(...) (an in-memory table, a generator or a combination of datasets), and a spec names "
            "its source by path: write it first and load the output, or load it with streaming=True"
        )
    source = {name: to_data(value, f"source.{name}") for name, value in origin.load_arguments.items()}
    spec: dict[str, Any] = {"version": VERSION, "source": source}
    own = pipeline.stages[origin.stages :]
    if own:
        spec["stages"] = [stage_spec(stage, origin.stages + i + 1) for i, stage in enumerate(own)]
    if sink is not None:
        spec["sink"] = to_data(dict(sink), "sink")
    if runner is not None:
        spec["runner"] = to_data(dict(runner), "runner")
    return spec


def stage_spec(stage: Stage, number: int) -> dict:
    """One stage as ``{"op": ..., argument: value, ...}``; ``number`` counts from 1, for errors."""
    if stage.operation is None:
        args = stage.spec_args()
        cls = type(stage)
        if args is None:
            raise ValueError(
                f"stage {number} ({stage.name}) was not made by a named operation (map, filter, ...) and "
                f"{cls.__qualname__} does not define spec_args(), so a spec cannot make it again"
            )
        where = f"stage {number} ({stage.name})"
        try:
            ref = reference(cls)
        except ValueError as exc:
            raise ValueError(f"{where}: its class: {exc}") from None
        described = {"op": "apply", "stage": ref}
        return {**described, "args": to_data(args, f"{where}: args")} if args else described
    op, arguments = stage.operation
    if op not in OPS:
        ops = ", ".join(OPS)
        raise ValueError(f"stage {number} ({op}): the spec format has no op {op!r}; its ops are {ops}")
    out = {"op": op}
    for name, value in arguments.items():
        where = f"stage {number} ({op}): {name}"
        if name in FUNCTION_ARGUMENTS[op] and value is not None:
            try:
                out[name] = reference(value)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        else:
            out[name] = to_data(value, where)
    return out


def to_data(value: Any, where: str) -> Any:
    """``value`` as plain YAML/JSON data: Arrow types and schemas, and features of plain
    ``Value`` types, as dtype strings; ValueError (naming ``where``) for anything else.

    >>> to_data({"a": (1, 2), "s": pa.schema([("x", pa.int32())]), "t": pa.string()}, "here")
    {'a': [1, 2], 's': {'x': 'int32'}, 't': 'string'}
    >>> to_data(object(), "stage 2 (map): fn_kwargs")
    Traceback (most recent call last):
    ...
    ValueError: stage 2 (map): fn_kwargs: a object has no spec form (plain data, Arrow types)
    """
    from crucible_datasets.features import Features, Value

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [to_data(v, where) for v in value]
    if isinstance(value, Features):  # plain Value types as dtype strings, as a cast takes them
        plain = all(isinstance(f, Value) for f in value.values())
        return {k: f.dtype for k, f in value.items()} if plain else value.to_dict()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"{where}: a spec's mappings have string keys, got {list(value)!r}")
        return {k: to_data(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, pa.Schema):
        return {f.name: _dtype(f.type, f"{where}.{f.name}") for f in value}
    if isinstance(value, pa.DataType):
        return _dtype(value, where)
    if isinstance(value, Value):
        return value.dtype
    raise ValueError(f"{where}: a {type(value).__name__} has no spec form (plain data, Arrow types)")


def _dtype(t: pa.DataType, where: str) -> str:
    from crucible_datasets.transforms.casting import arrow_type

    name = str(t)
    try:
        if arrow_type(name) == t:
            return name
    except (ValueError, TypeError):
        pass
    raise ValueError(f"{where}: the type {t} has no dtype string; a spec names types such as int64 or string")
