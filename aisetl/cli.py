"""The `aisetl` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Any

from .ship.export import COMMS

# `aisetl serve` with several workers hands uvicorn an import string; this variable tells the
# factory below which MODULE:NAME each worker process loads.
_TARGET_ENV = "AISETL_SERVE_TARGET"
_FAILED_ENV = "AISETL_SERVE_FAILED"  # where a worker that cannot load the app writes why


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
    """Each worker's app. A worker that cannot make it (an import error, a failing setup hook) would be
    restarted by uvicorn's supervisor forever: it stops the supervisor instead, and says why."""
    try:
        return load_app(os.environ[_TARGET_ENV])
    except BaseException as exc:
        message = exc.code if isinstance(exc, SystemExit) else "".join(traceback.format_exception(exc))
        failure_file = os.environ.get(_FAILED_ENV)
        if failure_file:
            with open(failure_file, "a") as f:
                f.write(f"{message}\n")
        os.kill(os.getppid(), signal.SIGTERM)
        raise


def serve_workers(target: str, options: dict[str, Any]) -> int:
    """uvicorn with several worker processes; exit status 1 with the error when a worker cannot start."""
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="aisetl-serve-") as tmp:
        failure_file = os.path.join(tmp, "failed")
        os.environ[_TARGET_ENV] = target
        os.environ[_FAILED_ENV] = failure_file
        uvicorn.run("aisetl.cli:app_factory", factory=True, **options)
        if os.path.exists(failure_file):
            with open(failure_file) as f:
                first = f.read().strip().split("\n\n")[0]
            print(f"aisetl serve: a worker could not load {target}; stopped:\n{first}", file=sys.stderr)
            return 1
    return 0


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
    export.add_argument("--python", help="the image's Python major.minor (default: this one's)")
    export.add_argument("--no-direct-put", action="store_true")
    export.add_argument("--direct-fqn", action="store_true")
    export.add_argument("--init-timeout", default="5m")
    export.add_argument("--obj-timeout", default="45s")
    export.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    export.add_argument("--os-package", action="append", default=[], help="a Debian package to install")
    export.add_argument("--resources", help='the pods\' requests/limits as JSON: {"requests": {"cpu": "1"}}')
    export.add_argument("--file-group", type=int, help="with --direct-fqn: the group owning AIS's object files")
    export.add_argument("--ca-bundle", help="a PEM file the image trusts (pip behind a TLS-re-signing proxy)")
    export.add_argument("--force", action="store_true", help="take an image name a cluster cannot pull")

    check = commands.add_parser("check", help="check a running ETL server against the AIS contract")
    check.add_argument("url", nargs="?", help="the server's URL (not with --serve)")
    check.add_argument(
        "--target-url",
        help="the server's AIS_TARGET_URL (http://127.0.0.1:<port>/v1/etl/_object/<etl>/<secret>): the stand-in "
        "target takes its place, so hpull and direct put to a target are checked too",
    )
    check.add_argument("--serve", metavar="MODULE:NAME", help="start the server itself, with the stand-in target")
    check.add_argument(
        "--target-port",
        type=int,
        help="serve the stand-in target on this port; start the ETL server with the AIS_TARGET_URL printed",
    )
    check.add_argument(
        "--target-dir",
        help="keep the stand-in target's objects in this folder (mount it at the same path in a container "
        "to check file-path mode)",
    )
    check.add_argument("--object", metavar="FILE", help="check with this object instead of a text sample")
    check.add_argument("--etl-args", default="", help="etl_args sent with every request (a JSON object as is)")

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
            return serve_workers(args.target, options)
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
            os_packages=args.os_package,
            resources=json.loads(args.resources) if args.resources else None,
            file_group=args.file_group,
            ca_bundle=args.ca_bundle,
            force=args.force,
        )
        print(f"build context written to {out}")
        return 0
    if args.command == "check":
        from .check_command import run_checks

        if (args.url is None) == (args.serve is None):
            parser.error("check: give the server's URL or --serve MODULE:NAME (one of them)")
        return run_checks(
            args.url,
            args.target_port,
            target_dir=args.target_dir,
            target_url=args.target_url,
            serve=args.serve,
            object_file=args.object,
            etl_args=args.etl_args,
        )
    return 2  # argparse refuses unknown commands before this


if __name__ == "__main__":
    sys.exit(main())
