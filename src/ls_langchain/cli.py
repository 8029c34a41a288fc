"""The ``ls-langchain`` command: one subcommand per job, each a thin layer over the module that does the work."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from ls_langchain.errors import ConfigurationError, LSLangChainError
from ls_langchain.export import FORMATS, Filters, export_project
from ls_langchain.studio import Studio

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ls-langchain", description="Connect LangChain to Label Studio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each subcommand registers itself here: `_add_<name>(commands)` sets `handler` to a function of args -> exit code.
    _add_export(commands)
    _add_serve(commands)
    return parser


def _moment(text: str) -> datetime:
    """A date or date-time on the command line (ISO 8601; UTC unless it says otherwise)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def _studio(args: argparse.Namespace) -> Studio:
    """The Label Studio named by --url / --api-key, or by LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""
    url = args.url or os.environ.get("LABEL_STUDIO_URL") or "http://localhost:8080"
    api_key = args.api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    if not api_key:
        raise ConfigurationError("No Label Studio API key: set LABEL_STUDIO_API_KEY or pass --api-key.")
    return Studio(url, api_key)


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "export",
        help="export a project's annotations as SFT lines, preference pairs or an evaluation report",
        description="Export a project's annotations. Without filters: every annotated task, skipped ones left out.",
    )
    command.add_argument("--project", type=int, required=True, metavar="ID", help="the Label Studio project id")
    command.add_argument(
        "--format", choices=FORMATS, required=True, help="sft and preference: JSON Lines; eval: Markdown"
    )
    command.add_argument("--out", type=Path, required=True, metavar="PATH", help="the file to write (eval: the .md)")
    command.add_argument("--completions", action="store_true", help="sft as prompt/completion lines (prompt mode)")
    command.add_argument("--model", help="only answers of this model version")
    command.add_argument("--since", type=_moment, metavar="DATE", help="only annotations made from then on")
    command.add_argument("--until", type=_moment, metavar="DATE", help="only annotations made before then")
    command.add_argument("--annotator", metavar="EMAIL|ID", help="only this annotator's annotations")
    command.add_argument("--limit", type=int, metavar="N", help="stop after N exported tasks")
    command.add_argument("--all", action="store_true", help="also tasks nobody annotated (their prediction as answer)")
    command.add_argument("--url", help="Label Studio URL (default: LABEL_STUDIO_URL, then http://localhost:8080)")
    command.add_argument("--api-key", help="Label Studio API key (default: LABEL_STUDIO_API_KEY)")
    command.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    filters = Filters(
        annotated_only=not args.all,
        model=args.model,
        since=args.since,
        until=args.until,
        annotator=args.annotator,
        limit=args.limit,
    )
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"Exporting project {args.project}", total=None)
        summary = export_project(
            _studio(args),
            args.project,
            args.format,
            args.out,
            filters=filters,
            completions=args.completions,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print(summary.describe())
    return 0 if summary.records else 1


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "serve",
        help="run the interactive LLM backend (a Label Studio ML backend) over HTTP",
        description="Serve the ML backend protocol Label Studio speaks; settings come from the environment.",
    )
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    command.add_argument("--port", type=int, default=9090, help="port to listen on (default: 9090)")
    command.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ls_langchain.predictor.server import serve  # the server extra is only needed here

    serve(args.host, args.port, log_level="info" if args.verbose else "warning")
    return 0


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
