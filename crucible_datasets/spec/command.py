"""The spec commands of ``crucible``: ``run SPEC``, ``validate``, ``plan`` and ``report``.

    crucible run spec.yaml [--set sink.path=gs://b/out --set source.revision=v2] [beam flags...]
    crucible validate spec.yaml [--set KEY=VALUE ...]     every problem at once, with its line
    crucible plan spec.yaml [--set ...] [--graph plan.svg]  the stage graph and tasks; runs nothing
    crucible report OUTPUT [--config C] [--split S] [--graph out.svg]  a written split's counts

:func:`register` adds ``validate``, ``plan`` and ``report`` to ``crucible``'s parser;
``crucible run`` hands a path ending in ``.yaml``, ``.yml`` or ``.json`` to :func:`run_parser`
(ready pipelines keep their names: ``crucible run openthoughts ...``).

>>> is_spec_path("jobs/prep.yaml"), is_spec_path("openthoughts")
(True, False)
>>> run_parser().parse_known_args(["s.yaml", "--set", "sink.num_shards=2", "--direct_num_workers=2"])[0].set
['sink.num_shards=2']
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from crucible_datasets.spec.pipeline_spec import load_spec

SPEC_ENDINGS = (".yaml", ".yml", ".json")


def is_spec_path(text: str) -> bool:
    return text.lower().endswith(SPEC_ENDINGS)


def _add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the pipeline spec, YAML or JSON (docs/SPEC.md)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one value, e.g. sink.path=gs://b/out or stages.0.n=10 (a YAML scalar); repeatable",
    )


def run_parser() -> argparse.ArgumentParser:
    """``crucible run SPEC``'s arguments; flags it does not know go to the Beam runner."""
    parser = argparse.ArgumentParser(
        prog="crucible run",
        description="Run the pipeline a spec describes (docs/SPEC.md); unknown --flags go to Beam.",
    )
    _add_spec_arguments(parser)
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="read only new or changed inputs (docs/INCREMENTAL.md); the same as --set sink.incremental=true",
    )
    parser.set_defaults(command="run")
    return parser


def register(commands) -> None:
    """Add ``validate``, ``plan`` and ``report`` to ``commands`` (``add_subparsers()``'s result)."""
    validate = commands.add_parser("validate", help="check a pipeline spec: every problem, with its line")
    _add_spec_arguments(validate)
    validate.set_defaults(handler=validate_command)

    plan = commands.add_parser("plan", help="print a spec's stage graph and the tasks it would run")
    _add_spec_arguments(plan)
    plan.add_argument("--graph", metavar="OUT.svg", default=None, help="also draw the stage graph as SVG")
    plan.set_defaults(handler=plan_command)

    report = commands.add_parser("report", help="what a written split holds, per stage (from its manifest)")
    report.add_argument("output", help="an output folder written by crucible (local or gs://)")
    report.add_argument("--config", default=None, help="the config (default: every one)")
    report.add_argument("--split", default=None, help="the split (default: every one)")
    report.add_argument(
        "--graph", metavar="OUT.svg", default=None, help="draw the split's stage graph as SVG"
    )
    report.set_defaults(handler=report_command)


def run_command(args: argparse.Namespace, beam_flags: list[str]) -> int:
    spec = load_spec(args.spec, [*args.set, *(["sink.incremental=true"] if args.incremental else [])])
    runner = spec.runner.get("name", "local")
    if beam_flags and runner == "local":
        print(
            f"crucible: error: unknown options {' '.join(beam_flags)} (Beam flags need runner.name)",
            file=sys.stderr,
        )
        return 2
    dataset, options = spec.build()
    flags = [*options.get("options", ()), *beam_flags]
    from crucible_datasets.writing import check_destination

    check_destination(options["path"], runner, flags)
    summary = spec.run(beam_flags)
    print(f"crucible run {args.spec}: {spec.data['source']['path']} -> {options['path']}")
    if summary is None:
        print(f"the {runner} job was built, not run (--dry_run or --template_location)")
    else:
        print(summary)
    return 0


def validate_command(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec, args.set)  # a SpecError lists every problem (exit status 2)
    stages = spec.data.get("stages") or []
    sink = spec.sink["path"] if spec.sink else "no sink"
    print(f"{args.spec}: valid: {spec.data['source']['path']} -> {len(stages)} stage(s) -> {sink}")
    return 0


def plan_command(args: argparse.Namespace) -> int:
    from crucible_datasets.spec.plan import plan_text

    spec = load_spec(args.spec, args.set)
    sys.stdout.write(plan_text(spec))
    if args.graph:
        from crucible_datasets.graph import spec_graph

        _write_text(args.graph, spec_graph(spec))
        print(f"graph: {args.graph}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from crucible_datasets.sinks import manifest as manifests
    from crucible_datasets.storage import filesystem

    path = filesystem.join(args.output, manifests.MANIFEST_NAME)
    if not filesystem.exists(path):
        raise FileNotFoundError(
            f"{args.output} has no {manifests.MANIFEST_NAME}: it was not written by crucible"
        )
    with filesystem.open_input(path) as f:
        configs = manifests.loads(f.read())["configs"]
    chosen = [(c, s, e) for c, entry in configs.items() for s, e in (entry.get("splits") or {}).items()]
    chosen = [(c, s, e) for c, s, e in chosen if args.config in (None, c) and args.split in (None, s)]
    if not chosen:
        known = ", ".join(f"{c}/{s}" for c, entry in configs.items() for s in entry.get("splits") or {})
        raise KeyError(
            f"{path} has no config {args.config or '*'} split {args.split or '*'}; it has: {known}"
        )
    if args.graph and len(chosen) > 1:
        raise ValueError(f"--graph draws one split; {args.output} has {len(chosen)}: give --config/--split")
    for config, split, entry in chosen:
        sys.stdout.write(_report_text(config, split, entry))
    if args.graph:
        from crucible_datasets.graph import manifest_graph

        config, split, entry = chosen[0]
        _write_text(args.graph, manifest_graph(entry, args.output, split))
        print(f"graph: {args.graph}")
    return 0


def _report_text(config: str, split: str, entry: Mapping) -> str:
    counts = entry.get("counts") or {}
    lines = [
        f"{config}/{split}: {entry.get('rows', 0):,} rows in {len(entry.get('shards') or [])} shard(s), "
        f"{entry.get('bytes', 0):,} bytes ({entry.get('format', '?')}); written {entry.get('created', '?')}",
        f"  source: {entry.get('source', '?')}",
        "  counts: " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if isinstance(v, int)),
    ]
    stages = entry.get("stages") or []
    for stage in stages:
        bad = f", bad {stage['bad']:,}" if stage.get("bad") else ""
        rows = f"in {stage.get('rows_in', 0):,} out {stage.get('rows_out', 0):,}"
        lines.append(f"  {stage.get('name', '?')} [{stage.get('kind', '?')}]: {rows}{bad}")
    if not stages:
        lines.append("  (no per-stage counts recorded for this split)")
    return "\n".join(lines) + "\n"


def _write_text(path: str, text: str) -> None:
    from crucible_datasets.storage import filesystem

    with filesystem.open_output(path) as f:
        f.write(text.encode("utf-8"))
