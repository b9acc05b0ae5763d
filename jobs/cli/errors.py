"""How every `shardline` command reports to people: bad input as one red line and exit code 2, progress on stderr."""
from __future__ import annotations

import asyncio
from typing import Optional

import typer
from rich.console import Console
from typer.core import TyperGroup
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
    from connectors.dead_letter import DeadLetterError
    from connectors.kinesis.consumer import ConsumerError
    from connectors.kinesis.producer_types import ProducerError
    from jobs.local.runner import BadRecordError

    try:
        return asyncio.run(coroutine)
    except (EndpointUnreachable, BadRecordError, ValueError, FileNotFoundError, ProducerError, ConsumerError,
            DeadLetterError) as exc:  # their messages say what to do
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - AWS problems become one line; anything else is a bug: re-raise
        fail_on_aws(exc)
        raise
    except KeyboardInterrupt:
        raise typer.Exit(130)


def progress_bar(total: Optional[int], description: str) -> Progress:
    """A progress bar on stderr, shown only on a terminal (results go to stdout)."""
    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=False, disable=not err.is_terminal)


LOCAL_HINT = 'for the local stack, run `shardline local up` and `eval "$(shardline local env)"`'
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
                     "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
                     "SignatureDoesNotMatch"})
_NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "NotFound", "404"})


def aws_problem(exc: BaseException) -> str | None:
    """One line saying what to do about an AWS failure a user can fix; None for anything else."""
    import botocore.exceptions as errors

    from connectors.aws import CONNECTION_ERRORS, EndpointUnreachable, error_code

    if isinstance(exc, (errors.NoCredentialsError, errors.PartialCredentialsError)):
        return f"no AWS credentials were found: {LOCAL_HINT}; for AWS, configure credentials (aws configure, " \
               "AWS_PROFILE, or the instance's role)"
    if isinstance(exc, errors.NoRegionError):
        return f"no AWS region is set: set AWS_REGION; {LOCAL_HINT}"
    if isinstance(exc, EndpointUnreachable):
        return str(exc)
    if isinstance(exc, CONNECTION_ERRORS + (errors.ReadTimeoutError,)):
        return f"cannot reach AWS at {getattr(exc, 'kwargs', {}).get('endpoint_url', 'its endpoint')} " \
               f"({type(exc).__name__}): {LOCAL_HINT}, or unset AWS_ENDPOINT_URL_* to use AWS"
    code = error_code(exc)
    if code in _DENIED:
        return f"AWS refused the call ({code}): check the credentials, and that their IAM policy allows it"
    if code in _NOT_FOUND:
        return f"AWS says it does not exist ({code}): check the name and region (streams: shardline stream " \
               "create NAME)"
    return None


def fail_on_aws(exc: BaseException) -> None:
    """``fail`` with ``aws_problem``'s line when there is one; otherwise return (the caller re-raises)."""
    message = aws_problem(exc)
    if message is not None:
        fail(message)


class CommandGroup(TyperGroup):
    """The top-level group: an AWS failure a user can fix is one line and exit code 2, in every command."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:  # noqa: BLE001 - only AWS problems are turned into a line; the rest re-raise
            fail_on_aws(exc)
            raise


def report_file_run(counts: dict, rejected: int, dead_letters, *, as_json: bool, output_to_stdout: bool) -> None:
    """A file run's counts (on stderr when its output went to stdout), and where its dead letters went."""
    import json

    text = json.dumps(counts) if as_json else ", ".join(f"{name} {n}" for name, n in counts.items())
    (err.print(text) if output_to_stdout and not as_json else print(text))
    if rejected:
        err.print(f"{rejected} records went to {dead_letters}; see them with: shardline dlq summary {dead_letters}",
                  highlight=False, soft_wrap=True)
