"""`shardline es`: the event-sourcing pattern from the command line.

    shardline es generate --output events.jsonl [--accounts 20] [--duplicate-rate 0.02 --swap-rate 0.05 ...]
    shardline es run --input events.jsonl --output state.jsonl [--derived derived.jsonl] [--config es.yaml]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from jobs.cli.errors import err, fail, report_file_run, run_async

es_app = typer.Typer(help="Event sourcing: generate bank-account events, run the pattern over a file.",
                     no_args_is_help=True)


@es_app.command("run")
def es_run(input: Path = typer.Option(..., "--input", exists=True, dir_okay=False,
                                      help="JSON lines: envelopes holding events, or bare event objects"),
           output: Optional[Path] = typer.Option(None, help="Final projections, a JSON line per aggregate "
                                                 "(default stdout)"),
           derived: Optional[Path] = typer.Option(None, help="Derived events (envelope JSON lines)"),
           config: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                 help="Settings file (YAML or JSON): see EventSourcingConfig"),
           dlq: Optional[Path] = typer.Option(None, help="Dead-letter file (default <output>.dlq.jsonl)"),
           as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """Apply a file of events in order; print or write each aggregate's final state."""
    import yaml

    from jobs.local.eventsourcing import EventSourcingFileRun, run_eventsourcing_file
    from pipelines.eventsourcing.config import EventSourcingConfig

    try:
        document = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}  # YAML reads JSON too
        if not isinstance(document, dict):
            raise ValueError(f"{config}: expected a mapping of settings")
        settings = EventSourcingConfig.from_dict(document)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        fail(str(exc))
    run = EventSourcingFileRun(input=input, output=output, derived=derived, dead_letters=dlq)
    stats = run_async(run_eventsourcing_file(run, settings))
    report_file_run(stats.as_dict(), stats.rejected, run.dead_letter_path(), as_json=as_json,
                    output_to_stdout=output is None)


@es_app.command("generate")
def es_generate(output: Path = typer.Option(..., help="JSON-lines file of envelopes to write"),
                accounts: int = typer.Option(20, min=1), transactions: int = typer.Option(12, min=0),
                close_rate: float = typer.Option(0.2), refused_rate: float = typer.Option(0.0),
                duplicate_rate: float = typer.Option(0.0), swap_rate: float = typer.Option(0.0),
                gap_rate: float = typer.Option(0.0), bad_rate: float = typer.Option(0.0),
                seed: int = typer.Option(7),
                truth: Optional[Path] = typer.Option(None, help="Also write each account's expected final state "
                                                     "(JSON lines, the format of es run --output)")):
    """Seeded bank-account events, with the faults a stream has (duplicates, swaps, gaps, bad records)."""
    from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
    from pipelines.records import to_json_line

    try:
        stream = generate_bank_stream(BankStreamConfig(
            accounts=accounts, transactions=transactions, close_rate=close_rate, refused_rate=refused_rate,
            duplicate_rate=duplicate_rate, swap_rate=swap_rate, gap_rate=gap_rate, bad_rate=bad_rate, seed=seed))
    except ValueError as exc:
        fail(str(exc))
    with open(output, "w", encoding="utf-8") as out:
        for number, (payload, _) in enumerate(stream.records):
            out.write(to_json_line(bank_envelope(payload, number, seed)) + "\n")
    if truth is not None:
        truth.write_text("".join(json.dumps(line, separators=(",", ":")) + "\n"
                                 for _, line in sorted(stream.expected().items())), encoding="utf-8")
    err.print(f"wrote {len(stream.records)} records to {output}", highlight=False)
