"""`shardline dlq`: what is in a dead-letter store, and sending its records on once the cause is fixed."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jobs.cli.errors import err, fail, run_async

dlq_app = typer.Typer(help="Dead letters: summarise them, redrive them after a fix.", no_args_is_help=True)
SOURCE_HELP = "A dead-letter file (.dlq.jsonl) or s3://bucket/prefix"
EXIT_FAILED_AGAIN = 3
"""A redrive stopped by --max-failures (2 is bad input)."""


def _letters(source: str):
    from jobs.local.dlq import iter_letters

    return iter_letters(source)


def _when(epoch_s: float | None) -> str:
    return "-" if epoch_s is None else dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).isoformat(timespec="seconds")


@dlq_app.command("summary")
def summary(source: str = typer.Argument(..., help=SOURCE_HELP),
            as_json: bool = typer.Option(False, "--json")):
    """Counts by error type and reason, the time span, and how many letters hold a record to redrive."""
    from connectors.aws import EndpointUnreachable
    from jobs.local.dlq import summarize

    try:
        result = summarize(_letters(source))
    except (ValueError, FileNotFoundError, EndpointUnreachable) as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(result.as_dict(), indent=2))
        return
    print(f"{result.letters} dead letters, {result.redrivable} redrivable, "
          f"from {_when(result.first_time)} to {_when(result.last_time)}")
    table = Table("error type", "letters")
    for error_type, count in result.by_error_type.items():
        table.add_row(escape(error_type), str(count))
    Console().print(table)
    reasons = Table("reason (most common first)", "letters")
    for reason, count in result.top_reasons:
        reasons.add_row(escape(reason), str(count))
    Console().print(reasons)


@dlq_app.command("redrive")
def redrive(source: str = typer.Argument(..., help=SOURCE_HELP),
            to: str = typer.Option(..., "--to", help="Where the records go: a --sink spec, e.g. kinesis:STREAM "
                                                     "(through the pipeline again) or the sink that refused them"),
            error_type: Optional[List[str]] = typer.Option(None, "--error-type",
                                                           help="Only letters with this error type (repeatable)"),
            remaining: Optional[Path] = typer.Option(None, help="Append the letters not redriven here"),
            dead_letters: Optional[Path] = typer.Option(None, help="Where records refused again go "
                                                                   "(default: <remaining or redrive>.failed.dlq.jsonl)"),
            dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be redriven; send nothing"),
            max_failures: Optional[str] = typer.Option(None, "--max-failures",
                                                       help="Stop once more records than this are refused again: "
                                                            "a count (50) or a share of those sent (5%); the "
                                                            "letters after that point go to --remaining"),
            concurrency: int = typer.Option(1, min=1, help="Sinks writing at once (a partition key's records "
                                                           "stay in one, in order)"),
            as_json: bool = typer.Option(False, "--json")):
    """Send the records held by dead letters to a stream or sink, in dead-letter order per partition key."""
    from jobs.local.dlq import FailureLimit
    from jobs.local.dlq import redrive as redrive_letters

    if remaining is not None and not source.startswith("s3://") and remaining.resolve() == Path(source).resolve():
        fail("--remaining must not be the source file: it is read while letters are appended")
    try:
        limit = FailureLimit.parse(max_failures) if max_failures is not None else None
    except ValueError as exc:
        fail(str(exc))
    if limit is not None and remaining is None and not dry_run:
        fail("--max-failures needs --remaining: the letters it leaves unsent are kept there")
    result = run_async(redrive_letters(_letters(source), to, error_types=error_type or (), dry_run=dry_run,
                                       remaining=remaining, dead_letters=dead_letters, concurrency=concurrency,
                                       max_failures=limit))
    if as_json:
        print(json.dumps(result.as_dict()))
        if result.stopped_by_limit:
            raise typer.Exit(EXIT_FAILED_AGAIN)
        return
    verb = "would redrive" if dry_run else "redrove"
    text = (f"{verb} {result.redriven} of {result.read} letters to {to}; {result.skipped_by_filter} left by "
            f"--error-type, {result.not_a_record} hold no record, {result.failed_again} failed again")
    if result.remaining_file:
        text += f"; the letters not redriven are in {result.remaining_file}"
    if result.failed_again_file:
        text += f"; the records refused again are in {result.failed_again_file}"
    if result.stopped_by_limit:
        text += (f"; stopped: more than --max-failures {max_failures} were refused again"
                 + (f", {result.left_by_limit} letters left unsent" if result.left_by_limit else ""))
    err.print(escape(text), highlight=False, soft_wrap=True)
    if result.stopped_by_limit:
        raise typer.Exit(EXIT_FAILED_AGAIN)
