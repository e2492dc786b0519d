"""The `aisetl` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aisetl", description="Write, test and ship AIStore ETL transforms.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the example transform against a local AIS target")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run

        return run()
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse already refused it
    return 2


if __name__ == "__main__":
    sys.exit(main())
