"""Print pip constraints that pin each runtime dependency in setup.py to its declared floor.

``make test-floors`` installs the package with these constraints (``pip install -c``) and runs
the test suite, proving that the lower bounds in ``install_requires`` are versions the code
works with. Each requirement must have a ``>=`` floor: ``name[extra]>=X,<Y`` becomes
``name==X`` (constraints take no extras). Reads setup.py without running it.

    python .ci/floors.py [setup.py] > constraints.txt
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def install_requires(setup_py: Path) -> list[str]:
    """The literal ``install_requires=[...]`` list of the ``setup()`` call in ``setup_py``."""
    tree = ast.parse(setup_py.read_text(encoding="utf-8"), str(setup_py))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "install_requires":
                    return list(ast.literal_eval(keyword.value))
    raise SystemExit(f"{setup_py}: no install_requires=[...] found")


def floor_pin(requirement: str) -> str:
    """``"apache-beam[gcp]>=2.63,<3"`` -> ``"apache-beam==2.63"``."""
    match = _REQUIREMENT.match(requirement)
    if not match or match.group(4):
        raise SystemExit(f"{requirement!r}: cannot read this requirement (no markers, please)")
    name, specifiers = match.group(1), match.group(3)
    floors = [spec[2:].strip() for spec in specifiers.split(",") if spec.strip().startswith(">=")]
    if len(floors) != 1:
        raise SystemExit(f"{requirement!r}: every runtime dependency needs exactly one '>=' floor")
    return f"{name}=={floors[0]}"


def main(argv: list[str]) -> int:
    setup_py = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "setup.py"
    print(f"# The floors of {setup_py.name}'s install_requires, written by .ci/floors.py.")
    for requirement in install_requires(setup_py):
        print(floor_pin(requirement))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
