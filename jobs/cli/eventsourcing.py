"""`shardline es`: the event-sourcing pattern from the command line.

    shardline es generate --output events.jsonl [--accounts 20] [--duplicate-rate 0.02 --swap-rate 0.05 ...]
    shardline es run --input events.jsonl --output state.jsonl [--derived derived.jsonl] [--config es.yaml]
    shardline es run --stream events --snapshots s3://b/es --dlq s3://b/dlq [--projection-table accounts]
        [--totals-table branches] [--derived-stream derived] [--idle-timeout 30]
    shardline es state AGGREGATE_ID (--table accounts | --snapshot s3://b/es/snapshot-....avro) [--json]
    shardline es snapshot --list s3://b/es
    shardline es snapshot --table accounts --application kcl-app --stream events --to s3://b/es
    shardline es rebuild --stream events (--from-snapshot URL | --from-timestamp T | --from-start)
        [--snapshots s3://b/es] [--projection-table accounts] [--output state.jsonl]
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from jobs.cli.errors import err, fail, fail_on_aws, report_file_run, run_async

es_app = typer.Typer(help="Event sourcing: generate bank-account events, run the pattern over a file.",
                     no_args_is_help=True)


@es_app.command("run")
def es_run(input: Optional[Path] = typer.Option(None, "--input", exists=True, dir_okay=False,
                                                help="JSON lines: envelopes holding events, or bare event objects"),
           stream: Optional[str] = typer.Option(None, "--stream", help="Kinesis stream of events (instead of "
                                                "--input): the local runner as the engine"),
           output: Optional[Path] = typer.Option(None, help="Final projections, a JSON line per aggregate "
                                                 "(file mode: default stdout)"),
           derived: Optional[Path] = typer.Option(None, help="File mode: derived events (envelope JSON lines)"),
           config: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                 help="Settings file (YAML or JSON): see EventSourcingConfig"),
           dlq: Optional[str] = typer.Option(None, help="Dead letters: a file (file mode: default "
                                             "<output>.dlq.jsonl), or s3://bucket/prefix (stream mode: required)"),
           snapshots: Optional[str] = typer.Option(None, help="Stream mode: where snapshots go and the run "
                                                   "resumes from, a folder or s3://bucket/prefix (required)"),
           projection_table: Optional[str] = typer.Option(None, help="Stream mode: DynamoDB projection table"),
           totals_table: Optional[str] = typer.Option(None, help="Stream mode: DynamoDB table of totals per "
                                                      "branch"),
           derived_stream: Optional[str] = typer.Option(None, help="Stream mode: Kinesis stream for derived "
                                                        "events"),
           start: str = typer.Option("trim_horizon", "--from", help="Stream mode, with no snapshot yet: "
                                     "trim_horizon, latest or at_timestamp:T"),
           count: Optional[int] = typer.Option(None, help="Stream mode: stop after this many records"),
           idle_timeout: Optional[float] = typer.Option(None, help="Stream mode: stop after this many seconds "
                                                        "without records"),
           as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """Apply events in order, from a file or a stream; write each aggregate's state."""
    if (input is None) == (stream is None):
        fail("give --input FILE or --stream NAME (one of them)")
    settings = _settings(config)
    if stream is not None:
        if not snapshots:
            fail("give --snapshots (a folder or s3://bucket/prefix): the aggregates' state is saved there, and "
                 "a run started again resumes from the latest snapshot")
        stats = _run_stream(stream, settings, dlq=dlq, snapshots=snapshots, projection_table=projection_table,
                            totals_table=totals_table, derived_stream=derived_stream, output=output, start=start,
                            count=count, idle_timeout=idle_timeout)
        print(json.dumps(stats.as_dict()) if as_json else ", ".join(f"{k} {v}" for k, v in stats.as_dict().items()))
        return
    from jobs.local.eventsourcing import EventSourcingFileRun, run_eventsourcing_file

    run = EventSourcingFileRun(input=input, output=output, derived=derived, dead_letters=Path(dlq) if dlq else None)
    stats = run_async(run_eventsourcing_file(run, settings))
    report_file_run(stats.as_dict(), stats.rejected, run.dead_letter_path(), as_json=as_json,
                    output_to_stdout=output is None)


@es_app.command("rebuild")
def es_rebuild(stream: str = typer.Option(..., help="The event stream"),
               from_snapshot: Optional[str] = typer.Option(None, help="A snapshot's URL or path: load it, then "
                                                           "replay the stream from its positions"),
               from_timestamp: Optional[str] = typer.Option(None, help="Epoch seconds or ISO 8601: the newest "
                                                            "snapshot at --snapshots taken at or before it, else "
                                                            "the stream from that time with no state"),
               from_start: bool = typer.Option(False, "--from-start", help="Replay from TRIM_HORIZON"),
               snapshots: Optional[str] = typer.Option(None, help="Where snapshots are (and where the rebuild "
                                                       "saves its own)"),
               projection_table: Optional[str] = typer.Option(None, help="DynamoDB projection table to write"),
               totals_table: Optional[str] = typer.Option(None, help="DynamoDB totals table to write"),
               output: Optional[Path] = typer.Option(None, help="The rebuilt projections, a JSON line each"),
               dlq: Optional[str] = typer.Option(None, help="Dead letters of the replay (default "
                                                 "<output>.dlq.jsonl, or es-rebuild.dlq.jsonl)"),
               config: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                     help="Settings file (YAML or JSON): see EventSourcingConfig"),
               idle_timeout: float = typer.Option(5.0, help="The replay ends once no record came for this long"),
               as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """Rebuild the projections by replay: from a snapshot and the stream after it, from a time, or from the start."""
    from jobs.local.streams import parse_start_position

    if sum((from_snapshot is not None, from_timestamp is not None, from_start)) != 1:
        fail("give one of --from-snapshot URL, --from-timestamp T or --from-start")
    settings = _settings(config)
    start, at_timestamp, snapshot = "TRIM_HORIZON", None, from_snapshot
    if from_timestamp is not None:
        try:
            start, at_timestamp = parse_start_position(f"at_timestamp:{from_timestamp}")
        except ValueError as exc:
            fail(str(exc))
        snapshot = _snapshot_before(snapshots, at_timestamp) if snapshots else None
        if snapshot is None:
            err.print(f"no snapshot taken at or before {from_timestamp}: replaying from that time with no state "
                      "(aggregates older than it wait for versions that never come)", highlight=False)
    if not dlq:
        dlq = str(output.with_name(output.name + ".dlq.jsonl")) if output else "es-rebuild.dlq.jsonl"
    stats = _run_stream(stream, settings, dlq=dlq, snapshots=snapshots, projection_table=projection_table,
                        totals_table=totals_table, derived_stream=None, output=output, start=start,
                        at_timestamp=at_timestamp, from_snapshot=snapshot or "", idle_timeout=idle_timeout)
    print(json.dumps(stats.as_dict()) if as_json else ", ".join(f"{k} {v}" for k, v in stats.as_dict().items()))


@es_app.command("state")
def es_state(aggregate_id: str = typer.Argument(..., help="The aggregate (account) id"),
             table: Optional[str] = typer.Option(None, help="DynamoDB projection table"),
             snapshot: Optional[str] = typer.Option(None, help="Or a snapshot's URL or path"),
             as_json: bool = typer.Option(False, "--json", help="Print it as JSON")):
    """An aggregate's current state, version and status, from the projection table or a snapshot."""
    if (table is None) == (snapshot is None):
        fail("give --table NAME or --snapshot URL (one of them)")
    try:
        line = _read_state(aggregate_id, table, snapshot)
    except (ValueError, OSError) as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - AWS errors: one line a user can act on
        fail_on_aws(exc)
        raise
    if line is None:
        fail(f"no aggregate {aggregate_id!r} in {table or snapshot}")
    if as_json:
        print(json.dumps(line))
        return
    print(f"{line['aggregate_id']} version {line['version']} ({line['status']})")
    for key, value in line["state"].items():
        print(f"  {key}: {value}")


@es_app.command("snapshot")
def es_snapshot(list_: Optional[str] = typer.Option(None, "--list", help="List the snapshots at this location"),
                table: Optional[str] = typer.Option(None, help="The KCL processor's projection table"),
                application: Optional[str] = typer.Option(None, help="The KCL application (its lease table)"),
                stream: Optional[str] = typer.Option(None, help="The event stream"),
                to: Optional[str] = typer.Option(None, help="Where to save it: a folder or s3://bucket/prefix"),
                as_json: bool = typer.Option(False, "--json", help="Print as JSON")):
    """List snapshots, or take one of the KCL processor's state: its table, as of its checkpoints."""
    from connectors.eventsourcing_snapshots import SnapshotLocation, taken_at

    if list_ is not None:
        urls = SnapshotLocation(list_).list()
        if as_json:
            print(json.dumps([{"url": url, "taken_at_ms": taken_at(url)} for url in urls]))
        else:
            print("\n".join(urls))
        return
    if not (table and application and stream and to):
        fail("give --list LOCATION, or --table, --application, --stream and --to to take a snapshot")
    from jobs.local.eventsourcing_snapshot import snapshot_kcl_state

    try:
        url, aggregates = snapshot_kcl_state(table, application, stream, SnapshotLocation(to))
    except ValueError as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001
        fail_on_aws(exc)
        raise
    print(json.dumps({"url": url, "aggregates": aggregates}) if as_json else f"{url} ({aggregates} aggregates)")


def _settings(config: Optional[Path]):
    import yaml

    from pipelines.eventsourcing.config import EventSourcingConfig

    try:
        document = yaml.safe_load(config.read_text(encoding="utf-8")) if config else {}  # YAML reads JSON too
        if not isinstance(document, dict):
            raise ValueError(f"{config}: expected a mapping of settings")
        return EventSourcingConfig.from_dict(document)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        fail(str(exc))


def _run_stream(stream: str, settings, *, dlq, snapshots, projection_table, totals_table, derived_stream, output,
                start, count=None, idle_timeout=None, at_timestamp=None, from_snapshot=None):
    """The local runner as the engine (``jobs.local.eventsourcing_stream``); ``from_snapshot`` "" starts from
    none (a rebuild), None from the latest at ``snapshots``."""
    from connectors.aws import EndpointUnreachable
    from connectors.eventsourcing_outputs import EventSourcingOutputs
    from jobs.local.eventsourcing_stream import EventSourcingStreamRun, run_eventsourcing_stream
    from jobs.local.streams import parse_start_position

    try:
        if at_timestamp is None:
            start, at_timestamp = parse_start_position(start)
        outputs = EventSourcingOutputs(dead_letters=dlq, projection_table=projection_table,
                                       totals_table=totals_table, derived_stream=derived_stream)
        run = EventSourcingStreamRun(stream=stream, snapshots=snapshots, from_snapshot=from_snapshot or None,
                                     resume=from_snapshot is None, start=start, at_timestamp=at_timestamp,
                                     output=output, count=count, idle_timeout_s=idle_timeout)
        return run_async(run_eventsourcing_stream(run, outputs, settings))
    except (EndpointUnreachable, ValueError) as exc:
        fail(str(exc))


def _snapshot_before(location: str, at_timestamp: float) -> str | None:
    from connectors.eventsourcing_snapshots import SnapshotLocation

    return SnapshotLocation(location).latest(int(at_timestamp * 1000))


def _read_state(aggregate_id: str, table: str | None, snapshot: str | None) -> dict | None:
    if table is not None:
        from connectors.aws import client
        from connectors.eventsourcing_store import read_projection

        return read_projection(client("dynamodb"), table, aggregate_id)
    from connectors.eventsourcing_snapshots import read_snapshot
    from pipelines.eventsourcing.outputs import state_line
    from pipelines.eventsourcing.pattern import EventSourcingPattern
    from pipelines.eventsourcing.snapshots import decode_snapshot

    pattern = EventSourcingPattern()
    pattern.restore(decode_snapshot(read_snapshot(snapshot)).state)
    projection = pattern.projection(aggregate_id)
    return state_line(projection) if projection is not None else None


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
