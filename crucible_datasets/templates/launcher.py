"""The flex template's entry point: the baked-in spec, run with a launch's parameters.

Google's launcher runs the image's entry file (``dockerfile.ENTRY_FILE``) as
``python launch.py --input=... --output=... --runner=DataflowRunner --project=... --region=...
--temp_location=... --staging_location=... --template_location=... --setup_file=...``: the
template parameters (``flex.PARAMETERS``) and Beam's pipeline options, mixed. :func:`main` takes
the parameters out, checks each against its regexes (every bad one named at once, before anything
is read or built), sets them as overrides of the spec (``input=gs://b/x`` is ``--set
source.path=gs://b/x``), and hands the rest of the flags, and ``runner_options``, to Beam: the
same ``load_spec(...).run(flags)`` as ``crucible run spec.yaml`` on the runner ``--runner``
(DataflowRunner by default). On Dataflow the launcher passes ``--template_location``, so Beam
stages the job (the package from ``setup.py``, the pipeline) and writes the job's description
there instead of submitting it; Dataflow then starts it, and this process exits at once.

>>> overrides({"output": "gs://b/out", "num_shards": "4", "incremental": "true"})
['sink.path="gs://b/out"', 'sink.num_shards=4', 'sink.incremental=true']
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence

from crucible_datasets.errors import CrucibleError
from crucible_datasets.templates import flex
from crucible_datasets.templates.flex import PARAMETER, PARAMETERS, TemplateParameterError


def parser() -> argparse.ArgumentParser:
    """The template parameters as flags (``--input``, ...); every other flag is Beam's."""
    parse = argparse.ArgumentParser(
        prog="crucible-template-launcher",
        description="Run the template's spec with a launch's parameters; other flags go to Beam.",
        allow_abbrev=False,  # a Beam flag is never taken for a parameter's prefix
    )
    for parameter in PARAMETERS:
        parse.add_argument(f"--{parameter.name}", default=None, help=parameter.help_text)
    parse.add_argument("--runner", default="DataflowRunner", help="the Beam runner (default DataflowRunner)")
    return parse


def overrides(values: Mapping[str, str]) -> list[str]:
    """The ``--set`` overrides of checked parameter values: strings quoted, so that a revision
    ``1.0`` or a config ``2024`` stays a string; ``num_shards`` a number, ``incremental`` a bool."""
    out = []
    for name, text in values.items():
        parameter = PARAMETER[name]
        if parameter.spec_key is None:
            continue
        if name == "num_shards":
            value: object = int(text)
        elif name == "incremental":
            value = text == "true"
        else:
            value = text
        out.append(f"{parameter.spec_key}={json.dumps(value)}")
    return out


def checked_values(args: argparse.Namespace, spec: Mapping) -> dict[str, str]:
    """The parameters given, each checked; one :class:`TemplateParameterError` naming every bad
    or missing one."""
    values, problems = {}, []
    for parameter in PARAMETERS:
        value = getattr(args, parameter.name)
        if value is None:
            if flex.required(parameter, spec):
                own = flex.spec_value(spec, parameter.spec_key)
                problems.append(
                    f"template parameter {parameter.name} is required: the spec's {parameter.spec_key} "
                    f"({own!r}) is not a path Dataflow's workers can reach; {parameter.name} is "
                    f"{parameter.help_text}"
                )
            continue
        try:
            values[parameter.name] = parameter.check(value)
        except TemplateParameterError as exc:
            problems.append(str(exc))
    if problems:
        raise TemplateParameterError("\n".join(problems))
    return values


def main(argv: Sequence[str] | None = None, *, spec: str) -> int:
    """Run the spec file ``spec`` with the parameters and Beam flags of ``argv``; the exit status
    (2 for a bad parameter or spec, with one message on stderr)."""
    from crucible_datasets.spec import load_spec, read_file

    args, beam_flags = parser().parse_known_args(argv)
    try:
        document = read_file(spec)
        values = checked_values(args, document.data if isinstance(document.data, dict) else {})
        flags = [*beam_flags, *values.get("runner_options", "").split()]
        pipeline = load_spec(document, [*overrides(values), f"runner.name={json.dumps(args.runner)}"])
        summary = pipeline.run(flags)
    except (CrucibleError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"crucible template: error: {exc}", file=sys.stderr)
        return 2
    if summary is None:
        print(f"crucible template: the {args.runner} job was built, not run (--dry_run, --template_location)")
    else:
        print(summary)
    return 0
