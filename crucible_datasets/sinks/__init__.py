"""Writing prepared data: Hub-style shards, ``manifest.json`` and a dataset card.

>>> from crucible_datasets.sinks import ParquetSink, JsonlSink
"""

from crucible_datasets.sinks.base import FileWriter, Sink, TaskResult, TaskWriter, TempShard
from crucible_datasets.sinks.jsonl import JsonlSink
from crucible_datasets.sinks.parquet import ParquetSink
from crucible_datasets.sinks.summary import WriteSummary

__all__ = [
    "FileWriter",
    "JsonlSink",
    "ParquetSink",
    "Sink",
    "TaskResult",
    "TaskWriter",
    "TempShard",
    "WriteSummary",
]
