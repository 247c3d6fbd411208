"""The import graph of `rl` and `rewards`: no module-level cycles, a config schema that imports nothing above it,
and every module importable on its own. Modules are found by walking the packages, so new sub-packages count."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("rl", "rewards")


def modules() -> dict[str, Path]:
    """Every module of PACKAGES by dotted name, without importing any (`__main__` runs the CLI: left out)."""
    found = {}

    def walk(name: str, folder: Path) -> None:
        found[name] = folder / "__init__.py"
        for info in pkgutil.iter_modules([str(folder)]):
            if info.ispkg:
                walk(f"{name}.{info.name}", folder / info.name)
            elif info.name != "__main__":
                found[f"{name}.{info.name}"] = folder / f"{info.name}.py"

    for package in PACKAGES:
        walk(package, REPO / package)
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """The import statements of a module: those run when it is imported (class bodies and `try`/`if` blocks
    included) and those inside functions. Imports under `if TYPE_CHECKING:` never run: left out."""
    top: list[ast.stmt] = []
    lazy: list[ast.stmt] = []

    def visit(nodes: list[ast.stmt], inside_function: bool) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                (lazy if inside_function else top).append(node)
            elif isinstance(node, ast.If) and _type_checking(node):
                visit(node.orelse, inside_function)
            else:
                function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    block = getattr(node, field, None)
                    if isinstance(block, list):
                        visit([n for n in block if isinstance(n, ast.AST)], inside_function or function)

    visit(ast.parse(path.read_text(), str(path)).body, False)
    return top, lazy


def targets(name: str, is_package: bool, node: ast.stmt, known: set[str]) -> set[str]:
    """The modules of `known` an import statement in module `name` loads (a submodule when one is named)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        parts = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
        base = ".".join(parts + ([node.module] if node.module else []))
    found = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known}
    if base in known and len(found) < len(node.names):  # a name defined in the module itself
        found.add(base)
    return found


def graph(lazy: bool) -> dict[str, set[str]]:
    """module -> the modules of PACKAGES it imports (module level only, or with function-level imports too)."""
    found = modules()
    known = set(found)
    edges = {}
    for name, path in found.items():
        top, inner = imports(path)
        is_package = path.name == "__init__.py"
        edges[name] = {t for node in top + (inner if lazy else []) for t in targets(name, is_package, node, known)}
        edges[name].discard(name)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_modules_are_found_by_walking():
    found = modules()
    assert {"rl", "rl.config", "rl.train.lora", "rewards", "rewards.registry"} <= set(found)
    assert "rl.__main__" not in found


def test_module_level_imports_form_no_cycle():
    cycle = find_cycle(graph(lazy=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_config_schema_imports_nothing_that_imports_it():
    """rl.config is imported by nearly everything; even its lazy imports must not lead back to it."""
    edges = graph(lazy=True)
    parent = {"rl.config": None}
    queue = ["rl.config"]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges[node]):
            if nxt == "rl.config":
                chain = [node]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                pytest.fail("rl.config imports up: " + " -> ".join(["rl.config", *reversed(chain[:-1]), nxt]))
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)


def test_cycle_finder_reports_the_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


# Each module is imported first of the repository's ones, in one fresh interpreter: before each, every `rl` and
# `rewards` module is dropped from sys.modules (third-party libraries stay loaded, which keeps this fast).
ALONE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in {packages}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-3))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone():
    names = sorted(modules())
    code = ALONE.format(packages=set(PACKAGES))
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]


LIGHT = ("rl.cli", "rl.rundir", "rl.distenv", "rl.tracking", "rl.config", "rl.eval.command")
"""Modules every command loads before it knows what it needs (the CLI, the run directory, wandb's starter, the
config schema, `rlvr eval`'s options): they must not pull in torch or transformers (seconds on every call)."""


def test_light_modules_do_not_import_torch_or_transformers():
    code = (
        "import importlib, sys\n"
        f"for name in {LIGHT!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'wandb') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
