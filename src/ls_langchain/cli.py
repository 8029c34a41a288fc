"""The ``ls-langchain`` command: one subcommand per job, each a thin layer over the module that does the work."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ls_langchain.errors import LSLangChainError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ls-langchain", description="Connect LangChain to Label Studio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each subcommand registers itself here: `_add_<name>(commands)` sets `handler` to a function of args -> exit code.
    del commands
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; errors of ours print as one line and exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        result: int = args.handler(args)
    except LSLangChainError as exc:
        print(f"ls-langchain: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ls-langchain: interrupted", file=sys.stderr)
        return 130
    return result


if __name__ == "__main__":
    sys.exit(main())
