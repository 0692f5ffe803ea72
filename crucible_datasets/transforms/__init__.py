"""The stages of a pipeline, and (imported on first use) their Apache Beam transforms.

Stages (``Pipeline.then``, ``ApplyStages``): :class:`RowMap`, :class:`RowFilter`,
:class:`ExpressionFilter`, :class:`FlatMapStage`, :class:`BatchedMap`, :class:`BatchedFilter`,
:class:`Batcher`, :class:`MapBatchesStage`, :class:`SelectColumnsStage`,
:class:`RemoveColumns`, :class:`RenameColumnsStage`, :class:`TakeStage`, :class:`Skip`,
:class:`ShuffleStage`, :class:`DedupeStage`, :class:`SampleStage` (the stage classes whose
names the Beam transforms use carry a ``Stage`` suffix here; their modules use the short name).

Beam transforms for users who write Beam pipelines (``transforms/beam.py``; importing one
imports Apache Beam): ``ReadSplit``, ``ApplyStages``, ``Map``, ``Filter``, ``Where``,
``FlatMap``, ``MapBatches``, ``SelectColumns``, ``RenameColumns``, ``Sample``, ``Dedupe``,
``Take``, ``Shuffle``, ``Keyed``, ``KeyedRows``, ``WriteSplit``, ``for_stage``,
``register_beam_form``, ``positioned_rows``.

Every stage declares its :class:`StageKind`; :class:`KeyedStage` is the protocol of the
whole-stream stages a runner may distribute by key.

>>> import crucible_datasets.transforms as ct
>>> ct.TakeStage(2).n, ct.Take.__module__
(2, 'crucible_datasets.transforms.beam')
"""

from __future__ import annotations

from crucible_datasets.transforms.base import KeyedStage, Stage, StageCounter, StageKind, apply_stages
from crucible_datasets.transforms.batching import BatchedFilter, BatchedMap, Batcher
from crucible_datasets.transforms.batching import MapBatches as MapBatchesStage
from crucible_datasets.transforms.columns import RemoveColumns
from crucible_datasets.transforms.columns import RenameColumns as RenameColumnsStage
from crucible_datasets.transforms.columns import SelectColumns as SelectColumnsStage
from crucible_datasets.transforms.expression import ExpressionFilter
from crucible_datasets.transforms.rows import FlatMap as FlatMapStage
from crucible_datasets.transforms.rows import RowFilter, RowMap
from crucible_datasets.transforms.stream import Dedupe as DedupeStage
from crucible_datasets.transforms.stream import Sample as SampleStage
from crucible_datasets.transforms.stream import Shuffle as ShuffleStage
from crucible_datasets.transforms.stream import Skip
from crucible_datasets.transforms.stream import Take as TakeStage

BEAM_TRANSFORMS = (
    "ApplyStages",
    "Dedupe",
    "Filter",
    "FlatMap",
    "Keyed",
    "KeyedRows",
    "Map",
    "MapBatches",
    "ReadSplit",
    "RenameColumns",
    "Sample",
    "SelectColumns",
    "Shuffle",
    "SplitSource",
    "Take",
    "Where",
    "WriteSplit",
    "for_stage",
    "positioned_rows",
    "register_beam_form",
)


def __getattr__(name: str):
    """The Beam transforms, imported on first use (importing Beam takes about a second)."""
    if name in BEAM_TRANSFORMS:
        from crucible_datasets.transforms import beam

        return getattr(beam, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(BEAM_TRANSFORMS))


__all__ = [
    "BatchedFilter",
    "BatchedMap",
    "Batcher",
    "DedupeStage",
    "ExpressionFilter",
    "FlatMapStage",
    "KeyedStage",
    "MapBatchesStage",
    "RemoveColumns",
    "RenameColumnsStage",
    "RowFilter",
    "RowMap",
    "SampleStage",
    "SelectColumnsStage",
    "ShuffleStage",
    "Skip",
    "Stage",
    "StageCounter",
    "StageKind",
    "TakeStage",
    "apply_stages",
    *BEAM_TRANSFORMS,
]
