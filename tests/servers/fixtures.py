"""Pytest fixtures for remote data: a test Hub, a fault proxy, a static server, a GCS emulator.

Registered for every test module by ``tests/conftest.py`` (``pytest_plugins``). All servers bind
127.0.0.1 on an ephemeral port, start in the fixture and stop after the test.

- ``hub_server``: a :class:`HubServer` with the repos of :mod:`tests.servers.repos` (page size 3
  so listings always page), ``HF_ENDPOINT`` pointing at it, no ambient token, an isolated token
  file, and a fast retry policy. ``hub_server.shas`` maps repo nicknames to commit shas.
- ``hf_cache``: an empty folder to use as the HF download cache (``cache_dir=``).
- ``make_fault_proxy(upstream_url)``: a started :class:`FaultProxy`; ``hub_proxy``: one in
  front of ``hub_server``, ``HF_ENDPOINT`` pointing at it.
- ``static_server_factory(files, ranges=True, head=True)``: a started :class:`StaticServer`.
- ``gcs_emulator``: gcp-storage-emulator with a fresh bucket; ``STORAGE_EMULATOR_HOST`` set.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import pytest

from tests.servers.fault_proxy import FaultProxy
from tests.servers.hub_server import HubServer
from tests.servers.repos import build_hub
from tests.servers.static_server import StaticServer

FAST_RETRIES = dict(max_attempts=5, max_seconds=15.0, base_delay=0.05, max_delay=1.0, timeout=10.0)


@pytest.fixture
def fast_retries():
    """A quick retry policy for this test (attempts and delays small, bounds kept)."""
    from crucible_datasets.storage.http import pacing
    from crucible_datasets.storage.http.retry import RetryPolicy, set_default_policy

    policy = RetryPolicy(**FAST_RETRIES)
    set_default_policy(policy)
    pacing.reset()
    yield policy
    set_default_policy(None)
    pacing.reset()  # a server's rate-limit hold does not outlive its test


@pytest.fixture
def hf_env(monkeypatch, tmp_path):
    """No ambient Hugging Face token or cache: isolated HF home, HF_TOKEN unset."""
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"), raising=False)
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"), raising=False)
    yield home


@pytest.fixture
def hub_server(monkeypatch, hf_env, fast_retries):
    from crucible_datasets.storage.hub import tokens

    server = HubServer(page_size=3)
    server.shas = build_hub(server)
    server.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    yield server
    server.stop()
    tokens.forget_tokens()


@pytest.fixture
def hf_cache(tmp_path):
    path = tmp_path / "hf-cache"
    path.mkdir()
    return str(path)


@pytest.fixture
def make_fault_proxy():
    started: list[FaultProxy] = []

    def make(upstream: str) -> FaultProxy:
        proxy = FaultProxy(upstream).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture
def hub_proxy(hub_server, make_fault_proxy, monkeypatch):
    """A fault proxy in front of the test Hub, ``HF_ENDPOINT`` pointing at it."""
    proxy = make_fault_proxy(hub_server.url)
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    return proxy


@pytest.fixture
def static_server_factory(fast_retries):
    started: list[StaticServer] = []

    def make(files: dict[str, bytes], *, ranges: bool = True, head: bool = True) -> StaticServer:
        server = StaticServer(files, ranges=ranges, head=head).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@dataclass
class GcsEmulator:
    url: str
    bucket: str
    server: object

    def path(self, name: str = "") -> str:
        return f"gs://{self.bucket}/{name}" if name else f"gs://{self.bucket}"


_bucket_numbers = itertools.count()


@pytest.fixture
def gcs_emulator(monkeypatch):
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
    bucket = f"crucible-test-{next(_bucket_numbers)}"
    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=bucket)
    server.start()
    port = server._api._httpd.server_address[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "crucible-test")
    yield GcsEmulator(url, bucket, server)
    server.stop()
