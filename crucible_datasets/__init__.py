"""crucible-datasets: prepare machine-learning datasets of any size, in-process or on Apache Beam.

>>> import crucible_datasets as cd
>>> ds = cd.Dataset.from_list([{"q": "1+1", "a": 2}])
>>> ds.map(lambda r: {"text": f"{r['q']} = {r['a']}"})[0]["text"]
'1+1 = 2'
"""

from crucible_datasets.bad_records import BadRecord
from crucible_datasets.batch import Batch
from crucible_datasets.combine import concatenate_datasets, interleave_datasets
from crucible_datasets.counts import RunCounts
from crucible_datasets.dataset import Dataset
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.distributed import split_dataset_by_node
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.features import ClassLabel, Features, List, Sequence, Value
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.loader import load, resolve
from crucible_datasets.pipeline import Pipeline
from crucible_datasets.sinks import WriteSummary
from crucible_datasets.spec import SpecError, load_spec
from crucible_datasets.transforms.base import Stage

__all__ = [
    "BadRecord",
    "BadRecordError",
    "Batch",
    "ClassLabel",
    "DataFileError",
    "Dataset",
    "DatasetDict",
    "Features",
    "IterableDataset",
    "IterableDatasetDict",
    "List",
    "Pipeline",
    "RunCounts",
    "Sequence",
    "SpecError",
    "Stage",
    "Value",
    "WriteSummary",
    "concatenate_datasets",
    "interleave_datasets",
    "load_spec",
    "load",
    "resolve",
    "split_dataset_by_node",
]
__version__ = "0.1.0"
