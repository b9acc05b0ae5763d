"""`shardline ts`: the time-series pattern from the command line.

    shardline ts generate --output readings.jsonl --records 100000 [--anomaly-rate 0.002 ...]
    shardline ts run --input readings.jsonl --output windows.jsonl [--window 60s] [--config ts.yaml]
    shardline ts run --stream telemetry --aggregate-table T --dlq s3://b/dlq --snapshots s3://b/state \\
        [--alert-stream A] [--raw-s3 s3://b/raw] [--checkpoints ts.json] [--idle-timeout 30]
    shardline ts query --series device-0001/temperature --from 2026-01-01T00:00:00Z --to ... \\
        (--table AGGREGATES | --input windows.jsonl) [--json] [--plot out.png]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from jobs.cli.errors import err, fail, report_file_run, run_async

ts_app = typer.Typer(help="Time series: generate telemetry, run the pattern over a file, query the aggregates.",
                     no_args_is_help=True)


def seconds(text: Optional[str], flag: str) -> Optional[float]:
    from scaling.spec import ScalingConfigError, parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, flag)
    except ScalingConfigError as exc:
        raise ValueError(str(exc)) from None


@ts_app.command("run")
def ts_run(input: Optional[Path] = typer.Option(None, "--input", exists=True, dir_okay=False,
                                                help="JSON lines: envelopes holding readings, or bare reading objects"),
           stream: Optional[str] = typer.Option(None, "--stream", help="Kinesis stream of readings (instead of "
                                                "--input): the local runner as the engine"),
           output: Optional[Path] = typer.Option(None, help="File mode: JSON lines of windows and anomalies "
                                                 "(default stdout)"),
           window: Optional[str] = typer.Option(None, help="Window length, e.g. 60s or 5m (default 60s)"),
           slide: Optional[str] = typer.Option(None, help="Slide of sliding windows (default: tumbling)"),
           config: Optional[Path] = typer.Option(None, exists=True, dir_okay=False,
                                                 help="Settings file (YAML or JSON): see TimeseriesConfig"),
           devices: Optional[str] = typer.Option(None, help="Device table: FILE.jsonl|.csv, s3://bucket/key "
                                                 "or dynamodb:TABLE"),
           dlq: Optional[str] = typer.Option(None, help="Dead letters: a file (file mode: default "
                                             "<output>.dlq.jsonl), or on a stream s3://bucket/prefix (required)"),
           late: Optional[Path] = typer.Option(None, help="File mode: late readings (default <output>.late.jsonl)"),
           aggregate_table: Optional[str] = typer.Option(None, help="Stream mode: DynamoDB table for windows"),
           alert_stream: Optional[str] = typer.Option(None, help="Stream mode: Kinesis stream for anomalies"),
           anomaly_table: Optional[str] = typer.Option(None, help="Stream mode: DynamoDB table for anomalies"),
           raw_s3: Optional[str] = typer.Option(None, help="Stream mode: s3://bucket/prefix for clean readings"),
           late_s3: Optional[str] = typer.Option(None, help="Stream mode: s3://bucket/prefix for late readings"),
           snapshots: Optional[str] = typer.Option(None, help="Stream mode: the windows' state, a folder or "
                                                   "s3://bucket/prefix (required)"),
           checkpoints: Optional[Path] = typer.Option(None, help="Stream mode: checkpoint file, to resume "
                                                      "where the last run ended"),
           start: str = typer.Option("trim_horizon", "--from", help="Stream mode: trim_horizon, latest or "
                                     "at_timestamp:T"),
           checkpoint_interval: float = typer.Option(10.0, help="Stream mode: seconds between a shard's snapshots"),
           count: Optional[int] = typer.Option(None, help="Stream mode: stop after this many records"),
           idle_timeout: Optional[float] = typer.Option(None, help="Stream mode: stop after this many seconds "
                                                        "without records"),
           keep_open: bool = typer.Option(False, "--keep-open", help="Stream mode: leave open windows unwritten "
                                          "when the run stops (a resumed run writes them)"),
           as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """Clean, enrich, window and detect over a file (every window closes at the end of input) or a stream."""
    from connectors.timeseries_devices import device_loader
    from jobs.local.timeseries import load_settings
    from pipelines.timeseries.enrich import DeviceCatalog

    if (input is None) == (stream is None):
        fail("give --input FILE or --stream NAME (one of them)")
    try:
        settings = load_settings(config, {"window_s": seconds(window, "--window"),
                                        "slide_s": seconds(slide, "--slide")})
        catalog = DeviceCatalog(device_loader(devices)) if devices else None
    except (ValueError, OSError) as exc:
        fail(str(exc))
    if stream is not None:
        counts = _run_stream(stream, settings, catalog, dlq=dlq, aggregate_table=aggregate_table,
                             alert_stream=alert_stream, anomaly_table=anomaly_table, raw_s3=raw_s3, late_s3=late_s3,
                             snapshots=snapshots, checkpoints=checkpoints, start=start,
                             checkpoint_interval=checkpoint_interval, count=count, idle_timeout=idle_timeout,
                             keep_open=keep_open)
        print(json.dumps(counts) if as_json else ", ".join(f"{name} {n}" for name, n in counts.items()))
        return
    from jobs.local.timeseries import TimeseriesFileRun, run_timeseries_file

    run = TimeseriesFileRun(input=input, output=output, dead_letters=Path(dlq) if dlq else None, late=late)
    stats = run_async(run_timeseries_file(run, settings, catalog))
    report_file_run(stats.as_dict(), stats.rejected, run.dead_letter_path(), as_json=as_json,
                    output_to_stdout=output is None)


def _run_stream(stream: str, settings, catalog, *, dlq, aggregate_table, alert_stream, anomaly_table, raw_s3,
                late_s3, snapshots, checkpoints, start, checkpoint_interval, count, idle_timeout,
                keep_open) -> dict:
    """``ts run --stream``: the local runner as the engine (``jobs.local.timeseries_stream``); its counts."""
    from connectors.aws import EndpointUnreachable
    from jobs.local.streams import parse_start_position
    from jobs.local.timeseries_sinks import TimeseriesOutputs
    from jobs.local.timeseries_stream import TimeseriesStreamRun, run_timeseries_stream

    if not snapshots:
        fail("give --snapshots (a folder or s3://bucket/prefix): windows stay open across batches, and their "
             "state is what a resumed run starts from")
    try:
        position, timestamp = parse_start_position(start)
        outputs = TimeseriesOutputs(aggregate_table=aggregate_table, dead_letters=dlq, alert_stream=alert_stream,
                                    anomaly_table=anomaly_table, raw_s3=raw_s3, late_s3=late_s3)
        run = TimeseriesStreamRun(stream=stream, snapshots=snapshots, checkpoints=checkpoints, start=position,
                                  at_timestamp=timestamp, checkpoint_interval_s=checkpoint_interval, count=count,
                                  idle_timeout_s=idle_timeout, close_at_end=not keep_open)
        return run_async(run_timeseries_stream(run, outputs, settings, catalog)).as_dict()
    except (EndpointUnreachable, ValueError) as exc:
        fail(str(exc))


@ts_app.command("generate")
def ts_generate(output: Path = typer.Option(..., help="JSON-lines file to write"),
                records: int = typer.Option(100_000, min=1, help="Records to write"),
                devices: int = typer.Option(50, min=1, help="Devices (each sends every metric)"),
                metrics: str = typer.Option("temperature,pressure,humidity,vibration", help="Comma-separated"),
                rate: float = typer.Option(1000.0, help="Readings per second of event time"),
                start: str = typer.Option("2026-01-01T00:00:00Z", help="Event time of the first reading"),
                anomaly_rate: float = typer.Option(0.002), duplicate_rate: float = typer.Option(0.002),
                late_rate: float = typer.Option(0.0), bad_rate: float = typer.Option(0.0),
                jitter: float = typer.Option(1.0, help="Seconds of out-of-order arrival"),
                seed: int = typer.Option(7),
                envelopes: bool = typer.Option(False, help="Write envelopes rather than bare readings"),
                iso_times: bool = typer.Option(False, help="Event times as ISO 8601 rather than epoch ms"),
                labels: Optional[Path] = typer.Option(None, help="Also write each record's label (normal, "
                                                      "anomaly, duplicate, late, bad:...) one a line"),
                device_table: Optional[Path] = typer.Option(None, help="Also write the devices' table (JSON lines)")):
    """Synthetic telemetry with injected anomalies, duplicates, late and bad records, seeded."""
    from pipelines.records import to_json_line
    from pipelines.timeseries.readings import ReadingError, event_time_ms
    from pipelines.timeseries.synthetic import TelemetryConfig, device_rows, generate, telemetry_envelope

    try:
        config = TelemetryConfig(devices=devices, metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
                                 rate_per_s=rate, anomaly_rate=anomaly_rate, duplicate_rate=duplicate_rate,
                                 late_rate=late_rate, bad_rate=bad_rate, jitter_s=jitter, seed=seed)
        start_ms = event_time_ms(start)
    except (ValueError, ReadingError) as exc:
        fail(str(exc))
    label_file = open(labels, "w", encoding="utf-8") if labels else None
    with open(output, "wb") as out:
        for number, (payload, label) in enumerate(generate(config, records, start_ms, iso_times), start=1):
            if isinstance(payload, bytes):
                line = payload
            elif envelopes:
                line = to_json_line(telemetry_envelope(payload, number, seed)).encode("utf-8")
            else:
                line = json.dumps(payload, separators=(",", ":")).encode("utf-8")
            out.write(line + b"\n")
            if label_file is not None:
                label_file.write(label + "\n")
    if label_file is not None:
        label_file.close()
    if device_table is not None:
        device_table.write_text("".join(json.dumps(row) + "\n" for row in device_rows(config)), encoding="utf-8")
    err.print(f"wrote {records} records to {output}", highlight=False)


@ts_app.command("query")
def ts_query(series: str = typer.Option(..., help="device_id/metric"),
             from_: str = typer.Option(..., "--from", help="Start (ISO 8601 or epoch ms), inclusive"),
             to: str = typer.Option(..., help="End (ISO 8601 or epoch ms), exclusive"),
             table: Optional[str] = typer.Option(None, help="DynamoDB aggregate table"),
             anomaly_table: Optional[str] = typer.Option(None, help="DynamoDB anomaly table (for --plot)"),
             input: Optional[Path] = typer.Option(None, "--input", exists=True, dir_okay=False,
                                                  help="Or: the output file of `shardline ts run`"),
             plot: Optional[Path] = typer.Option(None, help="Draw the series and its anomalies to this PNG"),
             as_json: bool = typer.Option(False, "--json")):
    """The windows of one series over a time range, from the aggregate table or a `ts run` output file."""
    from pipelines.timeseries.readings import ReadingError, event_time_ms
    from pipelines.times import iso_utc

    if (table is None) == (input is None):
        fail("give exactly one of --table NAME or --input FILE")
    try:
        start_ms, end_ms = event_time_ms(from_), event_time_ms(to)
    except ReadingError as exc:
        fail(f"--from/--to: {exc.reason}")
    if end_ms <= start_ms:
        fail("--to must come after --from")
    if input is not None:
        windows, anomalies = windows_from_file(input, series, start_ms, end_ms)
    else:
        windows, anomalies = windows_from_tables(table, anomaly_table, series, start_ms, end_ms)
    if plot is not None:
        draw(plot, series, windows, anomalies)
    if as_json:
        print(json.dumps({"series": series, "windows": windows, "anomalies": anomalies}))
        return
    view = Table("window_start", "window_end", "count", "min", "max", "mean", "p95", title=series)
    for w in windows:
        view.add_row(iso_utc(w["window_start"]), iso_utc(w["window_end"]), str(w["count"]),
                     *(f"{w[name]:.4g}" for name in ("min", "max", "mean", "p95")))
    from rich.console import Console

    Console().print(view)
    if anomalies:
        print(f"{len(anomalies)} anomalies", file=sys.stderr)


def windows_from_file(path: Path, series: str, start_ms: int, end_ms: int):
    from pipelines.timeseries.readings import event_time_ms

    windows, anomalies = [], []
    with open(path, encoding="utf-8") as fo:
        for line in fo:
            item = json.loads(line)
            if item.get("series") != series:
                continue
            if item.get("kind") == "anomaly":
                if start_ms <= event_time_ms(item["event_time"]) < end_ms:
                    anomalies.append({**item, "event_time": event_time_ms(item["event_time"])})
            elif start_ms <= event_time_ms(item["window_start"]) < end_ms:
                windows.append({**item, "window_start": event_time_ms(item["window_start"]),
                                "window_end": event_time_ms(item["window_end"])})
    return sorted(windows, key=lambda w: w["window_start"]), sorted(anomalies, key=lambda a: a["event_time"])


def windows_from_tables(table: str, anomaly_table: Optional[str], series: str, start_ms: int, end_ms: int):
    from connectors.aws import client
    from connectors.timeseries_store import query_series

    dynamodb = client("dynamodb")
    try:
        windows = list(query_series(dynamodb, table, series, start_ms, end_ms))
        anomalies = [] if anomaly_table is None else list(
            query_series(dynamodb, anomaly_table, series, start_ms, end_ms, sort_key="event_time"))
    except dynamodb.exceptions.ResourceNotFoundException:
        fail(f"no DynamoDB table {anomaly_table if anomaly_table else table}: check --table/--anomaly-table and "
             "the region")
    return windows, anomalies


def draw(path: Path, series: str, windows: list[dict], anomalies: list[dict]) -> None:
    try:
        import matplotlib
    except ImportError:
        fail("--plot needs matplotlib: pip install 'shardline[plot]'")
    import datetime as dt

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def when(ms: int):
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)

    figure, axes = plt.subplots(figsize=(10, 4))
    middles = [when((w["window_start"] + w["window_end"]) // 2) for w in windows]
    axes.fill_between(middles, [w["min"] for w in windows], [w["max"] for w in windows], alpha=0.2,
                      label="min to max")
    axes.plot(middles, [w["mean"] for w in windows], label="mean")
    axes.plot(middles, [w["p95"] for w in windows], linestyle="--", linewidth=0.8, label="p95")
    if anomalies:
        axes.scatter([when(a["event_time"]) for a in anomalies], [a["value"] for a in anomalies], color="red",
                     marker="x", zorder=3, label=f"anomalies ({len(anomalies)})")
    axes.set_title(series)
    axes.set_xlabel("event time (UTC)")
    axes.legend(loc="upper right", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
