"""The hf:// Beam filesystem (storage/hub/filesystem.py) and the huggingface_hub client on the test Hub."""

from __future__ import annotations

import pytest

from crucible_datasets.errors import DataFileError
from crucible_datasets.storage import filesystem as fs
from tests.servers.repos import gsm8k_files

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_huggingface_hub_client_speaks_to_the_test_hub(hub_server):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=False)
    assert api.dataset_info("openai/gsm8k").sha == hub_server.shas["gsm8k"]
    tree = {e.path for e in api.list_repo_tree("openai/gsm8k", repo_type="dataset", recursive=True)}
    assert set(gsm8k_files()) <= tree
    info = api.get_paths_info("openai/gsm8k", [GSM8K_TRAIN], repo_type="dataset")
    assert info[0].lfs is not None and info[0].size == len(gsm8k_files()[GSM8K_TRAIN])


def test_hf_is_read_only(hub_server):
    with pytest.raises(DataFileError, match="read-only"):
        fs.open_output("hf://datasets/openai/gsm8k/new.jsonl")
