"""How every `shardline` command reports to people: bad input as one red line and exit code 2, progress on stderr."""
from __future__ import annotations

import asyncio
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err = Console(stderr=True)
EXIT_BAD_INPUT = 2


def fail(message: str) -> None:
    # escape: messages quote user input (paths, specs) that may hold "[...]", which rich would read as markup
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def run_async(coroutine):
    """Run a command, turning expected failures into one clear line and exit code 2."""
    from connectors.aws import EndpointUnreachable
    from jobs.runner import BadRecordError

    try:
        return asyncio.run(coroutine)
    except (EndpointUnreachable, BadRecordError, ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130)


def progress_bar(total: Optional[int], description: str) -> Progress:
    """A progress bar on stderr, shown only on a terminal (results go to stdout)."""
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False, disable=not err.is_terminal)
