"""The suite's data ships inside the repository: a clone with nothing beside it finds it."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

from tests.data_paths import GSM8K_DIR

REPO = pathlib.Path(__file__).resolve().parent.parent
EXPECTED_ROWS = {"train.jsonl": 7473, "test.jsonl": 1319, "test_socratic.jsonl": 1319}


def _count_lines(path: pathlib.Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def test_gsm8k_is_inside_the_repository_with_its_licence():
    folder = pathlib.Path(GSM8K_DIR).resolve()
    assert REPO in folder.parents
    assert {name: _count_lines(folder / name) for name in EXPECTED_ROWS} == EXPECTED_ROWS
    licence = (folder / "LICENSE").read_text()
    assert "MIT License" in licence and "OpenAI" in licence


def test_lookup_works_in_a_clone_with_no_shared_folder_beside_it(tmp_path):
    clone = tmp_path / "clone"  # tmp_path holds no shared/ folder: as a user's fresh clone
    (clone / "tests").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "__init__.py", clone / "tests" / "__init__.py")
    shutil.copy(REPO / "tests" / "data_paths.py", clone / "tests" / "data_paths.py")
    shutil.copytree(REPO / "tests" / "data", clone / "tests" / "data")
    assert not (tmp_path / "shared").exists()
    script = (
        "import os, json\n"
        "from tests.data_paths import GSM8K_DIR\n"
        "print(json.dumps([GSM8K_DIR, sorted(os.listdir(GSM8K_DIR))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_SHARED"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=clone, env=env, capture_output=True, text=True, check=True
    )
    found, names = json.loads(out.stdout)
    assert pathlib.Path(found).resolve() == (clone / "tests" / "data" / "gsm8k").resolve()
    assert set(EXPECTED_ROWS) <= set(names)


def test_no_test_reads_outside_the_repository():
    """No test module names the ``shared/`` folder that sits beside the developers' checkout."""
    pattern = re.compile(r"""["']\.\.["']\s*,\s*["']shared["']|\.\./shared|CRUCIBLE_SHARED""")
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("*.py")
        if path.name != "test_data_paths.py" and pattern.search(path.read_text())
    ]
    assert offenders == []
