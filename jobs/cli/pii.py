"""`shardline pii`: mask JSON lines with a policy, and scan files for PII.

    shardline pii mask --policy payments --input in.jsonl --output out.jsonl
    shardline pii scan --policy generic --input in.jsonl --sample 0.1 --threshold 0.1 --json

``mask`` writes the same lines in the same order, masked; members the policy
leaves alone keep their exact bytes (``pipelines.pii.jsontext``).  A line is
an envelope (its payload is masked) or a flat object (masked as a payload).
Lines that cannot be masked (not UTF-8, not JSON, an invalid envelope, a
value the policy cannot read) go to a dead-letter file, masked with the
generic policy, and the command exits with code 2 after the last line.  A
bad policy or a missing key stops it before anything is read, also with 2.
"""
from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from jobs.cli.errors import err, fail

pii_app = typer.Typer(help="PII masking: mask JSON lines with a policy, scan files for PII.", no_args_is_help=True)
POLICY_HELP = "Built-in policy (payments, generic) or a policy file (YAML or JSON)"
ENGINE_POLICY_HELP = POLICY_HELP + " (default: $SHARDLINE_PII_POLICY, else payments, as every engine)"


def _load_policy(spec: str | None):
    """The policy named by ``spec``; None: SHARDLINE_PII_POLICY, else payments, as every engine does."""
    from pipelines.pii import PolicyError
    from pipelines.pii.pipeline import PiiPipelineConfig, policy_from_spec

    spec = spec or PiiPipelineConfig().policy
    try:
        return policy_from_spec(spec)
    except PolicyError as exc:
        where = "built-in policy" if "/" not in spec and not spec.endswith((".yaml", ".yml", ".json")) else "policy"
        fail(f"{where} {spec}: {exc}")


def _progress(description: str) -> Progress:
    return Progress(SpinnerColumn(), TextColumn(description), TextColumn("{task.completed} lines"),
                    TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)


def _lines(fo: BinaryIO) -> Iterator[tuple[int, bytes, bytes]]:
    """(line number, line without its terminator, the terminator) for every line."""
    for number, raw in enumerate(fo, start=1):
        body = raw.rstrip(b"\r\n")
        yield number, body, raw[len(body):]


@dataclass
class MaskSummary:
    lines: int = 0
    masked: int = 0
    dead_lettered: int = 0
    values: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """The first few bad lines, by number and reason (never content)."""

    def as_dict(self) -> dict:
        return {"lines": self.lines, "masked": self.masked, "dead_lettered": self.dead_lettered,
                "values_masked": dict(sorted(self.values.items()))}


def mask_line(masker, body: bytes) -> tuple[bytes, dict[str, int]]:
    """One line masked; raises MaskingError / RecordValidationError with a reason that quotes nothing."""
    from pipelines.pii import MaskingError
    from pipelines.pii.jsontext import mask_json_line

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MaskingError(None, f"not valid UTF-8 (invalid byte at offset {exc.start})") from None
    masked, counts = mask_json_line(masker, text)
    return masked.encode("utf-8"), counts


async def mask_stream(masker, source: BinaryIO, sink: BinaryIO, letters, *, source_name: str,
                      on_line=None) -> MaskSummary:
    """Mask every line of ``source`` into ``sink``; bad lines go to ``letters`` (a DeadLetterSink)."""
    from connectors.dead_letter import DeadLetter
    from pipelines.clock import SYSTEM_CLOCK
    from pipelines.pii import MaskingError
    from pipelines.records import RecordValidationError

    summary = MaskSummary()
    for number, body, ending in _lines(source):
        summary.lines += 1
        if on_line is not None:
            on_line()
        if not body.strip():
            sink.write(body + ending)  # not a record: kept as it is
            continue
        try:
            masked, counts = mask_line(masker, body)
        except Exception as exc:  # noqa: BLE001 - one bad line must not stop the rest; nothing is lost
            # Masking errors name fields and columns only; other errors' messages could quote the line.
            known = isinstance(exc, (MaskingError, RecordValidationError))
            reason = str(exc) if known else f"masking failed ({type(exc).__name__})"
            await letters.put(DeadLetter(reason=reason, error_type=type(exc).__name__,
                                         source=f"{source_name}:line {number}", attempts=1, data=body,
                                         time=SYSTEM_CLOCK.time()))
            summary.dead_lettered += 1
            if len(summary.problems) < 5:
                summary.problems.append(f"line {number}: {reason}")
            continue
        sink.write(masked + ending)
        summary.masked += 1
        for entity, n in counts.items():
            summary.values[entity] = summary.values.get(entity, 0) + n
    return summary


def _default_dlq(input: Optional[Path], output: Optional[Path]) -> Path:
    base = output or input
    return base.with_name(base.name + ".dlq.jsonl") if base is not None else Path("pii-mask.dlq.jsonl")


@pii_app.command("mask")
def mask(policy: Optional[str] = typer.Option(None, "--policy", help=ENGINE_POLICY_HELP),
         input: Optional[Path] = typer.Option(None, "--input", help="JSON-lines file (default: stdin)"),
         output: Optional[Path] = typer.Option(None, "--output", help="File to write (default: stdout)"),
         dlq: Optional[Path] = typer.Option(None, "--dlq", help="Dead-letter file for lines that cannot be masked "
                                            "(default: <output or input>.dlq.jsonl, else pii-mask.dlq.jsonl)"),
         as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON")):
    """Mask JSON lines: same lines, same order, untouched members byte-identical."""
    from connectors.dead_letter import FileDeadLetters
    from pipelines.pii import Masker
    from pipelines.pii.dead_letters import DeadLetterMask

    masker = Masker(_load_policy(policy))
    if input is not None and not input.is_file():
        fail(f"input file {input} does not exist")
    if input is not None and output is not None and output.resolve() == input.resolve():
        fail("--output is the --input file: writing it would destroy the records before they are read")
    dlq_path = dlq or _default_dlq(input, output)
    letters = FileDeadLetters(dlq_path, mask=DeadLetterMask())
    source = open(input, "rb") if input is not None else sys.stdin.buffer
    sink = open(output, "wb") if output is not None else sys.stdout.buffer

    async def run() -> MaskSummary:
        try:
            with _progress(f"masking with {policy}") as bar:
                task = bar.add_task("mask", total=None)
                return await mask_stream(masker, source, sink, letters,
                                         source_name=f"file:{input.name}" if input else "stdin",
                                         on_line=lambda: bar.advance(task))
        finally:
            await letters.close()

    try:
        summary = asyncio.run(run())
    finally:
        if input is not None:
            source.close()
        if output is not None:
            sink.close()
        else:
            sink.flush()
    report = {**summary.as_dict(), "dead_letters": str(dlq_path) if summary.dead_lettered else None}
    text = json.dumps(report) if as_json else (
        f"masked {summary.masked} of {summary.lines} lines; values masked: "
        + (", ".join(f"{k} {v}" for k, v in report["values_masked"].items()) or "none"))
    if output is None:
        err.print(text, highlight=False, markup=False, soft_wrap=True)
    else:
        print(text)
    if summary.dead_lettered:
        more = "" if summary.dead_lettered <= len(summary.problems) else \
            f"; {summary.dead_lettered - len(summary.problems)} more"
        fail(f"{summary.dead_lettered} line(s) could not be masked and are in {dlq_path} (masked with the "
              f"generic policy): {'; '.join(summary.problems)}{more}")


# --- run ------------------------------------------------------------------------------------------

@pii_app.command("run")
def run(stream: str = typer.Option(..., "--stream", help="Kinesis stream of envelope records to mask"),
        policy: str = typer.Option("payments", "--policy", help=POLICY_HELP),
        output_stream: Optional[str] = typer.Option(None, help="Kinesis stream for the masked records"),
        output_s3: Optional[str] = typer.Option(None, help="s3://bucket/prefix for masked records (Avro)"),
        firehose: Optional[str] = typer.Option(None, help="Firehose delivery stream (OpenSearch bulk lines)"),
        index: str = typer.Option("shardline-pii", help="OpenSearch index named in the bulk lines"),
        dead_letters: str = typer.Option(..., "--dead-letters", help="s3://bucket/prefix or a JSON-lines file"),
        start: str = typer.Option("trim_horizon", "--from", help="trim_horizon, latest or at_timestamp:T"),
        checkpoints: Optional[Path] = typer.Option(None, help="Checkpoint file, to resume where the last run ended"),
        count: Optional[int] = typer.Option(None, help="Stop after this many records"),
        idle_timeout: Optional[float] = typer.Option(None, help="Stop after this many seconds without records"),
        as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """The local runner as the PII engine: mask a stream into Kinesis, S3 and Firehose."""
    from connectors.aws import EndpointUnreachable
    from jobs.local.pii import PiiOutputs, run_pii_stream
    from jobs.local.runner import BadRecordError
    from jobs.local.streams import parse_start_position

    chosen = _load_policy(policy)
    try:
        position, timestamp = parse_start_position(start)
        outputs = PiiOutputs(output_stream=output_stream, output_s3=output_s3, firehose=firehose,
                             opensearch_index=index, dead_letters=dead_letters)
    except ValueError as exc:
        fail(str(exc))
    try:
        stats = asyncio.run(run_pii_stream(stream, outputs, chosen, start=position, at_timestamp=timestamp,
                                           checkpoints=checkpoints, count=count, idle_timeout_s=idle_timeout))
    except (EndpointUnreachable, BadRecordError, ValueError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise typer.Exit(130)
    print(json.dumps(stats.as_dict()) if as_json else
          f"read {stats.read}, wrote {stats.written}, dead-lettered {stats.dead_lettered}")


# --- scan ----------------------------------------------------------------------------------------

@pii_app.command("scan")
def scan(policy: Optional[str] = typer.Option(None, "--policy", help=ENGINE_POLICY_HELP),
         input: Path = typer.Option(..., "--input", help="JSON-lines file of envelopes or flat objects"),
         sample: float = typer.Option(0.1, min=0.0, max=1.0, help="Fraction of records scanned"),
         threshold: float = typer.Option(0.1, min=0.0, max=1.0,
                                         help="Label a field when this share of its scanned values holds an entity"),
         min_samples: Optional[int] = typer.Option(None, min=1, help="Scanned values a field needs for a label "
                                                   "(default: the policy's classify.min_samples)"),
         seed: int = typer.Option(0, help="Seed for choosing the sample (same seed, same sample)"),
         as_json: bool = typer.Option(False, "--json", help="Print the report as JSON")):
    """Find the entity types in each field of a file, with counts, and what the policy does with them."""
    from pipelines.pii import ClassifySettings
    from pipelines.pii.field_scan import FieldScan

    chosen = _load_policy(policy)
    if not input.is_file():
        fail(f"input file {input} does not exist")
    if sample == 0:
        fail("--sample must be more than 0: no field could be scanned")
    settings = ClassifySettings(sample=sample, threshold=threshold,
                                min_samples=min_samples or chosen.classify.min_samples)
    scan_ = FieldScan(chosen, settings, random.Random(seed).random)
    with open(input, "rb") as fo, _progress(f"scanning {input.name}") as bar:
        task = bar.add_task("scan", total=None)
        for number, body, _ in _lines(fo):
            bar.advance(task)
            scan_.add(number, body)
    report = scan_.report(str(input))
    bad = report["bad_lines"]
    if as_json:
        print(json.dumps(report))
    else:
        _print_scan(report)
    if bad:
        fail(f"{len(bad)} line(s) could not be read and were not scanned: "
              + "; ".join(f"line {b['line']}: {b['reason']}" for b in bad[:5])
              + (f"; {len(bad) - 5} more" if len(bad) > 5 else ""))


def _print_scan(report: dict) -> None:
    table = Table("field", "sampled", "entities found (values)", "label", "policy",
                  title=f"{report['input']}: {report['records']} records, {report['sampled']} scanned "
                        f"(sample {report['sample']}, threshold {report['threshold']}), policy {report['policy']}")
    for f in report["fields"]:
        found = ", ".join(f"{entity} {n}" for entity, n in f["entities"].items()) or "-"
        policy = f"[red]{escape(f['policy'])} (PII left unmasked)[/red]" if f["unmasked"] else escape(f["policy"])
        table.add_row(escape(f["field"]), str(f["sampled"]), found, f["label"] or "-", policy)
    Console().print(table)


def bench(policy: str = typer.Option(..., "--policy", help=POLICY_HELP),
          input: Path = typer.Option(..., "--input", help="JSON-lines file of envelopes or flat objects: "
                                     "a sample of your stream"),
          records: int = typer.Option(5_000, min=1, help="Records read from the start of the file"),
          repeats: int = typer.Option(5, min=1, help="Timed passes; medians are reported"),
          rate: Optional[float] = typer.Option(None, min=0.0, help="Your stream's records/s: also count the "
                                               "cores (KPUs) masking needs"),
          presidio: bool = typer.Option(False, "--presidio", help="Also time Presidio on the same fields"),
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON")):
    """Size PII masking on your own records: records/s per core, the costliest fields, cores for your rate."""
    from benchmarks.pii.sizing import SizingConfig, size_masking

    chosen = _load_policy(policy)
    if not input.is_file():
        fail(f"input file {input} does not exist")
    from pipelines.pii.field_scan import parse_line

    payloads, unreadable = [], 0
    with open(input, "rb") as fo:
        for _, body, _ in _lines(fo):
            if not body.strip():
                continue
            payload, _ = parse_line(body)
            if payload is None:
                unreadable += 1
            else:
                payloads.append(payload)
            if len(payloads) >= records:
                break
    if not payloads:
        fail(f"{input} holds no record to mask (JSON objects or envelopes with an object payload, one per line)")
    with err.status(f"timing policy {chosen.name} on {len(payloads)} records", spinner="dots"):
        try:
            report = size_masking(chosen, payloads, SizingConfig(repeats=repeats, presidio=presidio), rate)
        except ValueError as exc:
            fail(str(exc))
    report |= {"input": str(input), "unreadable_lines": unreadable}
    if as_json:
        print(json.dumps(report))
    else:
        _print_sizing(report)


def _print_sizing(report: dict) -> None:
    out = Console()
    skipped = report["refused"] + report["unreadable_lines"]
    out.print(f"policy [bold]{escape(report['policy'])}[/] on {escape(report['input'])}: {report['records']} records"
              + (f" ({skipped} left out: unreadable, or the policy refuses them)" if skipped else ""))
    out.print(f"  {report['records_per_s_per_core']:,.0f} records/s per core ({report['us_per_record']} µs a record)")
    table = Table("field", "µs per record", "share", title="where the time goes", title_justify="left")
    total = report["us_per_record"]
    for name, us in report["field_us_per_record"].items():
        table.add_row(escape(name), f"{us:.2f}", f"{us / total:.0%}")
    if report["other_fields_us_per_record"]:
        table.add_row("(other fields)", f"{report['other_fields_us_per_record']:.2f}",
                      f"{report['other_fields_us_per_record'] / total:.0%}")
    out.print(table)
    sizing = report.get("sizing")
    if sizing:
        out.print(f"  at {sizing['rate']:,.0f} records/s: {sizing['cores_at_full_use']} cores of masking at full use, "
                  f"{sizing['kpus_for_masking']} KPUs at {sizing['target_utilisation']:.0%} utilisation "
                  "(source, sink and serialisation come on top)")
    theirs = report.get("presidio")
    if theirs and theirs["available"]:
        out.print(f"  Presidio on the same {len(theirs['fields'])} fields: {theirs['records_per_s_per_core']:,.1f} "
                  f"records/s per core; shardline is {theirs['ratio']}x faster")
    elif theirs:
        out.print(f"  Presidio not run: {escape(theirs['reason'])}")
