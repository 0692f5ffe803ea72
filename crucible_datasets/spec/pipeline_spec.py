"""A checked pipeline spec: :func:`load_spec` reads one, :class:`PipelineSpec` builds and runs it.

Loading checks everything before anything runs, and reports every problem at once with its
line (:class:`~crucible_datasets.spec.problems.SpecError`): the keys and values against the JSON
Schema, then each function imported by its path, the source resolved (its files listed, none
read) and each stage made. A spec is plain data: loading it imports the modules of the functions
and stage classes it names, and runs nothing else.

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "train.jsonl"), "w").write('{"x": 1}\\n{"x": 5}\\n')
>>> spec = load_spec({"source": {"path": d}, "stages": [{"op": "where", "expression": "x > 2"}],
...                   "sink": {"path": os.path.join(d, "out"), "format": "jsonl"}})
>>> print(spec.run())  # doctest: +ELLIPSIS
train: 1 rows in 1 shard (...) at .../out/data/train-*.jsonl; read 2, filtered 1, bad 0; ... s
>>> load_spec({"source": {"path": d}, "stages": [{"op": "take"}, {"op": "skip", "n": -1}]})
Traceback (most recent call last):
...
crucible_datasets.spec.problems.SpecError: <spec> has 2 problems:
  <spec>: stages[0]: 'n' is a required key
  <spec>: stages[1].n: -1 is less than the minimum of 0
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import yaml

from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.loader import load
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.sinks import WriteSummary
from crucible_datasets.sources import TableSource
from crucible_datasets.spec.document import Document, read_file
from crucible_datasets.spec.functions import resolve, resolve_function
from crucible_datasets.spec.problems import Problem, SpecError
from crucible_datasets.spec.schema import FUNCTION_ARGUMENTS, schema_problems
from crucible_datasets.splits import is_expression
from crucible_datasets.transforms.base import Stage
from crucible_datasets.writing import Writable

WRITERS = {"parquet": "write_parquet", "jsonl": "write_jsonl"}
# Sink keys handed to the writer when given (the rest take the writer's defaults).
SINK_OPTIONS = (
    "split", "config", "num_shards", "max_rows_per_shard", "max_bytes_per_shard", "compression",
    "allow_empty", "max_bad_fraction", "max_bad_records", "incremental",
)  # fmt: skip
DEFAULT_SPLIT = "train"


@dataclass(frozen=True)
class PipelineSpec:
    """A spec that :func:`load_spec` checked, and the dataset it describes (source and stages)."""

    document: Document
    dataset: IterableDataset

    @property
    def data(self) -> dict:
        return self.document.data

    @property
    def sink(self) -> dict | None:
        return self.data.get("sink")

    @property
    def runner(self) -> dict:
        return self.data.get("runner") or {}

    def pipeline(self) -> Pipeline:
        """The source and stages, as ``Pipeline.from_spec`` returns them."""
        return self.dataset.pipeline

    def write_options(self) -> dict:
        """The keyword arguments of the sink's writer (``write_parquet``/``write_jsonl``): the sink's
        keys that are given, the split (the source's by default), and the runner's."""
        sink = self.sink
        if sink is None:
            raise SpecError(self.document.name, [Problem(("sink",), None, "the spec has no sink to write")])
        options = {"path": sink["path"], **{k: sink[k] for k in SINK_OPTIONS if k in sink}}
        options.setdefault("split", self.data["source"].get("split", DEFAULT_SPLIT))
        runner = self.runner
        for key, name in (("name", "runner"), ("options", "options"), ("progress", "progress")):
            if key in runner:
                options[name] = list(runner[key]) if key == "options" else runner[key]
        if "spec" in inspect.signature(getattr(Writable, self.writer)).parameters:
            options["spec"] = self.to_dict()  # recorded in the manifest
        return options

    def build(self) -> tuple[IterableDataset, dict]:
        """The dataset and the keyword arguments of its writer (:meth:`writer` names it)."""
        return self.dataset, self.write_options()

    @property
    def writer(self) -> str:
        """The dataset method that writes the sink: ``write_parquet`` or ``write_jsonl``."""
        return WRITERS[(self.sink or {}).get("format", "parquet")]

    def run(self, extra_options: Sequence[str] = ()) -> WriteSummary | None:
        """Write the sink (Beam flags ``extra_options`` added to the runner's); None when a Beam
        runner only built the job (``--dry_run``)."""
        dataset, options = self.build()
        if extra_options:
            options["options"] = [*options.get("options", ()), *extra_options]
        return getattr(dataset, self.writer)(**options)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.data)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)


def load_spec(spec: str | Mapping | Document, overrides: Sequence[str] = ()) -> PipelineSpec:
    """Read and check a spec: a path to a YAML or JSON file, a mapping, or a :class:`Document`;
    ``overrides`` are ``a.b=value`` settings (``--set``). Raises one
    :class:`~crucible_datasets.spec.problems.SpecError` listing every problem, each with its line."""
    if isinstance(spec, Document):
        doc = spec
    elif isinstance(spec, Mapping):
        doc = Document(copy.deepcopy(dict(spec)))
    else:
        doc = read_file(spec)
    doc = doc.with_overrides(overrides)
    problems = schema_problems(doc)
    if not isinstance(doc.data, dict):
        raise SpecError(doc.name, problems)
    broken = {p.path[:2] for p in problems}
    dataset = _source(doc, problems, ("source",) in {b[:1] for b in broken})
    for index, stage in enumerate(doc.data.get("stages") or ()):
        if ("stages", index) not in broken and dataset is not None:
            dataset = _stage(doc, dataset, index, stage, problems)
    _check_sink(doc, problems, broken)
    if problems:
        raise SpecError(doc.name, problems)
    return PipelineSpec(doc, dataset)


def pipeline_from_spec(spec: str | Mapping | Document, overrides: Sequence[str] = ()) -> Pipeline:
    """``Pipeline.from_spec``: the source and stages of a spec."""
    return load_spec(spec, overrides).pipeline()


def _source(doc: Document, problems: list[Problem], broken: bool) -> IterableDataset:
    """The source's dataset; with a problem in it, an empty stand-in, so the stages are still checked."""
    source = doc.data.get("source")
    stand_in = IterableDataset(Pipeline(TableSource(pa.table({}))))
    if broken or not isinstance(source, dict):
        return stand_in
    arguments = {"split": DEFAULT_SPLIT, **source}
    try:
        return load(streaming=True, **arguments)
    except (ValueError, TypeError, KeyError, OSError) as exc:  # CrucibleErrors are among these
        problems.append(doc.problem(("source",), f"cannot read the source: {_message(exc)}"))
        return stand_in


def _stage(doc: Document, dataset: IterableDataset, index: int, stage: dict, problems: list[Problem]):
    """``dataset`` with the stage added; if it cannot be made, the problems and ``dataset`` as it was."""
    op = stage["op"]
    arguments = {k: v for k, v in stage.items() if k != "op"}
    failed = False
    for name in FUNCTION_ARGUMENTS[op] & arguments.keys():
        if arguments[name] is not None:
            try:
                arguments[name] = resolve_function(arguments[name])
            except ValueError as exc:
                problems.append(doc.problem(("stages", index, name), str(exc)))
                failed = True
    if failed:
        return dataset
    try:
        if op == "apply":
            return dataset.apply(_own_stage(arguments["stage"], arguments.get("args") or {}))
        method = getattr(dataset, op, None)
        if method is None:
            problems.append(doc.problem(("stages", index, "op"), f"this crucible version has no op {op!r}"))
            return dataset
        return method(**arguments)
    except (ValueError, TypeError, KeyError) as exc:
        problems.append(doc.problem(("stages", index), f"{op}: {_message(exc)}"))
        return dataset


def _own_stage(ref: str, args: dict) -> Stage:
    cls = resolve(ref)
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise ValueError(f"{ref} is not a crucible_datasets.Stage class")  # checked before it is called
    return cls(**args)


def _check_sink(doc: Document, problems: list[Problem], broken: set) -> None:
    sink, runner = doc.data.get("sink"), doc.data.get("runner")
    if isinstance(sink, dict) and ("sink",) not in {b[:1] for b in broken}:
        split = sink.get("split", (doc.data.get("source") or {}).get("split", DEFAULT_SPLIT))
        if isinstance(split, str) and is_expression(split) and "split" not in sink:
            message = f"the source split {split!r} is an expression; give sink.split"
            problems.append(doc.problem(("sink",), message))
        writer = getattr(Writable, WRITERS[sink.get("format", "parquet")])
        takes = inspect.signature(writer).parameters
        for key in [k for k in SINK_OPTIONS if k in sink and k not in takes]:
            problems.append(doc.problem(("sink", key), f"this version's {writer.__name__} has no {key}"))
    if isinstance(runner, dict) and runner.get("options") and runner.get("name", "local") == "local":
        message = "Beam flags need a Beam runner (runner.name: direct, ...)"
        problems.append(doc.problem(("runner", "options"), message))


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    return text or type(exc).__name__
