"""Packaging for crucible-datasets; also what Dataflow workers install (``--setup_file``)."""

from setuptools import find_packages, setup

setup(
    name="crucible-datasets",
    version="0.1.0",
    description="Prepare machine-learning datasets of any size, in-process or on Apache Beam.",
    python_requires=">=3.11",
    packages=find_packages(include=["crucible_datasets", "crucible_datasets.*"]),
    # spec/schema.json: spec/schema.py reads it, in a pip install and on Dataflow workers too.
    package_data={"crucible_datasets": ["data/*", "spec/schema.json"]},
    install_requires=[
        # At least 2.63 (it fixed a GCS gzip data-loss bug); 2.76 is the first that allows the
        # pyarrow below (2.63-2.75 cap it under 17, 19 or 24).
        "apache-beam[gcp]>=2.76,<3",
        # 24 infers a struct's fields in first-seen key order when a key's first value is None
        # (pa.array; tests/test_schema.py); 21 casts structs by field name, fields reordered or
        # added (schema.cast); the view types arrived in 16.
        "pyarrow>=24",
        # 3.9.15: the first whose loads() bounds nesting (1024 levels; CVE-2024-27454): a deeper
        # JSON Lines record is then a bad record, not a stack overflow.
        "orjson>=3.9.15",
        "google-cloud-storage>=2.18.2",
        # The Hub's own client: repo listing, revisions, tokens, resolve URLs, cache. 2.x moved to
        # httpx2, whose errors hub.py catches; 2.0-2.1 reject a Hub answer without X-Repo-Commit.
        "huggingface_hub>=2.2",
        "httpx2>=2.0",
        # The remote readers' HTTP client (storage/http/, storage/hub/);
        # urllib3 2.0.0-2.0.1 truncated streamed compressed bodies (yanked).
        "requests>=2.32.4",
        "urllib3>=2.0.2",
        # .zst input and output (the stdlib has no zstd on Python 3.11).
        "zstandard>=0.22",
        # Incremental parsing of top-level JSON arrays (json format) in bounded memory.
        "ijson>=3.2.1",
        # Progress bars on a terminal.
        "tqdm>=4.66",
        "PyYAML>=6",
        # Pipeline specs are checked against their JSON Schema (spec/schema.json, Draft 2020-12);
        # 4.18 is the first on the `referencing` library, the API used here.
        "jsonschema>=4.18",
        # interleave_datasets draws its sources as datasets does (numpy.random.default_rng(seed).choice);
        # 1.23.2 is the first with Python 3.11 wheels.
        "numpy>=1.23.2",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "gcp-storage-emulator>=2024.8",
            "psutil>=5.9",
            "ruff>=0.6",
            # The to_pandas / to_polars tests (tests/test_dataset.py) run in CI.
            "pandas>=2.2",
            "polars>=1.0",
            # The sql stage's tests (tests/transforms/test_sql.py, the JSONL fast path's).
            "duckdb>=2.0.1",
            # PyTorch's own DataLoader in tests/test_training.py: the CPU build (the CUDA one is
            # gigabytes), and torchdata's StatefulDataLoader for resume.
            "torch==2.13.0+cpu",
            "torchdata>=0.11",
        ],
        # bench/run.py's peers: DuckDB and Polars run in the project's venv.
        "bench": ["psutil>=5.9", "matplotlib>=3.8", "duckdb>=2.0.1", "polars>=1.0"],
        # The sql stage (transforms/sql.py); 2.0.1: the result API it uses (to_arrow_table) and
        # the locked, no-external-access configuration; optional.
        "sql": ["duckdb>=2.0.1"],
        # Dataset.to_pandas / from_pandas and to_polars (operations.Exports); optional.
        "pandas": ["pandas>=2.2"],
        "polars": ["polars>=1.0"],
        # Feeding a torch DataLoader (with_format("torch"), split_dataset_by_node); optional.
        "torch": ["torch>=2.1"],
    },
    entry_points={"console_scripts": ["crucible=crucible_datasets.cli:console"]},
)
