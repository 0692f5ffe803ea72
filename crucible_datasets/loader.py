"""``load()``: a dataset by path or Hub id, by config and split, eagerly or as a stream."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import check_on_error
from crucible_datasets.dataset import Dataset, collect
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.formats import get_format
from crucible_datasets.formats.base import ReadOptions
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.runners import local
from crucible_datasets.sources import FileSource
from crucible_datasets.storage import discovery
from crucible_datasets.storage.discovery import Layout
from crucible_datasets.transforms.columns import SelectColumns


def as_schema(schema: pa.Schema | Mapping[str, str | pa.DataType] | None) -> pa.Schema | None:
    """A declared schema: a ``pyarrow.Schema`` or ``{"column": "int64" | pa.DataType, ...}``.

    It may name only some columns (:func:`crucible_datasets.schema.partial`): those are cast,
    the others keep their inferred or stored types (``columns=`` drops columns). A named column
    that a Parquet or CSV file lacks is an error naming the file; JSON rows without it get None.
    """
    if schema is None:
        return None
    if isinstance(schema, pa.Schema):
        return schemas.partial(schema)
    fields = []
    for name, kind in schema.items():
        if isinstance(kind, str):
            try:
                kind = pa.type_for_alias(kind)
            except ValueError:
                raise ValueError(f"schema: unknown type {kind!r} for column {name!r}") from None
        fields.append(pa.field(name, kind))
    return schemas.partial(pa.schema(fields))


def resolve(
    path: str, *, revision: str | None = None, token: str | None = None, format: str | None = None
) -> Layout:
    """The configs, splits and files of ``path``: a file, glob, folder, hf:// path or Hub id.

    ``format`` is the reader asked for: in a config whose files are of several formats it picks
    that format's files (without it, such a config is an error when read: ``Layout.config``).
    An ``owner/name`` that is neither a local path nor a Hub dataset is a ``DatasetNotFoundError``
    that says both, with the Hub's reason (not found, no access, unreachable).
    """
    from crucible_datasets.storage.hub.dataset import is_hub_id, resolve_hub

    if path.startswith("hf://"):
        return resolve_hub(path, revision=revision, token=token, format=format)
    if is_hub_id(path):
        return _resolve_hub_id(path, revision, token, format)
    if revision is not None:
        raise ValueError("revision= applies to Hugging Face Hub datasets only")
    return discovery.resolve(path, format)


def _resolve_hub_id(path: str, revision: str | None, token: str | None, format: str | None) -> Layout:
    """``owner/name[@rev]`` on the Hub; if it is not there either, an error naming both places."""
    from crucible_datasets.storage.http.retry import RemoteAccessError, RemoteError, RemoteNotFoundError
    from crucible_datasets.storage.hub.api import endpoint
    from crucible_datasets.storage.hub.dataset import resolve_hub
    from crucible_datasets.storage.hub.paths import HubPath, split_hub_id

    try:
        return resolve_hub(path, revision=revision, token=token, format=format)
    except RemoteError as exc:
        repo_id, rev = split_hub_id(path)
        where = HubPath("dataset", repo_id, revision or rev, "")
        reason = str(exc)
        if reason.startswith(where.describe() + ": "):
            reason = reason[len(where.describe()) + 2 :]
        if isinstance(exc, (RemoteNotFoundError, RemoteAccessError)):
            hub_side = f", and no Hub dataset {path!r} on {endpoint()} ({reason})"
        else:
            hub_side = f", and no Hub dataset {path!r}: the Hub at {endpoint()} could not be asked"
            hub_side += f" ({reason})"
        raise discovery.DatasetNotFoundError(discovery.describe_missing(path, also=hub_side)) from exc


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
    delimiter: str | None = None,
    sep: str | None = None,
    quotechar: str | None = None,
    header: int | str | None = "infer",
    column_names: Sequence[str] | None = None,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict:
    """Load a dataset split (``split=``) or all splits of a config.

    Returns a ``Dataset`` (eager, Arrow in memory) for a split, a ``DatasetDict`` without one,
    and their lazy ``IterableDataset`` forms with ``streaming=True``.

    CSV: ``delimiter=`` (alias ``sep=``; default: sniffed, a tab for ``.tsv``), ``quotechar=``,
    ``header=`` (``"infer"``, the default of pandas and ``datasets``: no header row when
    ``column_names`` is given, else the first row names the columns; 0: the first row names the
    columns, and ``column_names`` replace its names; None: no header row) and ``column_names=``.
    Unset, they come from the README config, if it has them.

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
    layout = resolve(path, revision=revision, token=token, format=format)
    chosen = layout.config(config)
    options = ReadOptions(
        columns=tuple(columns) if columns is not None else None,
        schema=as_schema(schema),
        field=field or chosen.options.get("field"),
        **_csv_options(chosen.name, chosen.options, delimiter, sep, quotechar, header, column_names),
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
            fill_missing=options.columns is None or options.schema is not None,
        )
        pipeline = Pipeline(source)
        if not source.fill_missing:  # the projection, checked: a column no file has is an error
            pipeline = pipeline.then(SelectColumns(options.columns, what=f"load(columns={list(columns)!r})"))
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
    from crucible_datasets.storage.hub.download import download_files

    return download_files(files, token=token)


def _describe(path: str, config: str, split: str) -> str:
    return f"{path} (config {config}, split {split})"


def _csv_options(
    config: str,
    readme: Mapping,
    delimiter: str | None,
    sep: str | None,
    quotechar: str | None,
    header: int | str | None,
    column_names: Sequence[str] | None,
) -> dict:
    """The CSV fields of ``ReadOptions``: keyword arguments, else the README config's options."""

    def one_delimiter(delimiter, sep, where: str) -> str | None:
        if delimiter is not None and sep is not None and delimiter != sep:
            raise ValueError(
                f"{where}delimiter={delimiter!r} and sep={sep!r} disagree; give one (sep is an alias)"
            )
        return delimiter if delimiter is not None else sep

    chosen = one_delimiter(delimiter, sep, "")
    if chosen is None:
        chosen = one_delimiter(readme.get("delimiter"), readme.get("sep"), f"README config {config!r}: ")
    if quotechar is None:
        quotechar = readme.get("quotechar", '"')
    if column_names is None:
        column_names = readme.get("column_names", readme.get("names"))
    if header == "infer" and "header" in readme:
        header = readme["header"]
    if header == "infer":
        header = None if column_names is not None else 0
    if isinstance(column_names, str):
        raise ValueError(f"column_names must be a list of strings, got {column_names!r}")
    return {
        "delimiter": chosen,
        "quotechar": quotechar,
        "header": header,
        "column_names": tuple(column_names) if column_names is not None else None,
    }


__all__ = ["as_schema", "load", "resolve"]
