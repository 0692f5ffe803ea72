"""The JSON Schema of a spec (``schema.json``, shipped with the package) and the check against it.

The schema is the one description of a spec's keys: :func:`schema_problems` validates with it
(``jsonschema``), and it says which arguments of each op are functions (``$defs/function``),
which are the only strings a spec imports.

>>> sorted(FUNCTION_ARGUMENTS["map"]), "where" in OPS
(['function'], True)
>>> doc = Document({"source": {"path": "d", "colour": 1}, "sink": {"path": "o", "num_shards": 0}})
>>> [p.message for p in schema_problems(doc)]  # doctest: +NORMALIZE_WHITESPACE
["unknown key 'colour'; the keys of source are: column_names, columns, config, data_dir, data_files,
  delimiter, errors_path, features, field, format, header, keep_linebreaks, on_error, path, quotechar,
  revision, sample_by, schema, sep, split", '0 is less than the minimum of 1']
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from crucible_datasets.spec.document import Document
from crucible_datasets.spec.problems import Problem

SCHEMA: dict = json.loads((resources.files("crucible_datasets.spec") / "schema.json").read_text("utf-8"))
OPS: tuple[str, ...] = tuple(SCHEMA["$defs"]["stage"]["properties"]["op"]["enum"])
_FUNCTION = {"$ref": "#/$defs/function"}


def _function_arguments(op: str) -> frozenset[str]:
    """The arguments of ``op`` that the schema says are functions (``$defs/function``)."""
    properties = SCHEMA["$defs"][f"op_{op}"]["properties"].items()
    return frozenset(n for n, p in properties if p is not True and _FUNCTION in (p, *p.get("anyOf", ())))


FUNCTION_ARGUMENTS: dict[str, frozenset[str]] = {op: _function_arguments(op) for op in OPS}


@cache
def _validator():  # built on first use: importing the package does not load jsonschema (~0.2 s)
    import jsonschema

    return jsonschema.Draft202012Validator(SCHEMA)


def schema_problems(doc: Document) -> list[Problem]:
    """Every place where ``doc`` breaks the schema, each with its line."""
    problems = []
    for error in _validator().iter_errors(doc.data):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = sorted(error.schema.get("properties", {}))
            owner = ".".join(str(p) for p in path) or "the spec"
            for key in [k for k in error.instance if k not in known]:
                keys = ", ".join(k for k in known if k != "op")
                message = f"unknown key {key!r}; the keys of {owner} are: {keys}"
                problems.append(doc.problem((*path, key), message))
        elif error.validator == "required":
            problems.append(doc.problem(path, error.message.replace("property", "key")))
        elif error.validator == "enum" and path[-1:] == ("op",):
            ops = ", ".join(OPS)
            problems.append(doc.problem(path, f"{error.instance!r} is not an op; the ops are: {ops}"))
        elif error.validator == "anyOf":
            forms = "; ".join(dict.fromkeys(e.message for e in error.context))
            problems.append(doc.problem(path, f"{error.instance!r} has none of the allowed forms ({forms})"))
        else:
            problems.append(doc.problem(path, error.message))
    return problems
