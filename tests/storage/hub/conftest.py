"""Fixtures of the Hub tests: a fault proxy in front of the test Hub."""

from __future__ import annotations

import pytest


@pytest.fixture
def hub_proxy(hub_server, make_fault_proxy, monkeypatch):
    proxy = make_fault_proxy(hub_server.url)
    monkeypatch.setenv("HF_ENDPOINT", proxy.url)
    return proxy
