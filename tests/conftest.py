import pytest

pytest_plugins = ["tests.servers.fixtures", "tests.hf_env"]  # hf_python: the real datasets client


@pytest.fixture(scope="session")
def gsm8k_repo(tmp_path_factory):
    """GSM8K on disk in the openai/gsm8k Hub layout: README configs main and socratic, Parquet shards."""
    from tests.servers.repos import gsm8k_files

    root = tmp_path_factory.mktemp("gsm8k_repo")
    for name, data in gsm8k_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return str(root)
