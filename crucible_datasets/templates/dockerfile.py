"""The flex template's launcher image: its Dockerfile, and the file Google's launcher runs.

The image is Google's Python flex-template launcher base with this package installed from its
``setup.py`` (``pip install .``) and the pipeline spec baked in. Two variables tell the launcher
what to run, as Google documents them: ``FLEX_TEMPLATE_PYTHON_PY_FILE`` (the entry file,
:data:`ENTRY_FILE`, which runs ``launcher.main`` on the spec) and
``FLEX_TEMPLATE_PYTHON_SETUP_FILE`` (the launcher hands it to Beam as ``--setup_file``, so the
Dataflow workers install the same package). The build context holds exactly the files the
``COPY`` lines name (``build.py`` writes them).

>>> text = dockerfile("spec.yaml")
>>> f"FROM {base_image()}" in text.splitlines()
True
>>> for line in text.splitlines():
...     if line.startswith("ENV FLEX_TEMPLATE"):
...         print(line)
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/template/launch.py
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE=/template/setup.py
"""

from __future__ import annotations

import sys

WORKDIR = "/template"
ENTRY_FILE = "launch.py"
PACKAGE = "crucible_datasets"


def base_image(version: tuple[int, int] = sys.version_info[:2]) -> str:
    """Google's launcher base for Python ``version`` (this interpreter's by default): the
    launcher's Python is the workers' too, so the pipeline runs where it was tested.

    >>> base_image((3, 12))
    'gcr.io/dataflow-templates-base/python312-template-launcher-base'
    """
    return f"gcr.io/dataflow-templates-base/python{version[0]}{version[1]}-template-launcher-base"


def dockerfile(spec_name: str) -> str:
    """The Dockerfile of the launcher image for the spec file ``spec_name`` in the build context."""
    return f"""\
# The Dataflow flex-template launcher image of a crucible-datasets pipeline (crucible template build).
# Build and push it from this folder: gcloud builds submit --tag IMAGE .
#                                 or: docker build -t IMAGE . && docker push IMAGE
FROM {base_image()}

WORKDIR {WORKDIR}
COPY setup.py {WORKDIR}/setup.py
COPY {PACKAGE}/ {WORKDIR}/{PACKAGE}/
RUN pip install --no-cache-dir {WORKDIR}
COPY {spec_name} {ENTRY_FILE} {WORKDIR}/

ENV FLEX_TEMPLATE_PYTHON_PY_FILE={WORKDIR}/{ENTRY_FILE}
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE={WORKDIR}/setup.py
"""


def entry_file(spec_name: str) -> str:
    """The Python file the launcher runs (``FLEX_TEMPLATE_PYTHON_PY_FILE``): the spec next to it,
    with the launch's parameters and Beam options.

    >>> "main(sys.argv[1:], spec=" in entry_file("spec.yaml")
    True
    """
    return f'''\
"""The flex template's entry point: runs {spec_name} (next to this file) with the launch's parameters."""

import os
import sys

from crucible_datasets.templates.launcher import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], spec=os.path.join(os.path.dirname(os.path.abspath(__file__)), "{spec_name}")))
'''
