"""The Hugging Face Hub's naming conventions for dataset repos; imports nothing from the package.

Config and split names, the folder and file names of shards, and the keywords from which the
Hub (``datasets``' ``data_files.py``) infers a split from a path. Writers name shards with
:func:`shard_name`; discovery reads them back with :data:`SHARD_NAME`.

>>> shard_name(DEFAULT_CONFIG, "train", 0, 4, ".parquet")
'data/train-00000-of-00004.parquet'
>>> shard_name("extra", "test", 3, 4, ".jsonl.gz")
'extra/test-00003-of-00004.jsonl.gz'
>>> SHARD_NAME.match("validation-00001-of-00002")["split"]
'validation'
>>> bool(SPLIT_NAME.match("train.clean")), bool(SPLIT_NAME.match("train/clean"))
(True, False)
"""

from __future__ import annotations

import re

DEFAULT_CONFIG = "default"
DEFAULT_DATA_DIR = "data"  # the shards of the default config; other configs use their name
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")  # datasets/naming.py: _split_re
CONFIG_NAME = re.compile(r"^[\w][\w.\-]*$")
SHARD_NAME = re.compile(r"(?P<split>.+)-[0-9]{5}-of-[0-9]{5}")  # a shard file's name, less its extension
# Where the Hub looks for shards first (datasets/data_files.py: the sharded split pattern).
SHARDED_SPLIT_PATTERN = "data/{split}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*"

# datasets/data_files.py: the keywords that name each split in a folder or file name.
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "dev", "val"),
    "test": ("test", "testing", "eval", "evaluation"),
}
DEFAULT_SPLITS = tuple(SPLIT_KEYWORDS)
# A keyword counts only when these characters (or the path's edges) delimit it.
KEYWORD_DELIMITERS = "-._ 0-9"


def data_dir(config: str | None) -> str:
    """The folder of a config's shards: ``data`` for the default config, else the config's name.

    >>> data_dir(None), data_dir("default"), data_dir("extra")
    ('data', 'data', 'extra')
    """
    name = config or DEFAULT_CONFIG
    return DEFAULT_DATA_DIR if name == DEFAULT_CONFIG else name


def shard_name(config: str | None, split: str, index: int, count: int, extension: str) -> str:
    """A shard's path in the dataset folder: ``{data_dir}/{split}-{index:05d}-of-{count:05d}{extension}``."""
    return f"{data_dir(config)}/{split}-{index:05d}-of-{count:05d}{extension}"
