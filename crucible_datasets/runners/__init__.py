"""The runners, by name: what ``write_parquet(runner=...)`` and ``crucible run --runner`` ask.

``get_runner("local")`` runs in this process (``local.py``); ``"direct"`` (or ``"fnapi"``,
``"FnApiRunner"``) is Beam's FnApiRunner and any other name a Beam runner (``beam/``), e.g.
``"DataflowRunner"``; ``"auto"`` (the command line's default) picks ``local`` or ``direct`` for
each write (``auto.py``). Every runner implements ``base.Runner``; :func:`register_runner` adds one.

>>> type(get_runner("local")).__name__, get_runner("direct").name, get_runner("DataflowRunner").name
('LocalRunner', 'FnApiRunner', 'DataflowRunner')
>>> type(get_runner("auto")).__name__
'AutoRunner'
"""

from __future__ import annotations

from collections.abc import Callable

from crucible_datasets.runners.auto import AutoRunner
from crucible_datasets.runners.base import Runner
from crucible_datasets.runners.beam import BeamRunner
from crucible_datasets.runners.local import LocalRunner

_RUNNERS: dict[str, Callable[[], Runner]] = {
    "local": LocalRunner,
    "auto": AutoRunner,
    "direct": BeamRunner,
    "fnapi": BeamRunner,
    "FnApiRunner": BeamRunner,
}


def register_runner(name: str, factory: Callable[[], Runner]) -> None:
    """Make ``runner=name`` run on ``factory()``."""
    _RUNNERS[name] = factory


def get_runner(name: str) -> Runner:
    """The runner called ``name``: a registered one, else the Beam runner of that name."""
    factory = _RUNNERS.get(name)
    return factory() if factory is not None else BeamRunner(name)


__all__ = ["Runner", "get_runner", "register_runner"]
