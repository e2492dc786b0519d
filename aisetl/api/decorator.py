"""`@etl`: a plain function becomes an ETL server class (a FastAPIServer subclass that owns it).

```python
@etl
def upper(data: bytes) -> bytes:
    return data.upper()

@etl(mime_type="text/plain", name="word-count", setup=load_vocabulary)
def count(data, path, etl_args, state):    # state = what setup() returned, once per server process
    ...

@etl
def gunzip(reader, path):                  # a generator: streaming, reader is a binary file-like object
    ...
```

The mapping from (data, path, etl_args, state) to the function's parameters is worked out once, at
decoration, and compiled into the cheapest call for it: it runs for every object.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar, overload

from ..server.output import as_bytes
from ..wire import DEFAULT_MIME_TYPE
from .fastapi_server import FastAPIServer

F = TypeVar("F", bound=Callable[..., Any])

# Names matched wherever they stand; anything else is filled by position: data, path, etl_args.
_BY_NAME = ("data", "reader", "path", "etl_args", "state")
_POSITIONS = ("data", "path", "etl_args")
_OK_RETURNS = (bytes, bytearray, memoryview, str)
# Return annotations that cannot be an ETL's output.
_BAD_RETURNS = (int, float, bool, dict, list, tuple, set, type(None), None)


class FunctionETL(FastAPIServer):
    """Base of the classes `@etl` makes. Class attributes: `func`, `setup`, `etl_name`, `mime_type`."""

    func: Callable[..., Any]
    setup: Callable[[], Any] | None = None
    etl_name: str = ""
    mime_type: str = DEFAULT_MIME_TYPE

    def __init__(self, host: str = "0.0.0.0", port: int = 8000) -> None:
        super().__init__(host, port)
        hook = type(self).setup
        self.state: Any = None
        if hook is not None:
            try:
                self.state = hook()
            except Exception as exc:
                name = getattr(hook, "__qualname__", repr(hook))
                raise RuntimeError(f"@etl set-up hook {name}() of {type(self).__name__} failed: {exc}") from exc

    def get_mime_type(self) -> str:
        return type(self).mime_type


def _signature_error(func: Callable[..., Any], problem: str) -> TypeError:
    params = inspect.signature(func).replace(return_annotation=inspect.Signature.empty)
    return TypeError(
        f"@etl: {func.__qualname__}{params} {problem}; parameters are data (or reader), path, etl_args and state"
    )


def _plan(func: Callable[..., Any], has_setup: bool) -> tuple[list[str], dict[str, str]]:
    """Which value goes to each parameter: (positional values, keyword values), by value name.

    Known names are matched wherever they stand; the first parameter is the object whatever its
    name; other required positional parameters take path, then etl_args; parameters with defaults
    that match nothing keep their defaults; `*args` takes (data, path, etl_args).
    """
    params = list(inspect.signature(func).parameters.values())
    if not params:
        raise _signature_error(func, "takes no parameters")
    chosen: list[tuple[inspect.Parameter, str]] = []
    for i, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name in _BY_NAME:
            value = "data" if p.name == "reader" else p.name
        elif i == 0 and p.kind is not p.KEYWORD_ONLY:
            value = "data"
        elif p.default is not p.empty:
            continue
        elif p.kind is not p.KEYWORD_ONLY and (value := _next_free(chosen)):
            pass
        else:
            raise _signature_error(func, f"has a required parameter {p.name!r} that aisetl cannot fill")
        if value == "state" and not has_setup:
            raise _signature_error(func, "takes 'state' but @etl was given no setup= hook")
        chosen.append((p, value))
    if any(p.kind is p.VAR_POSITIONAL for p in params) and not chosen:
        return list(_POSITIONS), {}
    if "data" not in [v for _, v in chosen]:
        raise _signature_error(func, "has no parameter for the object (data or reader)")
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for p, value in chosen:
        # Positional while the parameters line up from the start; by keyword after any gap.
        in_line = p.kind is not p.KEYWORD_ONLY and params.index(p) == len(positional) and not keywords
        if in_line or p.kind is p.POSITIONAL_ONLY:
            positional.append(value)
        else:
            keywords[p.name] = value
    return positional, keywords


def _next_free(chosen: list[tuple[inspect.Parameter, str]]) -> str:
    taken = {v for _, v in chosen}
    return next((v for v in ("path", "etl_args") if v not in taken), "")


def _caller(func: Callable[..., Any], positional: list[str], keywords: dict[str, str]) -> Callable[..., Any]:
    """f(data, path, etl_args, state) -> func(...), specialised for the common shapes."""
    if not keywords:
        shape = tuple(positional)
        if shape == ("data",):
            return lambda d, p, a, s: func(d)
        if shape == ("data", "path"):
            return lambda d, p, a, s: func(d, p)
        if shape == ("data", "path", "etl_args"):
            return lambda d, p, a, s: func(d, p, a)

    def call(d: Any, p: str, a: str, s: Any) -> Any:
        values = {"data": d, "path": p, "etl_args": a, "state": s}
        return func(*(values[v] for v in positional), **{k: values[v] for k, v in keywords.items()})

    return call


def _check_return_annotation(func: Callable[..., Any]) -> None:
    try:
        annotation = typing.get_type_hints(func).get("return", inspect.Signature.empty)
    except Exception:
        return  # an annotation that does not resolve here: judged at run time instead
    if annotation is inspect.Signature.empty:
        return
    if annotation in _BAD_RETURNS:
        raise TypeError(
            f"@etl: {func.__qualname__}() is annotated to return {getattr(annotation, '__name__', annotation)}; "
            "an ETL returns bytes, bytearray, memoryview or str"
        )


def _make_class(
    func: Callable[..., Any], mime_type: str, name: str | None, setup: Callable[[], Any] | None
) -> type[FunctionETL]:
    if inspect.isasyncgenfunction(func):
        raise TypeError(f"@etl: {func.__qualname__} is an async generator; write a plain generator for streaming")
    _check_return_annotation(func)
    positional, keywords = _plan(func, setup is not None)
    call = _caller(func, positional, keywords)
    fname = func.__qualname__
    namespace: dict[str, Any] = {
        "func": staticmethod(func),
        "setup": staticmethod(setup) if setup is not None else None,
        "etl_name": name or func.__name__.lower().replace("_", "-"),
        "mime_type": mime_type,
        "__module__": func.__module__,
        "__qualname__": func.__qualname__,
        "__doc__": func.__doc__,
        "__wrapped__": staticmethod(func),
    }
    if inspect.isgeneratorfunction(func):

        def transform_stream(self: FunctionETL, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
            for chunk in call(reader, path, etl_args, self.state):
                yield as_bytes(chunk, f"{fname}()")

        namespace["transform_stream"] = transform_stream
    elif inspect.iscoroutinefunction(func):

        async def transform(self: FunctionETL, data: bytes | str, path: str, etl_args: str) -> bytes:
            return as_bytes(await call(data, path, etl_args, self.state), f"{fname}()")

        namespace["transform"] = transform
    else:

        def transform(self: FunctionETL, data: bytes | str, path: str, etl_args: str) -> bytes:  # type: ignore[misc]
            return as_bytes(call(data, path, etl_args, self.state), f"{fname}()")

        namespace["transform"] = transform
    return type(func.__name__, (FunctionETL,), namespace)


@overload
def etl(func: Callable[..., Any], /) -> type[FunctionETL]:
    # Bare use: @etl
    ...


@overload
def etl(
    *, mime_type: str = ..., name: str | None = ..., setup: Callable[[], Any] | None = ...
) -> Callable[[Callable[..., Any]], type[FunctionETL]]:
    # With options: @etl(mime_type="text/plain", setup=load)
    ...


def etl(
    func: Callable[..., Any] | None = None,
    /,
    *,
    mime_type: str = DEFAULT_MIME_TYPE,
    name: str | None = None,
    setup: Callable[[], Any] | None = None,
) -> type[FunctionETL] | Callable[[Callable[..., Any]], type[FunctionETL]]:
    """Make an ETL server class from a function; see the module docstring."""
    if func is not None:
        if not callable(func):
            raise TypeError(f"@etl takes a function, got {type(func).__name__}")
        return _make_class(func, mime_type, name, setup)
    return lambda f: _make_class(f, mime_type, name, setup)
