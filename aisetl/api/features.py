"""Features that live above the server classes attach here: `.serve()` (aisetl.notebook) and `.export()`,
`.build()`, `.deploy()` (aisetl.ship).

The server classes carry these methods, as users expect (`upper.serve()`), but must not import the
layers that implement them: those layers import the server classes. So each upper layer registers its
implementation when it is imported (`aisetl/__init__.py` imports them all), and the method on the class
looks it up by name. An unregistered feature is a clear error, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_features: dict[str, Callable[..., Any]] = {}


def provide(name: str, implementation: Callable[..., Any]) -> None:
    """Register `implementation` for the server-class method `name` (called once, by the upper layer)."""
    _features[name] = implementation


def call(feature: str, /, *args: Any, **kwargs: Any) -> Any:
    try:
        implementation = _features[feature]
    except KeyError:
        raise RuntimeError(f"{feature}() is provided by aisetl's upper layers: `import aisetl` first") from None
    return implementation(*args, **kwargs)
