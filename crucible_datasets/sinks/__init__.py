"""Writing prepared data: Hub-style shards, ``manifest.json`` and a dataset card.

One module per part: :mod:`~crucible_datasets.sinks.base` (the :class:`Sink` and its phases),
:mod:`~crucible_datasets.sinks.task` (a task's temp files), :mod:`~crucible_datasets.sinks.shards`
(the cut into shards), :mod:`~crucible_datasets.sinks.files` with
:mod:`~crucible_datasets.sinks.parquet` and :mod:`~crucible_datasets.sinks.jsonl` (file formats),
:mod:`~crucible_datasets.sinks.publish` (destinations), :mod:`~crucible_datasets.sinks.manifest`
and :mod:`~crucible_datasets.sinks.card` (the metadata), :mod:`~crucible_datasets.sinks.summary`.

>>> from crucible_datasets.sinks import ParquetSink, JsonlSink
"""

from crucible_datasets.sinks.base import Sink
from crucible_datasets.sinks.files import FileFormat, FileWriter
from crucible_datasets.sinks.jsonl import JsonlSink
from crucible_datasets.sinks.parquet import ParquetSink
from crucible_datasets.sinks.publish import FolderPublisher, Published, Publisher, StagedShard
from crucible_datasets.sinks.summary import WriteSummary
from crucible_datasets.sinks.task import TaskResult, TaskWriter, TempShard

__all__ = [
    "FileFormat",
    "FileWriter",
    "FolderPublisher",
    "JsonlSink",
    "ParquetSink",
    "Published",
    "Publisher",
    "Sink",
    "StagedShard",
    "TaskResult",
    "TaskWriter",
    "TempShard",
    "WriteSummary",
]
