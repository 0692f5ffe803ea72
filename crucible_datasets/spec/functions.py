"""Functions in a spec, by import path: ``package.module:qualname`` to the function and back.

Resolving a reference imports its module (running that module's top-level code, as any import
does) and nothing else: a spec is as trusted as the code it names. A function that has no
import path that leads back to it (a lambda, a closure, one defined in ``__main__``) cannot be
named, and :func:`reference` says why.

>>> import os.path
>>> reference(os.path.join)
'posixpath:join'
>>> resolve("posixpath:join") is os.path.join
True
>>> import functools
>>> reference(functools.partial(os.path.join, b="x"))
{'function': 'posixpath:join', 'kwargs': {'b': 'x'}}
>>> reference(lambda row: row)
Traceback (most recent call last):
...
ValueError: a lambda has no import path; define the function at the top level of a module
>>> resolve("posixpath:no_such_function")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: module posixpath has no attribute no_such_function; it has: abspath, basename, ...
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import Any


def resolve(ref: str) -> Any:
    """The object that ``module:qualname`` names; ValueError saying what is missing."""
    module_name, _, qualname = ref.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        raise ValueError(f"no module named {missing!r} (importing {module_name!r})") from None
    module, where = obj, module_name
    for attribute in qualname.split("."):
        if not hasattr(obj, attribute):
            owner = f"module {where}" if obj is module else where
            names = sorted(n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None)))
            has = f"; it has: {', '.join(names[:12])}{', ...' if len(names) > 12 else ''}" if names else ""
            raise ValueError(f"{owner} has no attribute {attribute}{has}")
        obj, where = getattr(obj, attribute), f"{where}.{attribute}"
    return obj


def resolve_function(value: str | Mapping) -> Callable:
    """A spec's function value: ``"module:name"`` or ``{"function": ..., "kwargs": {...}}``."""
    if isinstance(value, Mapping):
        return functools.partial(resolve_function(value["function"]), **(value.get("kwargs") or {}))
    fn = resolve(value)
    if not callable(fn):
        raise ValueError(f"{value} is a {type(fn).__name__}, not a function")
    return fn


def reference(fn: Callable) -> str | dict:
    """The spec form of ``fn``: its import path (checked to import back to ``fn`` itself)."""
    if isinstance(fn, functools.partial):
        if fn.args:
            raise ValueError("a functools.partial with positional arguments has no spec form; bind keywords")
        return {"function": reference(fn.func), "kwargs": dict(fn.keywords)}
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if module is None or qualname is None:
        raise ValueError(f"{fn!r} has no module and name to import it by")
    if qualname == "<lambda>" or qualname.endswith(".<lambda>"):
        raise ValueError("a lambda has no import path; define the function at the top level of a module")
    if "<locals>" in qualname:
        raise ValueError(f"{qualname} is defined inside a function; define it at the top level of a module")
    if module == "__main__":
        raise ValueError(f"{qualname} is defined in __main__ (the script run); move it into a module")
    ref = f"{module}:{qualname}"
    try:
        found = resolve(ref)
    except ValueError as exc:
        raise ValueError(f"{ref} does not import: {exc}") from None
    if found is not fn:
        raise ValueError(f"{ref} imports another object than the function given")
    return ref
