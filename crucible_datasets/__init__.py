"""crucible-datasets: prepare machine-learning datasets of any size, in-process or on Apache Beam.

>>> import crucible_datasets as cd
>>> ds = cd.Dataset.from_list([{"q": "1+1", "a": 2}])
>>> ds.map(lambda r: {"text": f"{r['q']} = {r['a']}"})[0]["text"]
'1+1 = 2'
"""

from crucible_datasets.bad_records import BadRecord
from crucible_datasets.batch import Batch
from crucible_datasets.counts import RunCounts
from crucible_datasets.dataset import Dataset
from crucible_datasets.dataset_dict import DatasetDict, IterableDatasetDict
from crucible_datasets.errors import BadRecordError, DataFileError
from crucible_datasets.iterable_dataset import IterableDataset
from crucible_datasets.loader import load, resolve
from crucible_datasets.sinks import WriteSummary
from crucible_datasets.transforms.base import Stage

__all__ = [
    "BadRecord",
    "BadRecordError",
    "Batch",
    "DataFileError",
    "Dataset",
    "DatasetDict",
    "IterableDataset",
    "IterableDatasetDict",
    "RunCounts",
    "Stage",
    "WriteSummary",
    "load",
    "resolve",
]
__version__ = "0.1.0"
