"""How every `shardline` command reports bad input: one red line on stderr and exit code 2."""
from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.markup import escape

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
