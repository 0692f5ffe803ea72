"""The command line: ``crucible run``, ``validate``, ``plan``, ``report``, ``info``, ``head``.

    crucible run openthoughts --input PATH --output PATH [--split S] [--runner direct] [beam flags...]
    crucible run openthoughts --sample --output PATH      (the embedded 300-row sample)
    crucible run spec.yaml [--set sink.path=gs://b/out ...] [beam flags...]   (docs/SPEC.md)
    crucible validate spec.yaml | crucible plan spec.yaml [--graph plan.svg]
    crucible report OUTPUT [--split S] [--graph out.svg]
    crucible info PATH [--config C]
    crucible head PATH [--config C] [--split S] [-n N]

Flags that ``run`` does not know are handed to Beam (``--direct_num_workers=2``,
``--project ...``), so a Beam runner gets every option it understands. Mistakes (a missing
path, a missing bucket, mixed formats, a bad flag value) exit with status 2 and one message.
"""

from __future__ import annotations

import argparse
import gc
import re
import sys
from collections.abc import Sequence

import orjson

from crucible_datasets.errors import CrucibleError
from crucible_datasets.pipelines import PIPELINES
from crucible_datasets.spec import command as specs
from crucible_datasets.templates import command as templates

RUNNER_HELP = (
    "auto (default: local for a small input or a one-task job, else direct with a worker per core; it "
    "says which), local (in-process), direct (Beam's FnApiRunner), or a Beam runner name (DataflowRunner...)"
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*$", re.IGNORECASE)


def whole_number(at_least: int):
    """An argparse type: an integer >= ``at_least``.

    >>> whole_number(0)("0"), whole_number(1)("3")
    (0, 3)
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < at_least:
            raise argparse.ArgumentTypeError(f"must be at least {at_least}, got {value}")
        return value

    return parse


positive_int = whole_number(1)
non_negative_int = whole_number(0)


def fraction(text: str) -> float:
    """An argparse type: a number with 0 <= f < 1 (``0.01`` is one percent).

    >>> fraction("0.05")
    0.05
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def byte_size(text: str) -> int:
    """An argparse type: a size in bytes, ``1000000``, ``500MB``/``500M`` (10^6) or ``512MiB`` (2^20).

    >>> byte_size("256MB"), byte_size("1GiB"), byte_size("4096")
    (256000000, 1073741824, 4096)
    """
    found = _SIZE.match(text)
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500000000, 500MB, 512MiB)")
    number, unit, binary = found.groups()
    power = "kmgt".find(unit.lower()) + 1 if unit else 0
    value = int(float(number) * (1024 if binary else 1000) ** power)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text!r}")
    return value


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="dataset config (see `crucible info`)")
    parser.add_argument("--revision", default=None, help="Hub branch, tag or commit")
    parser.add_argument(
        "--format",
        dest="input_format",
        default=None,
        help="input format if not by extension; among files of several formats, read only these",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crucible", description="Prepare ML datasets, in-process or on Beam."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run a ready pipeline, or a pipeline spec (a .yaml/.yml/.json path)",
        description="crucible run PIPELINE ... runs a ready pipeline; crucible run SPEC.yaml "
        "[--set KEY=VALUE ...] runs a pipeline spec (docs/SPEC.md; crucible run SPEC.yaml --help).",
    )
    names = run.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    for pipeline in PIPELINES.values():
        sub = names.add_parser(pipeline.name, help=pipeline.help, description=pipeline.help)
        source = sub.add_mutually_exclusive_group(required=True)
        source.add_argument("--input", help="file, glob, folder, hf:// path or Hub id (owner/name)")
        if pipeline.name == "openthoughts":
            source.add_argument("--sample", action="store_true", help="use the embedded sample as input")
        sub.add_argument("--output", required=True, help="output folder (local path or gs://bucket/path)")
        sub.add_argument("--split", default="train", help="input split (default train)")
        sub.add_argument("--output-split", default=None, help="split name of the output (default: --split)")
        _add_source_arguments(sub)
        sub.add_argument("--runner", default="auto", help=RUNNER_HELP)
        sub.add_argument("--num-shards", type=positive_int, default=None, help="output shards (>= 1)")
        sub.add_argument("--max-rows-per-shard", type=positive_int, default=None)
        sub.add_argument("--max-bytes-per-shard", type=byte_size, default=None, help="e.g. 500MB or 512MiB")
        sub.add_argument("--on-error", choices=["raise", "skip", "dead_letter"], default="raise")
        sub.add_argument(
            "--allow-empty",
            action="store_true",
            help="write the empty split even when every row read was bad (default: fail, keep the output)",
        )
        sub.add_argument(
            "--max-bad-records", type=non_negative_int, default=None,
            help="fail, publishing nothing, past N bad records (with --on-error skip or dead_letter)",
        )  # fmt: skip
        sub.add_argument(
            "--max-bad-fraction", type=fraction, default=None,
            help="fail, publishing nothing, when more than this share (0 <= f < 1) of the rows read is bad",
        )  # fmt: skip
        sub.add_argument(
            "--incremental",
            action="store_true",
            help="read only input files new or changed since the published split; keep the others' shards",
        )
        pipeline.add_arguments(sub)

    info = commands.add_parser("info", help="configs, splits, files, bytes and row counts of a dataset")
    info.add_argument("path")
    _add_source_arguments(info)

    head = commands.add_parser("head", help="print the first rows of a split as JSON lines")
    head.add_argument("path")
    head.add_argument("--split", default=None)
    head.add_argument("-n", type=int, default=5)
    _add_source_arguments(head)
    templates.register(commands)
    specs.register(commands)
    return parser


def cmd_run(args: argparse.Namespace, beam_flags: list[str]) -> int:
    import crucible_datasets as cd

    pipeline = PIPELINES[args.pipeline]
    if getattr(args, "sample", False):
        from crucible_datasets.pipelines.openthoughts import sample_path

        args.input = sample_path()
    if beam_flags and args.runner in ("local", "auto"):  # a mistyped flag must not go to Beam unseen
        unknown = " ".join(beam_flags)
        print(f"crucible: error: unknown options {unknown} (Beam flags need --runner)", file=sys.stderr)
        return 2
    from crucible_datasets.writing import check_destination

    check_destination(args.output, args.runner, beam_flags)
    dataset = cd.load(
        args.input,
        config=args.config,
        split=args.split,
        streaming=True,
        revision=args.revision,
        format=args.input_format,
        on_error=args.on_error,
    )
    dataset = pipeline.build(dataset, args)
    output_format = getattr(args, "to_format", None) or pipeline.output_format
    write = dataset.write_parquet if output_format == "parquet" else dataset.write_jsonl
    summary = write(
        args.output,
        split=args.output_split or args.split,
        num_shards=args.num_shards,
        max_rows_per_shard=args.max_rows_per_shard,
        max_bytes_per_shard=args.max_bytes_per_shard,
        runner=args.runner,
        options=beam_flags,
        allow_empty=args.allow_empty,
        incremental=args.incremental,
        max_bad_records=args.max_bad_records,
        max_bad_fraction=args.max_bad_fraction,
    )
    print(f"crucible run {args.pipeline}: {args.input} -> {args.output}")
    if summary is None:
        print(f"the {args.runner} job was built, not run (--dry_run or --template_location)")
    else:
        print(summary)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from crucible_datasets.loader import resolve
    from crucible_datasets.storage import filesystem

    layout = resolve(args.path, revision=args.revision, format=args.input_format)
    names = [args.config] if args.config else list(layout.configs)
    configs = [layout.config(name) for name in names]  # a config that cannot be read says why
    print(f"dataset: {args.path}")
    for config in configs:
        print(f"config: {config.name}{' (default)' if config.default else ''}")
        for split, files in config.splits.items():
            sizes = [filesystem.size(f) for f in files]
            rows = [_format(f, args.input_format).num_rows(f) for f in files]
            known = "?" if any(r is None for r in rows) else f"{sum(rows):,}"
            print(f"  split: {split}  files: {len(files)}  bytes: {sum(sizes):,}  rows: {known}")
            for f, size, n in zip(files, sizes, rows, strict=True):
                print(f"    {f}  {size:,} bytes" + (f"  {n:,} rows" if n is not None else ""))
    return 0


def _format(path: str, name: str | None):
    from crucible_datasets.formats import format_for_path, get_format

    return get_format(name) if name else format_for_path(path)


def cmd_head(args: argparse.Namespace) -> int:
    import crucible_datasets as cd
    from crucible_datasets.loader import resolve

    split = args.split
    if split is None:
        layout = resolve(args.path, revision=args.revision, format=args.input_format)
        split = next(iter(layout.config(args.config).splits))
    dataset = cd.load(
        args.path,
        config=args.config,
        split=split,
        streaming=True,
        revision=args.revision,
        format=args.input_format,
    )
    out = sys.stdout.buffer
    for row in dataset.take(args.n):
        out.write(orjson.dumps(row, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    spec_run = argv[:1] == ["run"] and len(argv) > 1 and specs.is_spec_path(argv[1])
    parser = specs.run_parser() if spec_run else build_parser()
    args, extra = parser.parse_known_args(argv[1:] if spec_run else argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if spec_run:
            return specs.run_command(args, extra)
        if args.command == "run":
            return cmd_run(args, extra)
        if hasattr(args, "handler"):  # commands registered by their package (templates)
            return args.handler(args)
        if args.command == "info":
            return cmd_info(args)
        return cmd_head(args)
    except (CrucibleError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"crucible: error: {exc}", file=sys.stderr)
        return 2


def console() -> None:
    """The ``crucible`` command: :func:`main`, then exit. The process ends here, so it spares the
    interpreter's exit a collection over every object Beam and pyarrow made (``gc.freeze``;
    measured on ``make demo``'s job: 7.2 s wall without, 5.5-5.8 s with); :func:`main` itself
    leaves the collector alone, as a library function should."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
