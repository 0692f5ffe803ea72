"""A flex template's spec file: the launcher image and the parameters a launch may set.

This is the file ``gcloud dataflow flex-template build`` writes to GCS, in Google's format::

    {"image": "REGISTRY/IMAGE", "sdkInfo": {"language": "PYTHON"}, "defaultEnvironment": {},
     "metadata": {"name": ..., "description": ..., "parameters": [ParameterMetadata, ...]}}

Each parameter is Dataflow's ``ParameterMetadata`` (``name``, ``label``, ``helpText``,
``isOptional``, ``regexes``). Dataflow refuses a launch whose value matches none of a parameter's
regexes; the launcher (``launcher.py``) checks the same :data:`PARAMETERS` again, so a launch
from anywhere else fails the same way. A parameter sets one key of the spec baked into the image,
as ``crucible run spec.yaml --set key=value`` does (``runner_options`` adds Beam flags instead).
The regexes are written in the syntax Python's ``re`` and Java's ``Pattern`` (Dataflow's) share,
and a value must match one of them whole (``re.fullmatch``).

>>> spec = template_spec({"source": {"path": "gs://bucket/in/*.jsonl"}, "sink": {"path": "out"}},
...                      image="us-docker.pkg.dev/p/r/crucible:1", name="nightly")
>>> spec["image"], spec["sdkInfo"], [p["name"] for p in spec["metadata"]["parameters"]][:3]
('us-docker.pkg.dev/p/r/crucible:1', {'language': 'PYTHON'}, ['input', 'output', 'revision'])
>>> [(p["name"], p["isOptional"]) for p in spec["metadata"]["parameters"]][:2]  # out is local: required
[('input', True), ('output', False)]
>>> PARAMETER["output"].accepts("gs://my-bucket/out"), PARAMETER["output"].accepts("not-a-url")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crucible_datasets.errors import CrucibleError
from crucible_datasets.naming import CONFIG_NAME
from crucible_datasets.storage.hub.paths import REPO_ID_RE

_BUCKET = r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"  # GCS bucket names: 3-63 of these characters
GCS_URL = rf"gs://{_BUCKET}(/\S*)?"
HUB_ID = REPO_ID_RE.pattern.strip("^$")
HF_URL = rf"hf://datasets/{HUB_ID}(@[^/\s]+)?(/\S*)?"
# A Hub branch, tag, commit or refs/pr/N: git ref characters, no "..", no leading "-" or ".".
REVISION = r"(?!.*\.\.)\w[\w.-]*(/\w[\w.-]*)*"
_FLAG = r"--[A-Za-z_]\w*(=\S*)?"
BEAM_FLAGS = rf"{_FLAG}( +{_FLAG})*"


class TemplateParameterError(CrucibleError, ValueError):
    """A launch parameter whose value matches none of its regexes: names it, the value, what fits."""


@dataclass(frozen=True)
class Parameter:
    """One launch parameter: its metadata and the spec key it sets (None: ``runner_options``)."""

    name: str
    label: str
    help_text: str
    regexes: tuple[str, ...]
    spec_key: str | None = None

    def accepts(self, value: str) -> bool:
        """True when ``value`` matches one of the regexes whole, as Dataflow checks it."""
        return any(re.fullmatch(pattern, value) for pattern in self.regexes)

    def check(self, value: str) -> str:
        """``value``, or :class:`TemplateParameterError` saying what the parameter takes."""
        if not self.accepts(value):
            raise TemplateParameterError(
                f"template parameter {self.name}={value!r} is not valid: {self.name} is {self.help_text} "
                f"(it must match one of: {', '.join(self.regexes)})"
            )
        return value

    def metadata(self, *, optional: bool, default: Any = None) -> dict:
        """Dataflow's ``ParameterMetadata`` of this parameter; ``default`` is named in its help."""
        text = self.help_text[0].upper() + self.help_text[1:]
        if default is not None:
            text += f" Default (the spec's {self.spec_key}): {default}."
        return {
            "name": self.name,
            "label": self.label,
            "helpText": text,
            "isOptional": optional,
            "regexes": list(self.regexes),
        }


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "input",
        "Input dataset",
        "the data to read: a gs:// file, glob or folder, an hf://datasets/ path, or a Hub dataset id "
        "(owner/name).",
        (GCS_URL, HF_URL, HUB_ID),
        "source.path",
    ),
    Parameter(
        "output",
        "Output folder",
        "the folder the split is written to, gs://bucket/path (Dataflow workers cannot write a local path).",
        (GCS_URL,),
        "sink.path",
    ),
    Parameter(
        "revision",
        "Hub revision",
        "the branch, tag or commit of a Hub input, e.g. main, v1.0, refs/pr/3 or a 40-hex commit.",
        (REVISION,),
        "source.revision",
    ),
    Parameter(
        "config",
        "Dataset config",
        "the config of the input to read (see `crucible info`).",
        (CONFIG_NAME.pattern.strip("^$"),),
        "source.config",
    ),
    Parameter(
        "num_shards",
        "Output shards",
        "the number of output shards, a whole number of at least 1.",
        (r"[1-9][0-9]{0,5}",),
        "sink.num_shards",
    ),
    Parameter(
        "incremental",
        "Incremental",
        "true to process only the input files that are new since the last run, false to rewrite all.",
        (r"true|false",),
        "sink.incremental",
    ),
    Parameter(
        "runner_options",
        "Extra Beam options",
        "extra Beam/Dataflow pipeline options, space-separated --name=value flags "
        "(e.g. --max_num_workers=20 --experiments=use_runner_v2).",
        (BEAM_FLAGS,),
    ),
)
PARAMETER: Mapping[str, Parameter] = {p.name: p for p in PARAMETERS}


def spec_value(spec: Mapping, dotted: str) -> Any:
    """The value at ``a.b`` in the spec's data, or None.

    >>> spec_value({"sink": {"path": "out"}}, "sink.path"), spec_value({}, "source.revision")
    ('out', None)
    """
    node: Any = spec
    for key in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _workers_reach(path: Any) -> bool:
    """True for a path a Dataflow worker can read or write: remote, or a Hub id."""
    from crucible_datasets.storage import filesystem
    from crucible_datasets.storage.hub.dataset import is_hub_id

    return isinstance(path, str) and (filesystem.is_remote(path) or is_hub_id(path))


def required(parameter: Parameter, spec: Mapping) -> bool:
    """True when a launch must give ``parameter``: ``input``/``output`` when the spec's own path
    is local (a worker cannot reach it); never the others, which fall back to the spec.

    >>> spec = {"source": {"path": "gs://b/in"}, "sink": {"path": "out/"}}
    >>> [p.name for p in PARAMETERS if required(p, spec)]
    ['output']
    """
    if parameter.name not in ("input", "output"):
        return False
    return not _workers_reach(spec_value(spec, parameter.spec_key))


def template_spec(spec: Mapping, *, image: str, name: str, description: str | None = None) -> dict:
    """The flex template spec file for the pipeline ``spec`` (its data), launched from ``image``;
    each optional parameter's help names the spec's value it falls back to."""
    parameters = []
    for parameter in PARAMETERS:
        optional = not required(parameter, spec)
        default = spec_value(spec, parameter.spec_key) if parameter.spec_key and optional else None
        parameters.append(parameter.metadata(optional=optional, default=default))
    return {
        "image": image,
        "sdkInfo": {"language": "PYTHON"},
        "defaultEnvironment": {},
        "metadata": {
            "name": name,
            "description": description or f"crucible-datasets pipeline {name}: the spec baked into {image}",
            "parameters": parameters,
        },
    }
