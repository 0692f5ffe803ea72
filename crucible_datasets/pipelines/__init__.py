"""Ready pipelines, run by name: ``crucible run openthoughts|gsm8k|convert``."""

from crucible_datasets.pipelines.base import ReadyPipeline
from crucible_datasets.pipelines.convert import Convert
from crucible_datasets.pipelines.gsm8k import Gsm8k
from crucible_datasets.pipelines.openthoughts import OpenThoughts

PIPELINES: dict[str, ReadyPipeline] = {p.name: p for p in (OpenThoughts(), Gsm8k(), Convert())}

__all__ = ["PIPELINES", "ReadyPipeline"]
