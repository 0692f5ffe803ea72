"""A ready pipeline: a named recipe that turns a loaded split into the rows to write.

Subclasses set ``name`` and ``help`` and override two hooks: :meth:`add_arguments` (their
command-line options) and :meth:`build` (the stages to add to the input dataset).
"""

from __future__ import annotations

import argparse
from typing import ClassVar

from crucible_datasets.iterable_dataset import IterableDataset


class ReadyPipeline:
    """Base class of the pipelines run by ``crucible run NAME``."""

    name: ClassVar[str]
    help: ClassVar[str]
    output_format: ClassVar[str] = "parquet"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this pipeline's options to its ``crucible run`` sub-command."""

    def build(self, dataset: IterableDataset, args: argparse.Namespace) -> IterableDataset:
        """The input split with this pipeline's stages added."""
        raise NotImplementedError
