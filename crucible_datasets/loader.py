"""``load()``: a dataset by path or Hub id, by config and split, eagerly or as a stream."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import replace

import pyarrow as pa

from crucible_datasets import schema as schemas
from crucible_datasets.bad_records import check_on_error
from crucible_datasets.dataset import Dataset, collect
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.features import Features, as_features
from crucible_datasets.formats import get_format
from crucible_datasets.formats.base import ReadOptions
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.pipeline import Origin, Pipeline
from crucible_datasets.runners import local
from crucible_datasets.sources import FileSource
from crucible_datasets.splits import SplitExpressionError, is_expression
from crucible_datasets.storage import discovery
from crucible_datasets.storage.discovery import Layout, LayoutError, Selection
from crucible_datasets.transforms.columns import SelectColumns

# datasets' packaged builders that name a format: load("json", data_files=...) as in datasets.
BUILDER_FORMATS = {"json": None, "csv": "csv", "parquet": "parquet", "text": "text", "arrow": "arrow"}


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
    path: str,
    *,
    revision: str | None = None,
    token: str | None = None,
    format: str | None = None,
    data_files: str | Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    data_dir: str | None = None,
    config: str | None = None,
) -> Layout:
    """The configs, splits and files of ``path``: a file, glob, folder, hf:// path or Hub id.

    ``format`` is the reader asked for: in a config whose files are of several formats it picks
    that format's files (without it, such a config is an error when read: ``Layout.config``).
    ``data_files``/``data_dir`` pick files inside the folder or repo instead of its README
    configs or split inference (:class:`~crucible_datasets.storage.discovery.Selection`; one
    config, ``config`` or ``default``). A ``path`` that is a ``datasets`` builder name
    (``"json"``, ``"csv"``, ``"parquet"``) and no local path reads ``data_files`` relative to
    the working directory (or ``data_dir``), as ``datasets`` does.
    An ``owner/name`` that is neither a local path nor a Hub dataset is a ``DatasetNotFoundError``
    that says both, with the Hub's reason (not found, no access, unreachable).
    """
    import os

    from crucible_datasets.storage.hub.dataset import is_hub_id, resolve_hub

    selection = Selection(data_files, data_dir, config)
    selection = None if selection.empty else selection
    if path.startswith("hf://"):
        return resolve_hub(path, revision=revision, token=token, format=format, selection=selection)
    if is_hub_id(path):
        return _resolve_hub_id(path, revision, token, format, selection)
    if revision is not None:
        raise ValueError("revision= applies to Hugging Face Hub datasets only")
    if path in BUILDER_FORMATS and not os.path.exists(path):
        if selection is None:
            raise ValueError(f"load({path!r}) reads the files of data_files= (or data_dir=); give one")
        return discovery.resolve_patterns(os.getcwd(), selection, format or _builder_format(path))
    return discovery.resolve(path, format, selection)


def _builder_format(path: str) -> str | None:
    kind = BUILDER_FORMATS[path]
    if kind is not None:
        get_format(kind)  # a builder we have no reader for: the error lists the formats
    return kind


def _resolve_hub_id(
    path: str, revision: str | None, token: str | None, format: str | None, selection: Selection | None
) -> Layout:
    """``owner/name[@rev]`` on the Hub; if it is not there either, an error naming both places."""
    from crucible_datasets.storage.http.retry import RemoteAccessError, RemoteError, RemoteNotFoundError
    from crucible_datasets.storage.hub.api import endpoint
    from crucible_datasets.storage.hub.dataset import resolve_hub
    from crucible_datasets.storage.hub.paths import HubPath, split_hub_id

    try:
        return resolve_hub(path, revision=revision, token=token, format=format, selection=selection)
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
    split: str | Sequence[str] | None = None,
    streaming: bool = False,
    sample_size: int | None = None,
    format: str | None = None,
    schema: pa.Schema | Mapping[str, str | pa.DataType] | None = None,
    features: Features | Mapping | list | str | None = None,
    columns: Sequence[str] | None = None,
    data_files: str | Sequence[str] | Mapping[str, str | Sequence[str]] | None = None,
    data_dir: str | None = None,
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
    sample_by: str | None = None,
    keep_linebreaks: bool | None = None,
) -> Dataset | DatasetDict | IterableDataset | IterableDatasetDict | list:
    """Load a dataset split (``split=``) or all splits of a config.

    Returns a ``Dataset`` (eager, Arrow in memory) for a split, a ``DatasetDict`` without one,
    and their lazy ``IterableDataset`` forms with ``streaming=True``; a list of splits gives a
    list, as in ``datasets``.

    ``split`` may be an expression, as in ``datasets``: ``"train[:10%]"``, ``"train[100:200]"``,
    ``"train[-500:]"``, ``"train+test"``, ``"test[:50%]+train[:10]"`` (percents rounded to the
    closest row; see :mod:`crucible_datasets.splits`). Unlike ``datasets``, streaming takes
    expressions too, and reads Parquet row groups outside the slice not at all.

    ``data_files`` (a pattern, a list: split ``train``, or ``{split: pattern(s)}``; relative to
    ``path``, or absolute) and ``data_dir`` pick the files inside a folder or Hub repo, in place
    of its README configs; ``load("json", data_files=...)`` reads them from the working
    directory. ``features`` (a :class:`~crucible_datasets.features.Features`, its card YAML or
    JSON form) declares column types like ``schema`` (give one of the two); class label columns
    take names or numbers. Unlike ``datasets``, features may name only some columns; the
    others keep their types.

    CSV: ``delimiter=`` (alias ``sep=``; default: sniffed, a tab for ``.tsv``), ``quotechar=``,
    ``header=`` (``"infer"``, the default of pandas and ``datasets``: no header row when
    ``column_names`` is given, else the first row names the columns; 0: the first row names the
    columns, and ``column_names`` replace its names; None: no header row) and ``column_names=``.
    Unset, they come from the README config, if it has them.

    Text (``.txt``, ``format="text"``): ``sample_by=`` (``"line"``, the default, ``"paragraph"``
    or ``"document"``: what one row of ``text`` is) and ``keep_linebreaks=`` (False), as
    ``datasets``; unset, from the README config too.

    >>> import crucible_datasets as cd, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> for s in ("train", "test"):
    ...     _ = open(os.path.join(d, f"{s}.jsonl"), "w").write('{"q": "1+1", "a": 2}\\n')
    >>> dd = cd.load(d)
    >>> {split: len(ds) for split, ds in dd.items()}
    {'train': 1, 'test': 1}
    >>> len(cd.load(d, data_files={"test": "t*.jsonl"}, split="test[:1]"))
    1
    """
    given = {name: value for name, value in locals().items() if value is not LOAD_DEFAULTS[name]}
    check_on_error(on_error)
    if format is not None:
        get_format(format)
    if on_error == "dead_letter" and errors_path is None and not streaming:
        raise ValueError("on_error='dead_letter' needs errors_path= (a folder for the bad records)")
    if schema is not None and features is not None:
        raise ValueError("give schema= or features=, not both (features= is the datasets form)")
    declared = as_features(features) if features is not None else None
    picked = {"data_files": data_files, "data_dir": data_dir, "config": config}
    layout = resolve(path, revision=revision, token=token, format=format, **picked)
    chosen = layout.config(config if data_files is None and data_dir is None else None)
    options = ReadOptions(
        columns=tuple(columns) if columns is not None else None,
        schema=as_schema(schema) if declared is None else _reader_schema(declared),
        field=field or chosen.options.get("field"),
        **_csv_options(chosen.name, chosen.options, delimiter, sep, quotechar, header, column_names),
        sample_by=sample_by if sample_by is not None else chosen.options.get("sample_by", "line"),
        keep_linebreaks=(
            keep_linebreaks if keep_linebreaks is not None else chosen.options.get("keep_linebreaks", False)
        ),
    )
    if split is not None and not isinstance(split, str):
        names = list(split)
    else:
        names = [split] if split is not None else list(chosen.splits)
    loaded = {}
    for name in names:
        reader = FileSource(
            (),
            format,
            options,
            on_error,
            errors_path,
            description=_describe(path, chosen.name, name),
            root=layout.root,
            fill_missing=options.columns is None or options.schema is not None,
        )
        source = _source(layout, chosen.name, name, reader, streaming, token)
        pipeline = Pipeline(source)
        if declared is not None:
            from crucible_datasets.features import CastToFeatures

            pipeline = pipeline.then(CastToFeatures(declared))
        if not reader.fill_missing:  # the projection, checked: a column no file has is an error
            pipeline = pipeline.then(SelectColumns(options.columns, what=f"load(columns={list(columns)!r})"))
        origin = {k: v for k, v in given.items() if k not in NOT_IN_SPEC}
        pipeline = replace(pipeline, origin=Origin({**origin, "split": name}, len(pipeline.stages)))
        loaded[name] = IterableDataset(pipeline, name) if streaming else _eager(pipeline, name, sample_size)
        if streaming and sample_size is not None:
            loaded[name] = loaded[name].take(sample_size)
    if split is not None:
        return loaded[split] if isinstance(split, str) else [loaded[n] for n in names]
    return IterableDatasetDict(loaded) if streaming else DatasetDict(loaded)


# What a spec's source names: load()'s arguments but these (a token is a secret; a spec streams,
# and a streaming sample_size is the take stage after the source).
NOT_IN_SPEC = frozenset({"token", "streaming", "sample_size"})
LOAD_DEFAULTS = {name: p.default for name, p in inspect.signature(load).parameters.items()}  # path: empty


def _reader_schema(features: Features) -> pa.Schema | None:
    """What the readers cast to: the declared columns but class labels (``CastToFeatures`` maps
    those, as they may be names or numbers)."""
    from crucible_datasets.features import ClassLabel

    fields = [f for f in features.arrow_schema if not isinstance(features[f.name], ClassLabel)]
    return schemas.partial(pa.schema(fields)) if fields else None


def _source(layout: Layout, config: str, split: str, reader: FileSource, streaming: bool, token: str | None):
    """The source of ``split``: a split's files, or the planned rows of a split expression."""
    from crucible_datasets import splits

    def files_of(name: str) -> list[str]:
        try:
            files = layout.files(config, name)
        except LayoutError as exc:
            if name == split:
                raise
            raise SplitExpressionError(f"split={split!r}: {exc}") from None
        return files if streaming else _local_copies(files, token=token)

    if not is_expression(split):
        return replace(reader, files=tuple(files_of(split)))
    try:
        splits.parse_split(split)
    except SplitExpressionError as exc:
        available = ", ".join(layout.config(config).splits)
        raise SplitExpressionError(f"{exc}; available splits: {available}") from None
    return splits.plan(split, files_of, reader)


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
