"""Tokens (storage/hub/tokens.py) against the test Hub: sent to the Hub only, never shown."""

from __future__ import annotations

import logging
import pickle

import pyarrow.parquet as pq
import pytest

from crucible_datasets.storage import filesystem as fs
from crucible_datasets.storage.http.retry import (
    RemoteAccessError,
    RemoteNotFoundError,
)
from crucible_datasets.storage.hub import dataset, files, paths, tokens
from tests.servers.repos import PRIVATE_TOKEN, gsm8k_files

GSM8K_TRAIN = "main/train-00000-of-00001.parquet"


def test_private_repo_needs_the_token_and_never_shows_it(hub_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    url = paths.hf_url("test/private", "data/train.jsonl")
    with pytest.raises(RemoteAccessError) as denied:
        fs.open_input(url)
    assert "test/private" in str(denied.value) and "data/train.jsonl" in str(denied.value)
    assert "HF_TOKEN" in str(denied.value)

    wrong = "hf_wrongTokenValue987654321"
    with pytest.raises(RemoteAccessError) as denied_wrong:
        files.open_file(url, token=wrong)
    assert wrong not in str(denied_wrong.value)

    layout = dataset.resolve_hub("test/private", token=PRIVATE_TOKEN)  # kept for this repo's reads
    with fs.open_input(layout.files(None, "train")[0]) as f:
        assert f.read() == b'{"secret": true}\n'
        assert PRIVATE_TOKEN not in repr(f)
        with pytest.raises(TypeError, match="cannot pickle"):
            pickle.dumps(f)
    assert PRIVATE_TOKEN not in repr(layout)
    api_calls = [r for r in hub_server.requests if r["path"].startswith("/api/datasets/test/private")]
    assert api_calls and all(r["authorized"] for r in api_calls)

    # a failing request with the right token: the error names repo and path, not the token
    with pytest.raises(RemoteNotFoundError) as missing:
        fs.open_input(paths.hf_url("test/private", "data/missing.jsonl"))
    assert "test/private" in str(missing.value) and PRIVATE_TOKEN not in str(missing.value)

    tokens.forget_tokens()
    monkeypatch.setenv("HF_TOKEN", PRIVATE_TOKEN)
    assert fs.open_input(url).read() == b'{"secret": true}\n'
    assert PRIVATE_TOKEN not in caplog.text


def test_token_never_sent_to_the_cdn(hub_server):
    hub_server.repos[("dataset", "test/private")].commit({"data/more.parquet": gsm8k_files()[GSM8K_TRAIN]})
    with files.open_file(paths.hf_url("test/private", "data/more.parquet"), token=PRIVATE_TOKEN) as raw:
        assert pq.ParquetFile(raw).metadata.num_rows == 7473
    cdn = [r for r in hub_server.requests if r["role"] == "cdn"]
    assert cdn and not any(r["authorized"] for r in cdn)
