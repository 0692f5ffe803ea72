"""``load()``: a dataset by path or Hub id, by config and split, eagerly or as a stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from crucible_datasets.dataset import Dataset, collect
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.errors import check_on_error
from crucible_datasets.formats import get_format
from crucible_datasets.formats.base import ReadOptions
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import local
from crucible_datasets.sources import FileSource
from crucible_datasets.storage import discovery
from crucible_datasets.storage.discovery import Layout


def as_schema(schema: pa.Schema | Mapping[str, str | pa.DataType] | None) -> pa.Schema | None:
    """A declared schema: a ``pyarrow.Schema`` or ``{"column": "int64" | pa.DataType, ...}``."""
    if schema is None or isinstance(schema, pa.Schema):
        return schema
    fields = []
    for name, kind in schema.items():
        if isinstance(kind, str):
            try:
                kind = pa.type_for_alias(kind)
            except ValueError:
                raise ValueError(f"schema: unknown type {kind!r} for column {name!r}") from None
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def resolve(path: str, *, revision: str | None = None, token: str | None = None) -> Layout:
    """The configs, splits and files of ``path``: a file, glob, folder, hf:// path or Hub id."""
    from crucible_datasets.storage import hub

    if hub.is_hub_id(path) or path.startswith("hf://"):
        return hub.resolve_hub(path, revision=revision, token=token)
    if revision is not None:
        raise ValueError("revision= applies to Hugging Face Hub datasets only")
    return discovery.resolve(path)


def load(
    path: str,
    *,
    config: str | None = None,
    split: str | None = None,
    streaming: bool = False,
    sample_size: int | None = None,
    format: str | None = None,
    schema: pa.Schema | Mapping[str, str | pa.DataType] | None = None,
    columns: Sequence[str] | None = None,
    on_error: str = "raise",
    errors_path: str | None = None,
    revision: str | None = None,
    token: str | None = None,
    field: str | None = None,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Load a dataset split (``split=``) or all splits of a config.

    Returns a ``Dataset`` (eager, Arrow in memory) for a split, a ``DatasetDict`` without one,
    and their lazy ``IterableDataset`` forms with ``streaming=True``.

    >>> import crucible_datasets as cd, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for s in ("train", "test"):
    ...     _ = open(os.path.join(d, f"{s}.jsonl"), "w").write('{"q": "1+1", "a": 2}\\n')
    >>> dd = cd.load(d)
    >>> {split: len(ds) for split, ds in dd.items()}
    {'train': 1, 'test': 1}
    """
    check_on_error(on_error)
    if format is not None:
        get_format(format)
    if on_error == "dead_letter" and errors_path is None and not streaming:
        raise ValueError("on_error='dead_letter' needs errors_path= (a folder for the bad records)")
    layout = resolve(path, revision=revision, token=token)
    chosen = layout.config(config)
    options = ReadOptions(
        columns=tuple(columns) if columns is not None else None,
        schema=as_schema(schema),
        field=field or chosen.options.get("field"),
        delimiter=chosen.options.get("sep", chosen.options.get("delimiter", ",")),
    )
    splits = [split] if split is not None else list(chosen.splits)
    loaded = {}
    for name in splits:
        files = layout.files(chosen.name, name)
        if not streaming:
            files = _local_copies(files, token=token)
        source = FileSource(
            tuple(files),
            format,
            options,
            on_error,
            errors_path,
            description=_describe(path, chosen.name, name),
        )
        pipeline = Pipeline(source)
        loaded[name] = IterableDataset(pipeline, name) if streaming else _eager(pipeline, name, sample_size)
        if streaming and sample_size is not None:
            loaded[name] = loaded[name].take(sample_size)
    if split is not None:
        return loaded[split]
    return IterableDatasetDict(loaded) if streaming else DatasetDict(loaded)


def _eager(pipeline: Pipeline, split: str, sample_size: int | None) -> Dataset:
    if sample_size is not None:
        pipeline = IterableDataset(pipeline).take(sample_size).pipeline
    table = collect(local.iter_batches(pipeline))
    return Dataset(table, split, pipeline.source.description)


def _local_copies(files: list[str], token: str | None) -> list[str]:
    """For an eager load from the Hub, the files from the Hugging Face cache (downloaded once)."""
    if not any(f.startswith("hf://") for f in files):
        return files
    from crucible_datasets.storage import hub

    return hub.download_files(files, token=token)


def _describe(path: str, config: str, split: str) -> str:
    return f"{path} (config {config}, split {split})"


__all__ = ["as_schema", "load", "resolve"]
