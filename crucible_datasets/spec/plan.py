"""``crucible plan``: a checked spec's stage graph and the tasks it would run, as text; nothing runs.

The tasks are the pipeline's own ``plan_tasks`` (the local runner's), or on a Beam runner the
plan it would choose (``runners.beam.plan.plan_beam``): each task's file parts, in the format's
unit (byte ranges of line files, row groups of Parquet, or the whole file).

>>> import tempfile, os
>>> from crucible_datasets.spec import load_spec
>>> d = tempfile.mkdtemp(); _ = open(os.path.join(d, "train.jsonl"), "w").write('{"x": 1}\\n' * 4)
>>> spec = load_spec({"source": {"path": d}, "stages": [{"op": "where", "expression": "x > 0"}],
...                   "sink": {"path": os.path.join(d, "out"), "num_shards": 2}})
>>> print(plan_text(spec).replace(d, "D"), end="")
source: D (split train): 1 file, 36 bytes
  1. where [per_batch] expression='x > 0'
sink: D/out (parquet, split train, num_shards 2)
runner: local
2 tasks for 2 shards:
  task 0 -> shards 0:
      D/train.jsonl bytes [0, 18)
  task 1 -> shards 1:
      D/train.jsonl bytes [18, 36)
"""

from __future__ import annotations

from crucible_datasets.formats import format_for_path, get_format
from crucible_datasets.formats.base import FilePart
from crucible_datasets.pipeline import ShardTask
from crucible_datasets.spec.pipeline_spec import DEFAULT_SPLIT, PipelineSpec

UNITS = {"bytes": "bytes", "row_groups": "row groups"}


def plan_text(spec: PipelineSpec) -> str:
    """The source, each stage with its kind, the sink, the runner, and the tasks."""
    data = spec.data
    source = data["source"]
    pipeline = spec.pipeline()
    files = pipeline.source.files
    where = [f"config {source['config']}"] if "config" in source else []
    where.append(f"split {source.get('split', DEFAULT_SPLIT)}")
    nbytes = pipeline.source.total_bytes()
    plural = "" if len(files) == 1 else "s"
    lines = [f"source: {source['path']} ({', '.join(where)}): {len(files)} file{plural}, {nbytes:,} bytes"]
    own = data.get("stages") or []
    by_source = pipeline.stages[: len(pipeline.stages) - len(own)]
    lines += [f"  -. {stage.name} [{stage.kind.value}] (made by the source's options)" for stage in by_source]
    for number, (stage, described) in enumerate(zip(pipeline.stages[len(by_source) :], own, strict=True), 1):
        arguments = " ".join(f"{k}={v!r}" for k, v in described.items() if k != "op")
        lines.append(f"  {number}. {described['op']} [{stage.kind.value}] {arguments}".rstrip())
    sink = spec.sink
    if sink is None:
        lines.append("sink: none (the spec cannot run)")
        return "\n".join(lines) + "\n"
    split = sink.get("split", source.get("split", DEFAULT_SPLIT))
    options = [sink.get("format", "parquet"), f"split {split}"]
    options += [f"{k} {sink[k]}" for k in sink if k not in ("path", "format", "split")]
    lines.append(f"sink: {sink['path']} ({', '.join(options)})")
    runner = spec.runner.get("name", "local")
    flags = " ".join(spec.runner.get("options") or ())
    lines.append(f"runner: {runner}{' ' + flags if flags else ''}")
    lines += _tasks(spec, runner)
    return "\n".join(lines) + "\n"


def _tasks(spec: PipelineSpec, runner: str) -> list[str]:
    pipeline = spec.pipeline()
    num_shards = (spec.sink or {}).get("num_shards") or pipeline.default_num_shards()
    fmt = spec.data["source"].get("format")
    if runner == "local":
        tasks, head = pipeline.plan_tasks(num_shards), ""
    else:
        from crucible_datasets.runners.beam.plan import plan_beam

        plan = plan_beam(pipeline, num_shards)
        tasks = list(plan.tasks)
        if plan.kind == "distributed":
            keyed = ", ".join(str(i + 1) for i in plan.keyed)
            head = (
                f"distributed on Beam: read tasks, then stage(s) {keyed} by key, then {num_shards} writers; "
            )
        else:
            head = "on Beam, "
    one = len(tasks) == 1 and pipeline.whole_stream
    why = " (a whole-stream stage reads everything in one task)" if one else ""
    lines = [f"{head}{len(tasks)} task{'' if len(tasks) == 1 else 's'} for {num_shards} shards{why}:"]
    lines += [_task(task, fmt) for task in tasks]
    return lines


def _task(task: ShardTask, fmt: str | None) -> str:
    slots = ", ".join(map(str, task.slots)) if task.slots else "by position"
    parts = "".join(f"\n      {_part(p, fmt)}" for p in task.parts) or " no input"
    return f"  task {task.index} -> shards {slots}:{parts}"


def _part(part: FilePart, fmt: str | None) -> str:
    unit = (get_format(fmt) if fmt else format_for_path(part.path)).split_unit_of(part.path)
    if part.end is None and part.start == 0 or unit == "whole":
        return f"{part.path} (whole file)"
    end = part.end
    if end is None:  # to the end of the file
        end = part.start + part.nbytes if unit == "bytes" and part.nbytes is not None else "end"
    return f"{part.path} {UNITS.get(unit, unit)} [{part.start}, {end})"
