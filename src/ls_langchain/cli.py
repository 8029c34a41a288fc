"""The ``ls-langchain`` command: one subcommand per job, each a thin layer over the module that does the work."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from ls_langchain.delivery import OUTBOX_DIR_ENV, Outbox
from ls_langchain.destination import ProjectSpec, open_delivery, waiting_destinations
from ls_langchain.errors import ConfigurationError, LSLangChainError
from ls_langchain.export import FORMATS, Filters, export_project
from ls_langchain.studio import Studio, resolve_api_key, resolve_url

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ls-langchain", description="Connect LangChain to Label Studio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Each subcommand registers itself here: `_add_<name>(commands)` sets `handler` to a function of args -> exit code.
    _add_export(commands)
    _add_serve(commands)
    _add_outbox(commands)
    _add_predict(commands)
    _add_evaluate(commands)
    _add_learn(commands)
    return parser


def _moment(text: str) -> datetime:
    """A date or date-time on the command line (ISO 8601; UTC unless it says otherwise)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


def _studio(args: argparse.Namespace) -> Studio:
    """The Label Studio named by --url / --api-key, or by LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""
    return Studio(resolve_url(args.url, argument="--url"), resolve_api_key(args.api_key, argument="--api-key"))


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr (only on a terminal); yields the ``progress(done, total)`` callback to feed it."""
    console = Console(stderr=True)
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


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
    with _progress(f"Exporting project {args.project}") as progress:
        summary = export_project(
            _studio(args),
            args.project,
            args.format,
            args.out,
            filters=filters,
            completions=args.completions,
            progress=progress,
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


def _add_outbox(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    outbox = commands.add_parser("outbox", help="see, push, retry, drop or redirect the runs waiting for Label Studio")
    actions = outbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="per project: runs waiting, held (per reason), delivered, dropped")
    flush = actions.add_parser("flush", help="send every waiting run now, with a progress bar")
    flush.add_argument("--api-key", help="Label Studio API key (default: LABEL_STUDIO_API_KEY)")
    flush.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS", help="give up after this long")
    retry = actions.add_parser("retry", help="put held runs back in line (after fixing a key, a config, a project)")
    drop = actions.add_parser("drop", help="delete held runs for good (counted as dropped, with their reason)")
    drop.add_argument("--all", action="store_true", help="the held runs of every project")
    redirect = actions.add_parser("redirect", help="send a project's waiting and held runs to another project")
    redirect.add_argument("--to-project", type=int, required=True, metavar="ID", help="the project to send them to")
    for command in (flush, retry, drop, redirect):
        command.add_argument("--url", help="only the projects on this Label Studio")
    for command in (retry, drop, redirect):
        command.add_argument(
            "--project", metavar="ID|TITLE", required=command is redirect, help="only this project (id or title)"
        )
    for command in (status, flush, retry, drop, redirect):
        command.add_argument(
            "--outbox-dir", type=Path, help=f"the outbox folder (default: {OUTBOX_DIR_ENV}, then the user data dir)"
        )
    status.set_defaults(handler=_outbox_status)
    flush.set_defaults(handler=_outbox_flush)
    retry.set_defaults(handler=_outbox_retry)
    drop.set_defaults(handler=_outbox_drop)
    redirect.set_defaults(handler=_outbox_redirect)


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _open_outbox(args: argparse.Namespace) -> Outbox | None:
    """The outbox of --outbox-dir (else the default), or None, said on stderr, when there is none: never made here."""
    try:
        return Outbox(args.outbox_dir, create=False)
    except FileNotFoundError as exc:
        print(f"ls-langchain: no outbox at {exc.args[0]}: nothing was logged there.", file=sys.stderr)
        return None


def _project_name(spec: ProjectSpec) -> str:
    project = f"id {spec.project_id}" if spec.project_id is not None else repr(spec.title)
    return f"{spec.url} {project}"


def _selected(outbox: Outbox, args: argparse.Namespace) -> list[tuple[str, ProjectSpec]]:
    """The outbox's targets that --url and --project pick (all when neither is given)."""
    chosen = []
    for status in outbox.status():
        spec = ProjectSpec.from_description(status.spec)
        if args.url and spec.url != args.url.rstrip("/"):
            continue
        wanted = getattr(args, "project", None)
        if wanted is not None and wanted not in (str(spec.project_id), spec.title):
            continue
        chosen.append((status.target, spec))
    return chosen


def _print_table(table: Table) -> None:
    # Off a terminal, rich would cut the table to 80 columns; a wide console keeps every value whole.
    Console(width=None if sys.stdout.isatty() else 240).print(table)


def _outbox_status(args: argparse.Namespace) -> int:
    outbox = _open_outbox(args)
    if outbox is None:
        return 0
    table = Table(title=f"Outbox {outbox.path}")
    for column in ("Label Studio project", "pending", "held", "oldest", "delivered", "dropped", "last error"):
        table.add_column(column)
    now = time.time()
    names = {}
    for status in outbox.status():
        names[status.target] = name = _project_name(ProjectSpec.from_description(status.spec))
        oldest = _age(now - status.oldest) if status.oldest else "-"
        error = f"{status.last_error} ({_age(now - status.last_error_at)} ago)" if status.last_error_at else "-"
        dropped = ", ".join(f"{count}: {reason}" for reason, count in outbox.drops(status.target).items())
        table.add_row(name, str(status.pending), str(status.held), oldest, str(status.delivered), dropped or "0", error)
    _print_table(table)
    groups = outbox.held_groups()
    if groups:
        held = Table(title="Held runs (`outbox retry`, `outbox drop`, `outbox redirect --to-project ID`)")
        for column in ("Label Studio project", "held", "reason"):
            held.add_column(column)
        for group in groups:
            held.add_row(names.get(group.target, group.target), str(group.count), group.reason)
        _print_table(held)
    return 0


def _outbox_flush(args: argparse.Namespace) -> int:
    api_key = resolve_api_key(args.api_key, argument="--api-key")
    outbox = _open_outbox(args)
    if outbox is None:
        return 0
    deadline = time.monotonic() + args.timeout
    unsent = 0
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn(), disable=not sys.stderr.isatty()) as bar:
        for spec in waiting_destinations(outbox, args.url):
            delivery = open_delivery(
                spec, api_key, outbox_dir=outbox.directory, flush_interval=0.05, retry_rejected_after=5.0
            )
            total = delivery.pending()
            task = bar.add_task(delivery.target, total=total)
            # Every run of the project goes out with this key, whichever key logged it.
            while not delivery.worker.flush(timeout=min(0.5, max(0.0, deadline - time.monotonic()))):
                bar.update(task, completed=total - delivery.pending())
                waiting = outbox.waiting(delivery.target, up_to=outbox.last_seq(delivery.target))
                settled = waiting.active == 0 and waiting.next_retry is None and not delivery.worker.rechecking
                if time.monotonic() >= deadline or settled:
                    break
            bar.update(task, completed=total - delivery.pending())
            delivery.worker.close(timeout=0)
            unsent += delivery.pending()
    for status in outbox.status():
        if status.pending and status.last_error:
            print(f"ls-langchain: {status.pending} runs still wait: {status.last_error}", file=sys.stderr)
    return 1 if unsent else 0


def _outbox_retry(args: argparse.Namespace) -> int:
    outbox = _open_outbox(args)
    if outbox is None:
        return 0
    released = sum(outbox.release_held(target) for target, _ in _selected(outbox, args))
    print(f"{released} held runs are back in line; the next handler or `ls-langchain outbox flush` sends them.")
    return 0


def _outbox_drop(args: argparse.Namespace) -> int:
    if args.project is None and not args.all:
        raise ConfigurationError("Say which held runs to drop: --project ID|TITLE, or --all.")
    outbox = _open_outbox(args)
    if outbox is None:
        return 0
    dropped = sum(outbox.drop_held(target) for target, _ in _selected(outbox, args))
    print(f"Dropped {dropped} held runs (counted as dropped in `ls-langchain outbox status`).")
    return 0


def _outbox_redirect(args: argparse.Namespace) -> int:
    outbox = _open_outbox(args)
    if outbox is None:
        return 0
    selected = _selected(outbox, args)
    if not selected:
        raise ConfigurationError(f"The outbox holds no project {args.project!r}: see `ls-langchain outbox status`.")
    moved = 0
    for target, spec in selected:
        new = ProjectSpec(spec.url, args.to_project, spec.title, spec.label_config)
        moved += outbox.move(target, new.key, new.describe())
    print(f"{moved} runs will go to project {args.to_project}; `ls-langchain outbox flush` sends them now.")
    return 0


def _add_predict(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "predict",
        help="prefill a whole project from the LLM backend, resuming where the last run stopped",
        description="Predict a project's tasks with the backend's settings (environment and the project's extra "
        "params) and import the predictions in bulk. Tasks that already hold a prediction of the current model "
        "version are skipped; Ctrl-C stops after the tasks in flight and imports what is done.",
    )
    command.add_argument("--project", type=int, required=True, metavar="ID", help="the Label Studio project id")
    command.add_argument(
        "--filter",
        choices=("annotated", "unlabeled", "all"),
        default="unlabeled",
        help="which tasks (default: unlabeled, the ones nobody annotated yet)",
    )
    command.add_argument("--limit", type=int, metavar="N", help="predict at most N tasks")
    command.add_argument(
        "--shard",
        metavar="I/N",
        help="predict only share I of N (tasks whose id is I-1 modulo N): N machines, one shard each, predict every "
        "task once, each resumable",
    )
    command.add_argument("--prompt", help="the prompt (default: the one submitted last, then DEFAULT_PROMPT)")
    command.add_argument("--details", type=Path, metavar="PATH", help="append one JSON line per task (usage, cost)")
    command.add_argument("--url", help="Label Studio URL (default: LABEL_STUDIO_URL, then http://localhost:8080)")
    command.add_argument("--api-key", help="Label Studio API key (default: LABEL_STUDIO_API_KEY)")
    command.set_defaults(handler=_predict)


def _predict(args: argparse.Namespace) -> int:
    from ls_langchain.predictor.bulk import Shard, predict_project

    shard = Shard.parse(args.shard) if args.shard else None
    label = f" (shard {shard.index}/{shard.count})" if shard else ""
    with _progress(f"Predicting project {args.project}{label}") as progress:
        summary = predict_project(
            _studio(args),
            args.project,
            which=args.filter,
            limit=args.limit,
            prompt=args.prompt,
            details=args.details,
            progress=progress,
            shard=shard,
        )
    print(summary.describe())
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0


def _add_evaluate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "evaluate",
        help="compare a project's predictions with people's answers, per model version and control",
        description="Write report.json, report.md (with PNG charts) and report.html into --out, and print a summary. "
        "Two or more --model-version: each is compared with the first.",
    )
    command.add_argument("--project", type=int, required=True, metavar="ID", help="the Label Studio project id")
    command.add_argument(
        "--model-version",
        action="append",
        default=[],
        metavar="V",
        help="only this prediction model_version (repeat it to compare versions; the first is the baseline)",
    )
    command.add_argument(
        "--truth",
        choices=("latest", "ground-truth", "majority"),
        default="latest",
        help="people's answer: ground truth, else the latest annotation (default); only ground truth; or the "
        "majority of annotators per control",
    )
    command.add_argument("--since", type=_moment, metavar="DATE", help="only annotations made from then on")
    command.add_argument("--until", type=_moment, metavar="DATE", help="only annotations made before then")
    command.add_argument("--annotator", metavar="EMAIL|ID", help="only this annotator's annotations")
    command.add_argument("--limit", type=int, metavar="N", help="stop after N evaluated tasks")
    command.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder to write the report into")
    command.add_argument("--url", help="Label Studio URL (default: LABEL_STUDIO_URL, then http://localhost:8080)")
    command.add_argument("--api-key", help="Label Studio API key (default: LABEL_STUDIO_API_KEY)")
    command.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from ls_langchain.evaluation import evaluate_project  # the report extra is only needed here
    from ls_langchain.evaluation.report import print_summary

    filters = Filters(
        annotated_only=False, since=args.since, until=args.until, annotator=args.annotator, limit=args.limit
    )
    with _progress(f"Evaluating project {args.project}") as progress:
        report = evaluate_project(
            _studio(args),
            args.project,
            args.out,
            model_versions=args.model_version,
            truth=args.truth,
            filters=filters,
            progress=progress,
        )
    print_summary(report, Console(width=None if sys.stdout.isatty() else 160))
    print(f"Report: {report.files[0]} (also {', '.join(p.name for p in report.files[1:3])} and the charts)")
    return 0 if report.tasks_evaluated else 1


def _add_learn(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = commands.add_parser(
        "learn",
        help="keep a project's submitted annotations as the backend's few-shot examples",
        description="Read a project's submitted annotations (skipped ones left out), keep the latest of each task "
        "as a few-shot example in the backend's state (STATE_URL, else SQLite under MODEL_DIR), replacing the pool, "
        "and publish it: with FEW_SHOT above 0 the next predictions use it, under a new model version.",
    )
    command.add_argument("--project", type=int, required=True, metavar="ID", help="the Label Studio project id")
    command.add_argument("--url", help="Label Studio URL (default: LABEL_STUDIO_URL, then http://localhost:8080)")
    command.add_argument("--api-key", help="Label Studio API key (default: LABEL_STUDIO_API_KEY)")
    command.set_defaults(handler=_learn)


def _learn(args: argparse.Namespace) -> int:
    from ls_langchain.predictor.learning import learn_project

    with _progress(f"Reading the annotations of project {args.project}") as progress:
        summary = learn_project(_studio(args), args.project, progress=progress)
    print(summary.describe())
    return 0 if summary.examples else 1


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
