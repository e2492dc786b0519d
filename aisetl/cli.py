"""The `aisetl` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from .ship.export import COMMS

# `aisetl serve` with several workers hands uvicorn an import string; this variable tells the
# factory below which MODULE:NAME each worker process loads.
_TARGET_ENV = "AISETL_SERVE_TARGET"


def load_app(spec: str) -> Any:
    """The ASGI app of MODULE:NAME, where NAME is a server class, a server instance or an ASGI app."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"aisetl: expected MODULE:NAME (e.g. transform:Upper), got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"aisetl: cannot load {spec!r}: {exc}") from None
    if isinstance(obj, type):
        obj = obj()  # a server class: one instance per process (per worker)
    return getattr(obj, "app", obj)


def app_factory() -> Any:
    return load_app(os.environ[_TARGET_ENV])


def load_class(spec: str) -> type:
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj = getattr(importlib.import_module(module_name), attr)
    if not isinstance(obj, type):
        raise SystemExit(f"aisetl: {spec!r} is not a server class")
    return obj


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aisetl", description="Write, test and ship AIStore ETL transforms.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the example transform against a local AIS target")

    serve = commands.add_parser("serve", help="serve MODULE:NAME with uvicorn and the AIS flags (production)")
    serve.add_argument("target", metavar="MODULE:NAME")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)

    export = commands.add_parser("export", help="write the container build context of MODULE:NAME to DIR")
    export.add_argument("target", metavar="MODULE:NAME")
    export.add_argument("dir")
    export.add_argument("--image")
    export.add_argument("--name")
    export.add_argument("--comm", choices=COMMS, default="hpush")
    export.add_argument("--workers", type=int, default=4)
    export.add_argument("--python", default="3.11")
    export.add_argument("--no-direct-put", action="store_true")
    export.add_argument("--direct-fqn", action="store_true")
    export.add_argument("--init-timeout", default="5m")
    export.add_argument("--obj-timeout", default="45s")
    export.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")

    check = commands.add_parser("check", help="check a running ETL server against the AIS contract")
    check.add_argument("url")
    check.add_argument(
        "--target-port",
        type=int,
        help="serve the stand-in target on this port; start the ETL server with the AIS_TARGET_URL printed "
        "to also check hpull",
    )

    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run

        return run()
    if args.command == "serve":
        import logging

        import uvicorn

        # The production entry point: aisetl's own log lines (errors per object) in uvicorn's format.
        logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")

        from .server.config import uvicorn_options

        options = uvicorn_options(host=args.host, port=args.port, workers=args.workers)
        if args.workers > 1:
            os.environ[_TARGET_ENV] = args.target
            uvicorn.run("aisetl.cli:app_factory", factory=True, **options)
        else:
            uvicorn.run(load_app(args.target), **options)
        return 0
    if args.command == "export":
        from .ship.export import export as do_export

        env = dict(item.split("=", 1) for item in args.env)
        out = do_export(
            load_class(args.target),
            args.dir,
            image=args.image,
            comm=args.comm,
            workers=args.workers,
            python=args.python,
            direct_put=not args.no_direct_put,
            direct_fqn=args.direct_fqn,
            init_timeout=args.init_timeout,
            obj_timeout=args.obj_timeout,
            env=env,
            name=args.name,
        )
        print(f"build context written to {out}")
        return 0
    if args.command == "check":
        from .check import run_checks

        return run_checks(args.url, args.target_port)
    return 2  # argparse refuses unknown commands before this


if __name__ == "__main__":
    sys.exit(main())
