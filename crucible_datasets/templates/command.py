"""The ``crucible template`` command line: ``crucible template build SPEC --image IMAGE --output PATH``.

:func:`register` adds the command to ``crucible``'s parser (``cli.build_parser``); the parsed
arguments carry their ``handler``.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="crucible")
>>> register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["template", "build", "s.yaml", "--image", "gcr.io/p/c", "--output", "t.json"])
>>> args.handler is build_command, args.image, args.dockerfile_dir
(True, 'gcr.io/p/c', None)
"""

from __future__ import annotations

import argparse
import os

DEFAULT_CONTEXT = "{stem}-template"


def register(commands) -> None:
    """Add ``template build`` to the subcommands ``commands`` (``add_subparsers()``'s result)."""
    template = commands.add_parser("template", help="Dataflow flex templates of a spec, for schedulers")
    actions = template.add_subparsers(dest="template_command", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="write a flex template spec file and its launcher image's build context",
        description="Write the flex template spec file of SPEC (to a local path or gs://) and the "
        "build context of its launcher image (Dockerfile, this package's setup.py and sources, the "
        "spec). Build and push the image afterwards: see docs/TEMPLATES.md.",
    )
    build.add_argument("spec", help="the pipeline spec (YAML or JSON) baked into the image")
    build.add_argument("--image", required=True, help="the launcher image to push, REGISTRY/PATH[:TAG]")
    build.add_argument("--output", required=True, help="where the template spec goes: gs://.../template.json")
    build.add_argument(
        "--dockerfile-dir",
        default=None,
        help=f"the build context folder to write (default {DEFAULT_CONTEXT.format(stem='SPEC')} here)",
    )
    build.set_defaults(handler=build_command)


def build_command(args: argparse.Namespace) -> int:
    """Run ``crucible template build``; its exit status."""
    from crucible_datasets.templates.build import build_template

    if args.dockerfile_dir is None:
        stem = os.path.splitext(os.path.basename(args.spec))[0]
        args.dockerfile_dir = DEFAULT_CONTEXT.format(stem=stem)
    built = build_template(args.spec, image=args.image, output=args.output, context_dir=args.dockerfile_dir)
    print(built.describe())
    return 0
