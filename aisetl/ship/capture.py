"""Capture an ETL class as readable source: the class (or @etl function) and the module-level names it
uses, so that a transform written in a notebook cell runs in a container unchanged.

Free names of the source are looked up in the defining module (a notebook's `__main__` included):
modules become imports, functions and classes of that module are captured the same way (recursively),
functions and classes of other modules are imported from them, plain constants are written as literals.
What none of that covers (a loaded model, a lambda, an open client) is pickled with cloudpickle into a
file next to the source, with a warning naming it.
"""

from __future__ import annotations

import ast
import base64
import builtins
import importlib.metadata
import inspect
import sys
import textwrap
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_LITERALS = (int, float, complex, str, bytes, bool, type(None))


@dataclass
class Captured:
    """The pieces of a transform module, in the order they must be written."""

    imports: list[str] = field(default_factory=list)
    constants: list[str] = field(default_factory=list)
    pickled: dict[str, bytes] = field(default_factory=dict)  # name -> cloudpickle payload
    definitions: list[str] = field(default_factory=list)  # helper sources first, the transform last
    modules: set[str] = field(default_factory=set)  # top-level modules imported (for requirements)

    def local_modules(self) -> dict[str, str]:
        """Imported top-level modules that no installed distribution provides (a helpers.py next to
        the notebook): name -> the file or package folder to copy into the build context."""
        dists = importlib.metadata.packages_distributions()
        local = {}
        for module in self.modules:
            if module in sys.stdlib_module_names or module in dists or module == "aisetl":
                continue
            mod = sys.modules.get(module)
            path = getattr(mod, "__file__", None)
            if path:
                p = Path(path)
                local[module] = str(p.parent if p.name == "__init__.py" else p)
        return local

    def source(self) -> str:
        parts = ['"""Transform captured by aisetl export."""', ""]
        parts += sorted(set(self.imports))
        if self.pickled:
            parts += ["import base64", "import cloudpickle"]
        if self.constants or self.pickled:
            parts.append("")
        parts += self.constants
        for name, payload in self.pickled.items():
            encoded = base64.b64encode(payload).decode()
            parts.append(f"{name} = cloudpickle.loads(base64.b64decode({encoded!r}))")
        for definition in self.definitions:
            parts += ["", "", definition.rstrip()]
        return "\n".join(parts) + "\n"


def _is_literal(value: object, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(value, _LITERALS):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_is_literal(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_is_literal(k, depth + 1) and _is_literal(v, depth + 1) for k, v in value.items())
    return False


def _free_names(tree: ast.AST) -> list[str]:
    """Names read in `tree` that it does not bind itself, in first-use order."""
    bound: set[str] = set()
    used: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                bound.add(node.id)
            elif node.id not in used:
                used.append(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return [n for n in used if n not in bound and not hasattr(builtins, n)]


def _import_line(name: str, value: Any) -> tuple[str, str] | None:
    """An import statement binding `name` to `value`, and the top-level module it needs; None if none."""
    if isinstance(value, types.ModuleType):
        mod_name = value.__name__
        line = f"import {mod_name}" if mod_name == name else f"import {mod_name} as {name}"
        return line, mod_name.split(".")[0]
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if module and qualname and module != "__main__" and "." not in qualname and "<" not in qualname:
        top = module.split(".")[0]
        if getattr(sys.modules.get(top), qualname, None) is value:
            module = top  # the public name (aisetl.etl, not aisetl._decorator.etl)
        owner = sys.modules.get(module)
        if owner is not None and getattr(owner, qualname, None) is value:
            line = (
                f"from {module} import {qualname}" if qualname == name else f"from {module} import {qualname} as {name}"
            )
            return line, module.split(".")[0]
    return None


def definition_source(obj: Any) -> str:
    return textwrap.dedent(inspect.getsource(obj))


def capture(obj: Any) -> Captured:
    """Capture `obj` (a function, with its decorators, or a class) and what it needs."""
    out = Captured()
    _capture_into(out, obj, set())
    return out


def _capture_into(out: Captured, obj: Any, seen: set[str]) -> None:
    source = definition_source(obj)
    tree = ast.parse(source)
    module_globals = vars(sys.modules[obj.__module__]) if obj.__module__ in sys.modules else {}
    for name in _free_names(tree):
        if name in seen:
            continue
        seen.add(name)
        if name not in module_globals:
            continue  # a name resolved elsewhere (a closure or a builtin-like); left to fail loudly if wrong
        value = module_globals[name]
        own = (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == obj.__module__
        imported = None if own else _import_line(name, value)
        if own:
            try:
                _capture_into(out, value, seen)
            except (OSError, TypeError):
                _pickle(out, name, value)
        elif imported is not None:
            out.imports.append(imported[0])
            out.modules.add(imported[1])
        elif _is_literal(value) and _round_trips(value):
            out.constants.append(f"{name} = {value!r}")
        else:
            _pickle(out, name, value)
    out.definitions.append(source)


def _round_trips(value: object) -> bool:
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return False


def _pickle(out: Captured, name: str, value: Any) -> None:
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError:
        raise RuntimeError(
            f"export: {name!r} ({type(value).__name__}) cannot be written as source, and cloudpickle, which "
            "could carry it, is not installed (pip install cloudpickle)"
        ) from None
    warnings.warn(
        f"export: {name!r} ({type(value).__name__}) cannot be written as source; it is carried pickled "
        "(cloudpickle), as a snapshot of its current value",
        stacklevel=4,
    )
    out.pickled[name] = cloudpickle.dumps(value)
    out.modules.add("cloudpickle")
