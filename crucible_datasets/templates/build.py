"""``crucible template build``: the template spec file and the launcher image's build context.

:func:`build_template` reads and checks the pipeline spec, writes the flex template spec file
(``flex.template_spec``) to a local path or ``gs://`` (``storage.filesystem``), and fills a build
context folder: the Dockerfile (``dockerfile.py``), this package's ``setup.py`` and sources (the
image installs the package from them), a copy of the spec, the entry file, and ``metadata.json``
(the same metadata, for ``gcloud dataflow flex-template build --metadata-file``). Nothing talks to
Google: the image is built and pushed afterwards (``docs/TEMPLATES.md``).

A build context folder that exists is replaced only if an earlier build wrote it (its Dockerfile
starts with :data:`MARK`); any other non-empty folder is refused, so nothing is overwritten by
mistake.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from crucible_datasets.errors import CrucibleError
from crucible_datasets.templates import dockerfile, flex

if TYPE_CHECKING:
    from crucible_datasets.spec import Document

MARK = dockerfile.dockerfile("spec.yaml").splitlines()[0]
# REGISTRY/PATH[:TAG|@sha256:DIGEST]: a registry host (a dot or a port), then a lowercase path.
IMAGE = re.compile(
    r"[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?"  # the registry host
    r"(/[a-z0-9]+([._-][a-z0-9]+)*)+"  # the repository path
    r"(:\w[\w.-]{0,127}|@sha256:[0-9a-f]{64})?"  # a tag or a digest
)


class TemplateBuildError(CrucibleError, ValueError):
    """A ``crucible template build`` that cannot be done as asked: says what, and what exists."""


@dataclass(frozen=True)
class BuiltTemplate:
    """What a build wrote: the template spec file and the build context folder."""

    template: str
    context_dir: str
    spec: dict

    def describe(self) -> str:
        return (
            f"template spec: {self.template}\n"
            f"build context: {self.context_dir} (Dockerfile, setup.py, {dockerfile.PACKAGE}/, "
            f"{dockerfile.ENTRY_FILE}, the spec, metadata.json)"
        )


def source_root() -> str:
    """The folder of this package's ``setup.py`` (a source checkout), which the image installs."""
    import crucible_datasets

    package = os.path.dirname(os.path.abspath(crucible_datasets.__file__))
    root = os.path.dirname(package)
    if not os.path.isfile(os.path.join(root, "setup.py")):
        raise TemplateBuildError(
            f"the template image installs crucible-datasets from its setup.py, and there is none next "
            f"to the package at {package} (installed from a wheel?): build from a source checkout "
            "installed with `pip install -e .`"
        )
    return root


def check_image(image: str) -> str:
    """``image`` if it names a pushed container image, REGISTRY/PATH[:TAG].

    >>> check_image("us-central1-docker.pkg.dev/my-project/templates/crucible:v1")
    'us-central1-docker.pkg.dev/my-project/templates/crucible:v1'
    >>> check_image("crucible")
    Traceback (most recent call last):
    ...
    crucible_datasets.templates.build.TemplateBuildError: --image 'crucible' is not a container \
image in a registry: give REGISTRY/PATH[:TAG], e.g. us-central1-docker.pkg.dev/PROJECT/REPO/crucible:v1 \
or gcr.io/PROJECT/crucible
    """
    if not IMAGE.fullmatch(image):
        raise TemplateBuildError(
            f"--image {image!r} is not a container image in a registry: give REGISTRY/PATH[:TAG], e.g. "
            "us-central1-docker.pkg.dev/PROJECT/REPO/crucible:v1 or gcr.io/PROJECT/crucible"
        )
    return image


def check_spec(document: Document) -> None:
    """Raise the spec's :class:`~crucible_datasets.spec.SpecError` if its keys or values break the
    schema. Its data is not read here: the launch reads it, with the launch's input."""
    from crucible_datasets.spec import SpecError
    from crucible_datasets.spec.schema import schema_problems

    problems = schema_problems(document)
    if problems:
        raise SpecError(document.name, problems)


def _fresh_context(folder: str, root: str) -> str:
    folder = os.path.abspath(folder)
    package = os.path.realpath(os.path.join(root, dockerfile.PACKAGE))
    real = os.path.realpath(folder)
    if real == package or real.startswith(package + os.sep):
        raise TemplateBuildError(f"--dockerfile-dir {folder} is inside the package it copies ({package})")
    if os.path.isdir(folder) and os.listdir(folder):
        recipe = os.path.join(folder, "Dockerfile")
        first = ""
        if os.path.isfile(recipe):
            with open(recipe, encoding="utf-8", errors="replace") as f:
                first = f.readline().rstrip("\n")
        if first != MARK:
            raise TemplateBuildError(
                f"--dockerfile-dir {folder} exists and was not written by `crucible template build` "
                f"(it holds {', '.join(sorted(os.listdir(folder))[:5])}...); give a new or empty folder"
            )
        shutil.rmtree(folder)
    elif os.path.exists(folder) and not os.path.isdir(folder):
        raise TemplateBuildError(f"--dockerfile-dir {folder} is a file, not a folder")
    os.makedirs(folder, exist_ok=True)
    return folder


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def build_template(spec_path: str, *, image: str, output: str, context_dir: str) -> BuiltTemplate:
    """Write the template spec file of the pipeline spec at ``spec_path`` to ``output`` (a local
    path or ``gs://``) and the launcher image's build context to ``context_dir``."""
    from crucible_datasets.spec import read_file
    from crucible_datasets.storage import filesystem

    check_image(image)
    document = read_file(spec_path)
    check_spec(document)
    root = source_root()
    name = re.sub(r"[^A-Za-z0-9-]+", "-", os.path.splitext(os.path.basename(spec_path))[0]).strip("-")
    template = flex.template_spec(document.data, image=image, name=name or "crucible")
    spec_name = "spec" + (os.path.splitext(spec_path)[1] or ".yaml")

    folder = _fresh_context(context_dir, root)
    shutil.copy2(os.path.join(root, "setup.py"), os.path.join(folder, "setup.py"))
    shutil.copytree(
        os.path.join(root, dockerfile.PACKAGE),
        os.path.join(folder, dockerfile.PACKAGE),
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    with filesystem.open_input(spec_path) as f:
        _write(os.path.join(folder, spec_name), f.read())
    _write(os.path.join(folder, dockerfile.ENTRY_FILE), dockerfile.entry_file(spec_name).encode())
    _write(os.path.join(folder, "Dockerfile"), dockerfile.dockerfile(spec_name).encode())
    metadata = orjson.dumps(template["metadata"], option=orjson.OPT_INDENT_2)
    _write(os.path.join(folder, "metadata.json"), metadata)

    with filesystem.open_output(output) as f:
        f.write(orjson.dumps(template, option=orjson.OPT_INDENT_2))
    return BuiltTemplate(output, folder, template)
