"""Packaging for crucible-datasets; also what Dataflow workers install (``--setup_file``)."""

from setuptools import find_packages, setup

setup(
    name="crucible-datasets",
    version="0.1.0",
    description="Prepare machine-learning datasets of any size, in-process or on Apache Beam.",
    python_requires=">=3.11",
    packages=find_packages(include=["crucible_datasets", "crucible_datasets.*"]),
    package_data={"crucible_datasets": ["data/*"]},
    install_requires=[
        "apache-beam[gcp]>=2.60,<3",
        "pyarrow>=14",
        "orjson>=3.9",
        "google-cloud-storage>=2.10",
        # The Hub's own client: repo listing, revisions, tokens, resolve URLs, cache.
        "huggingface_hub>=0.30",
        # .zst input and output (the stdlib has no zstd on Python 3.11).
        "zstandard>=0.22",
        # Incremental parsing of top-level JSON arrays (json format) in bounded memory.
        "ijson>=3.2",
        # Progress bars on a terminal.
        "tqdm>=4.66",
        "PyYAML>=6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "gcp-storage-emulator>=2024.8",
            "psutil>=5.9",
            "ruff>=0.6",
        ],
        "bench": ["psutil>=5.9", "matplotlib>=3.8"],
    },
    entry_points={"console_scripts": ["crucible=crucible_datasets.cli:main"]},
)
