"""The real Hugging Face ``datasets`` client, in a virtual environment of its own.

``datasets`` pins versions (of ``fsspec``, ``multiprocess``, ``dill``...) that Beam's pins
exclude, so it cannot live in the project's venv. :func:`hf_python` (a session fixture,
registered in ``tests/conftest.py``) creates ``.venv-hf`` beside the project once, with
``datasets`` installed, and reuses it while it imports; it returns a function that runs a
Python snippet there and returns what the snippet prints as JSON::

    def test_parity(hf_python, tmp_path):
        out = hf_python("import datasets, json; print(json.dumps(datasets.__version__))")
        assert out == "5.2.0"

A snippet that fails raises ``AssertionError`` with its stderr; ``hf_python(code, **values)``
also passes ``values`` to the snippet as the JSON-decoded dict ``ARGS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

DATASETS_VERSION = "5.2.0"
VENV = Path(__file__).resolve().parent.parent / ".venv-hf"
INSTALL_TIMEOUT = 1200
RUN_TIMEOUT = 300


def _python() -> Path:
    return VENV / "bin" / "python"


def _works() -> bool:
    if not _python().exists():
        return False
    probe = f"import datasets, sys; sys.exit(datasets.__version__ != {DATASETS_VERSION!r})"
    return subprocess.run([_python(), "-c", probe], capture_output=True, timeout=RUN_TIMEOUT).returncode == 0


def ensure_venv() -> Path:
    """The Python of ``.venv-hf``, created (``python3.11 -m venv``, pip install) when missing."""
    if _works():
        return _python()
    print(f"\ninstalling datasets=={DATASETS_VERSION} into {VENV} (once)", file=sys.stderr, flush=True)
    subprocess.run(["python3.11", "-m", "venv", "--clear", str(VENV)], check=True, timeout=INSTALL_TIMEOUT)
    subprocess.run(
        [
            _python(),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"datasets=={DATASETS_VERSION}",
        ],
        check=True,
        timeout=INSTALL_TIMEOUT,
    )
    if not _works():
        raise RuntimeError(f"{VENV}: datasets=={DATASETS_VERSION} was installed but does not import")
    return _python()


def run_snippet(python: Path, code: str, cwd: str | os.PathLike | None = None, **values) -> object:
    """Run ``code`` with ``python``; its stdout's last line, decoded as JSON."""
    prelude = f"import json as _json\nARGS = _json.loads({json.dumps(json.dumps(values))})\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    if cwd is not None:
        env["HF_HOME"] = os.path.join(os.fspath(cwd), ".hf-home")
    done = subprocess.run(
        [str(python), "-c", prelude + code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=RUN_TIMEOUT,
    )
    if done.returncode != 0:
        raise AssertionError(f"the datasets snippet failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"the datasets snippet printed nothing; stderr:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


@pytest.fixture(scope="session")
def hf_python(tmp_path_factory) -> Callable[..., object]:
    """``run(code, **values)``: run ``code`` with the real ``datasets``; its printed JSON.

    Each call runs in a fresh folder with its own ``HF_HOME`` (no cache shared with the user's).
    """
    python = ensure_venv()

    def run(code: str, **values) -> object:
        return run_snippet(python, code, cwd=tmp_path_factory.mktemp("hf"), **values)

    return run
