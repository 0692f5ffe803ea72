"""No import cycles in the package: the graph of its modules' imports, read with ``ast``.

Every ``import crucible_datasets...`` and ``from crucible_datasets... import name`` counts, at
the top of a module or inside a function (``from pkg import name`` imports the module
``pkg.name`` when there is one, else ``pkg``); imports under ``if TYPE_CHECKING:`` never run
and do not count.

And importing the package stays light: no numpy, Beam, duckdb, torch... (start-up, issue 13).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import crucible_datasets

ROOT = os.path.dirname(crucible_datasets.__file__)
PACKAGE = "crucible_datasets"


def module_names() -> dict[str, str]:
    """Every module of the package: dotted name -> file."""
    out = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), os.path.dirname(ROOT))[: -len(".py")]
                parts = rel.split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                out[".".join(parts)] = os.path.join(folder, name)
    return out


def _runtime_imports(tree: ast.AST):
    """The Import/ImportFrom nodes of ``tree``, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.endswith("__init__.py")
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[module] |= {t for t in targets if t in modules and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_from_imports():
    graph = import_graph()
    assert "crucible_datasets.runners.beam.job" in graph["crucible_datasets.runners.beam"]  # in a function
    assert "crucible_datasets.transforms.beam" in graph["crucible_datasets.transforms"]  # in __getattr__
    assert "crucible_datasets.runners.base" in graph["crucible_datasets.runners.local"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


HEAVY = ("apache_beam", "duckdb", "torch", "pandas", "jsonschema", "tqdm")


def test_importing_the_package_loads_no_heavy_library():
    """numpy only when shuffling or formatting as numpy/torch, Beam only on a Beam runner or a
    remote path, duckdb only for ``sql``, torch only for ``with_format("torch")``. numpy is
    made unimportable (pyarrow works without it), so any import of it at module level fails."""
    code = (
        "import sys; sys.modules['numpy'] = None; import crucible_datasets; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing crucible_datasets loaded {proc.stdout.strip()}"


def test_importing_the_package_with_numpy_loads_no_pandas():
    """With numpy importable, as users have it: pyarrow.dataset would load pandas (half a
    second), so the Parquet reader imports it only for a pushed-down predicate."""
    code = "import sys, crucible_datasets; print('pandas' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
