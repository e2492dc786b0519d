"""The package's layers (ARCHITECTURE.md): imports point down or sideways, never up, and never in a cycle.

Every import counts: module level, inside functions (lazy) and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest

import aisetl

PACKAGE = Path(aisetl.__file__).parent
MAX_LINES = 400

# Lowest first. A module may import from its own layer or any layer listed before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("aisetl._exceptions", "aisetl._version")),
    ("wire", ("aisetl.wire",)),
    ("server", ("aisetl.server",)),
    ("api", ("aisetl.api",)),
    ("notebook", ("aisetl.notebook",)),
    ("ship", ("aisetl.ship",)),
    ("local", ("aisetl.local",)),
    ("top", ("aisetl.cli", "aisetl.demo", "aisetl.check", "aisetl.check_command", "aisetl.__main__", "aisetl")),
]
# The wire rules are pure: these are the only imports allowed there besides aisetl's own base layer.
WIRE_STDLIB = {
    "__future__",
    "dataclasses",
    "json",
    "posixpath",
    "collections",
    "urllib",
    "typing",
    "re",
    "math",
    "stat",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and ARCHITECTURE.md")
    return best


def imports_of(module: str) -> set[str]:
    """Every aisetl module `module` imports (resolved to a module, not a name inside one), and every
    other top-level package."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return found


GRAPH = {m: {i for i in imports_of(m) if i in MODULES and i != m} for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = layer_of(module)
    upward = sorted(i for i in GRAPH[module] if layer_of(i) > mine and module != "aisetl")
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports from a higher layer: {upward}"


def test_no_import_cycles():
    # The package __init__ imports everything by design (it is the top); leave it out.
    graph = {m: {i for i in deps if i != "aisetl"} for m, deps in GRAPH.items() if m != "aisetl"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep.startswith("aisetl.") and dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("aisetl.wire")))
def test_wire_rules_import_only_the_stdlib(module):
    outside = sorted(i for i in imports_of(module) if not i.startswith("aisetl") and i.split(".")[0] not in WIRE_STDLIB)
    assert not outside, f"{module} is pure (stdlib only, no I/O) but imports {outside}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it (at most {MAX_LINES})"


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test above would pass vacuously if imports were not found: check it finds a known edge."""
    assert "aisetl.wire" in GRAPH["aisetl.server.app"]
    assert "aisetl.api.features" in GRAPH["aisetl.api.base"]
    assert layer_of("aisetl.server.app") < layer_of("aisetl.api.base") < layer_of("aisetl.local.target")


def test_exported_members():
    """`__all__` lists exactly the public names the package defines (httpx's test)."""
    public = {
        name
        for name in dir(aisetl)
        if not name.startswith("_") and name != "annotations" and not isinstance(getattr(aisetl, name), ModuleType)
    }
    assert set(aisetl.__all__) == public | {"__version__"}
    assert aisetl.__all__ == sorted(aisetl.__all__)
