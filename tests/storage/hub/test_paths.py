"""hf:// URLs and repo file names (storage/hub/paths.py)."""

from __future__ import annotations

import pytest

from crucible_datasets.storage.http.retry import (
    UnsafePathError,
)
from crucible_datasets.storage.hub import paths


@pytest.mark.parametrize(
    "bad",
    [
        "hf://datasets/openai/gsm8k/../x.jsonl",
        "hf://datasets/openai/gsm8k/a/../../b",
        "hf://datasets/o/n/C:/x",
    ],
)
def test_escaping_paths_are_refused(bad):
    with pytest.raises(UnsafePathError, match="refusing the repo file name"):
        paths.parse_hf_url(bad)


def test_parse_and_build_urls():
    where = paths.parse_hf_url("hf://datasets/o/n@refs%2Fconvert%2Fparquet/default/train/0.parquet")
    assert (where.repo_id, where.revision) == ("o/n", "refs/convert/parquet")
    assert where.path == "default/train/0.parquet"
    assert where.url() == "hf://datasets/o/n@refs%2Fconvert%2Fparquet/default/train/0.parquet"
    assert paths.parse_hf_url("hf://datasets/o/n@refs/pr/3/a.jsonl").revision == "refs/pr/3"
    assert paths.parse_hf_url("hf://datasets/o/n").path == ""
    assert paths.hf_url("o/n", "a/b.parquet", "v1") == "hf://datasets/o/n@v1/a/b.parquet"
