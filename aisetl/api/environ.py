"""Per-server environment variables in one process: `os.environ` as each server's code sees it.

In its container an ETL server reads its settings from the process environment, and so do the transform,
its set-up hook and every library they call (`os.environ["MODEL"]`, `os.getenv("HF_HOME")`). In a notebook
kernel several servers share one process, so `serve(MODEL=...)` must not write the process environment:
two servers of the same function with different settings would overwrite each other, and the kernel would
keep values after the servers are gone.

So `os.environ` is made context-aware, once, the first time a layer is used: its class becomes a subclass
that looks up a `ContextVar` first. A server started by `serve()` runs in a context holding its `Layer`
(its values over the process environment): the server's thread copies the context of the code that
started it, and so do its worker threads and tasks. Code running there sees the server's values through
`os.environ`, `os.getenv` and `from os import environ` alike (the object is the same, only its class
changes); writes and deletions stay in the layer. Code in any other context (the kernel's cells, other
servers) sees the process environment, unchanged.

Subprocesses: `subprocess.Popen` (and `run`, `check_output`, `os.popen`) started from a layered context
without `env=` get the layer's environment. Not covered, because they read the C-level environment:
`os.system`, `os.exec*`/`os.spawn*` without an env, `multiprocessing` with the spawn or forkserver start
method, `os.environb`, and C code calling getenv(3) (set such variables in the kernel before serving).
Threads a transform starts itself begin in an empty context (Python < 3.14); start them with
`contextvars.copy_context().run` to keep the server's values, as aisetl's own worker threads do.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Layer:
    """Environment values of one server: `values` over the process environment (`inherit`) or alone.

    A value of None hides the process's variable of that name (as if unset).
    """

    values: dict[str, str | None] = field(default_factory=dict)
    inherit: bool = True

    def view(self) -> dict[str, str]:
        """The whole environment as code in this layer sees it."""
        base: dict[str, str] = dict(_process_items()) if self.inherit else {}
        for key, value in self.values.items():
            if value is None:
                base.pop(key, None)
            else:
                base[key] = value
        return base


_LAYER: contextvars.ContextVar[Layer | None] = contextvars.ContextVar("aisetl_environ_layer", default=None)
_ProcessEnviron: Any = type(os.environ)  # os._Environ, or our subclass when imported twice (reload)
_install_lock = threading.Lock()


def _process_items() -> Iterator[tuple[str, str]]:
    # The process environment itself, bypassing any layer.
    for key in list(_ProcessEnviron.__iter__(os.environ)):
        with contextlib.suppress(KeyError):  # unset meanwhile by another thread
            yield key, _ProcessEnviron.__getitem__(os.environ, key)


class ContextEnviron(_ProcessEnviron):  # type: ignore[misc]
    """`os.environ`'s class once layers are in use: the current context's layer first."""

    def __getitem__(self, key: str) -> str:
        layer = _LAYER.get()
        if layer is None:
            return super().__getitem__(key)  # type: ignore[no-any-return]
        if key in layer.values:
            value = layer.values[key]
            if value is None:
                raise KeyError(key)
            return value
        if not layer.inherit:
            raise KeyError(key)
        return super().__getitem__(key)  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: str) -> None:
        layer = _LAYER.get()
        if layer is None:
            super().__setitem__(key, value)
            return
        self.encodekey(key), self.encodevalue(value)  # the same TypeError as os.environ for a non-str
        layer.values[key] = value

    def __delitem__(self, key: str) -> None:
        layer = _LAYER.get()
        if layer is None:
            super().__delitem__(key)
            return
        self[key]
        layer.values[key] = None

    def __iter__(self) -> Iterator[str]:
        layer = _LAYER.get()
        if layer is None:
            return super().__iter__()  # type: ignore[no-any-return]
        return iter(list(layer.view()))

    def __len__(self) -> int:
        layer = _LAYER.get()
        return super().__len__() if layer is None else len(layer.view())

    def __repr__(self) -> str:
        layer = _LAYER.get()
        return super().__repr__() if layer is None else f"environ({layer.view()!r})"


_popen_init = subprocess.Popen.__init__
# How many positional arguments come before `env` (self excluded): Popen(args, bufsize, ..., cwd, env).
_POPEN_ENV_POSITION = list(inspect.signature(_popen_init).parameters).index("env") - 1


def _popen_init_in_layer(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
    # A child started without env= inherits the C-level environment, which layers never touch: give it
    # the layer's view instead, as the server's container would.
    if _LAYER.get() is not None and kwargs.get("env") is None and len(args) <= _POPEN_ENV_POSITION:
        kwargs["env"] = dict(os.environ)
    _popen_init(self, *args, **kwargs)


def install() -> None:
    """Make os.environ (and subprocess.Popen) layer-aware; idempotent, a no-op outside any layer."""
    with _install_lock:
        if not isinstance(os.environ, ContextEnviron):
            os.environ.__class__ = ContextEnviron
        if subprocess.Popen.__init__ is not _popen_init_in_layer:
            subprocess.Popen.__init__ = _popen_init_in_layer  # type: ignore[method-assign]


@contextlib.contextmanager
def environ_layer(values: Mapping[str, str | None], inherit: bool = True) -> Iterator[Layer]:
    """Run the block (and every thread or task it starts with its context) with `values` in os.environ.

    `inherit=False` shows `values` alone, without the process environment (tests: a hermetic server).
    """
    install()
    layer = Layer(dict(values), inherit)
    token = _LAYER.set(layer)
    try:
        yield layer
    finally:
        _LAYER.reset(token)


def current_layer() -> Layer | None:
    return _LAYER.get()
