"""`shardline`: the public command line."""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from jobs.cli.errors import CommandGroup, err, fail, progress_bar, run_async
from jobs.cli.dlq import dlq_app
from jobs.cli.pii import bench as bench_pii, pii_app
from jobs.cli.scale import scale_app
from jobs.cli.agent import agent as agent_command
from jobs.cli.agent import bench as bench_agent
from jobs.cli.eventsourcing import es_app
from jobs.cli.timeseries import ts_app
from jobs.cli.video import bench as bench_video, video_app

app = typer.Typer(help="Real-time data pipelines on Amazon Kinesis.", no_args_is_help=True, cls=CommandGroup,
                  pretty_exceptions_enable=False)
local_app = typer.Typer(help="The local AWS stack: a Kinesis emulator plus moto server.", no_args_is_help=True)
stream_app = typer.Typer(help="Create and inspect streams.", no_args_is_help=True)
package_app = typer.Typer(help="Build deployable artifacts.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks, each against its baseline in the same run.", no_args_is_help=True)
app.add_typer(local_app, name="local")
app.add_typer(stream_app, name="stream")
app.add_typer(package_app, name="package")
app.add_typer(bench_app, name="bench")
app.add_typer(pii_app, name="pii")
app.add_typer(scale_app, name="scale")
app.add_typer(ts_app, name="ts")
app.add_typer(es_app, name="es")
app.command("agent")(agent_command)
bench_app.command("agent")(bench_agent)
app.add_typer(dlq_app, name="dlq")
app.add_typer(video_app, name="video")


class JsonLogFormatter(logging.Formatter):
    """One JSON event per line on stderr: stdout belongs to results (and to the KCL protocol)."""

    def format(self, record: logging.LogRecord) -> str:
        event = {"time": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(event)


def configure_logging(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)




# --- local stack ------------------------------------------------------------

@local_app.command("up")
def local_up(kinesis: str = typer.Option("kinesalite", help="kinesalite or kinesis-mock"),
             kinesis_port: int = typer.Option(4567, help="Port for the Kinesis emulator"),
             moto_port: int = typer.Option(5000, help="Port for moto server (DynamoDB, S3, CloudWatch, Firehose)"),
             dynamodb: str = typer.Option("moto", help="moto or dynalite (enforces DynamoDB's validation)"),
             dynamodb_port: int = typer.Option(4568, help="Port for dynalite, when it serves DynamoDB")):
    """Start the local stack and record its PIDs."""
    from connectors.local_stack import LocalStack, LocalStackConfig, LocalStackError

    try:
        stack = LocalStack(LocalStackConfig(kinesis=kinesis, kinesis_port=kinesis_port, moto_port=moto_port,
                                            dynamodb=dynamodb, dynamodb_port=dynamodb_port)).up()
    except LocalStackError as exc:
        fail(str(exc))
    for server in stack.status():
        err.print(f"{server['name']}: pid {server['pid']} port {server['port']} healthy")
    err.print("Point clients at it with: eval \"$(shardline local env)\"")


@local_app.command("down")
def local_down():
    """Stop exactly the processes that `up` started."""
    from connectors.local_stack import LocalStack

    stopped = LocalStack.load().down()
    err.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@local_app.command("status")
def local_status(as_json: bool = typer.Option(False, "--json")):
    """Show each server, its PID and health."""
    from connectors.local_stack import LocalStack

    rows = LocalStack.load().status()
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        err.print("the local stack is not running")
        raise typer.Exit(1)
    table = Table("server", "pid", "port", "alive", "healthy")
    for row in rows:
        table.add_row(row["name"], str(row["pid"]), str(row["port"]), str(row["alive"]), str(row["healthy"]))
    Console().print(table)


@local_app.command("env")
def local_env():
    """Print the export lines that point AWS clients at the running stack."""
    from connectors.local_stack import LocalStack

    stack = LocalStack.load()
    if not stack.servers:
        fail("the local stack is not running; start it with `shardline local up`")
    for key, value in stack.env().items():
        print(f"export {key}={value}")


# --- streams ----------------------------------------------------------------

@stream_app.command("create")
def stream_create(name: str, shards: int = typer.Option(1, min=1)):
    """Create a stream and wait until it is ACTIVE."""
    from connectors.aws import async_client
    from connectors.kinesis.streams import create_stream_and_wait

    async def create() -> None:
        async with async_client("kinesis") as kinesis:
            await create_stream_and_wait(kinesis, name, shards)

    run_async(create())
    err.print(f"stream {name} is ACTIVE with {shards} shard(s)")


EXIT_DEAD_LETTERS = 1
"""``produce`` exits with this when it published what it could but dead-lettered some records."""


@app.command()
def produce(stream: str = typer.Option(..., help="Stream name"),
            input: Optional[Path] = typer.Option(None, "--input", help="JSON-lines file (envelopes or bare JSON "
                                                 "objects) or an Avro file of envelopes"),
            synthetic: Optional[str] = typer.Option(None, help="payments or telemetry"),
            telemetry_config: Optional[Path] = typer.Option(
                None, exists=True, dir_okay=False, help="With --synthetic telemetry: devices, metrics, anomaly, "
                "duplicate, late and bad rates (YAML or JSON of TelemetryConfig's fields)"),
            rate: Optional[float] = typer.Option(None, help="Records per second (default: as fast as possible)"),
            count: Optional[int] = typer.Option(None, help="Stop after this many records"),
            aggregate: bool = typer.Option(False, help="KPL-aggregate records"),
            type_: Optional[str] = typer.Option(None, "--type", help="Envelope type of bare JSON objects (default: "
                                                "the file's name)"),
            key_field: Optional[str] = typer.Option(None, help="Field of a bare object (or --raw line) whose value "
                                                    "is the partition key (default: random)"),
            time_field: Optional[str] = typer.Option(None, help="Field of a bare object holding its event time "
                                                     "(epoch ms or ISO 8601; default: now)"),
            raw: bool = typer.Option(False, "--raw", help="Send each line's bytes as they are, no envelope"),
            on_error: str = typer.Option("dlq", help="dlq: bad records go to the dead-letter file; fail: stop"),
            dlq: Optional[Path] = typer.Option(None, help="Dead-letter file (default <stream>.dlq.jsonl)"),
            as_json: bool = typer.Option(False, "--json")):
    """Publish records to a stream.

    Lines that are envelopes go as they are; bare JSON objects are wrapped in one (--type, --key-field,
    --time-field).  Exits 1 when any record went to the dead-letter file, 2 on bad arguments.
    """
    from jobs.local.streams import produce as run
    from pipelines.wrapping import WrapConfig

    telemetry = None
    if telemetry_config is not None:
        from jobs.local.timeseries import load_telemetry_config

        try:
            telemetry = load_telemetry_config(telemetry_config)
        except ValueError as exc:
            fail(str(exc))
    wrapping = None
    if input is not None:
        wrapping = WrapConfig(type=type_ or input.stem, source=f"file:{input.name}", key_field=key_field,
                              time_field=time_field)
    with progress_bar(count, f"producing to {stream}") as bar:
        task = bar.add_task("produce", total=count)
        result = run_async(run(stream, input_path=input, synthetic=synthetic, rate=rate, count=count,
                               aggregate=aggregate, on_error=on_error, dead_letters=dlq, wrapping=wrapping,
                               raw=raw, progress=lambda n: bar.advance(task, n), telemetry=telemetry))
    summary = result.as_dict()
    print(json.dumps(summary) if as_json else
          f"produced {result.produced} records in {result.seconds:.1f}s; dead-lettered {result.dead_lettered}")
    if result.dead_lettered:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.errors.items()))
        err.print(f"{result.dead_lettered} records went to {result.dead_letters} ({kinds}); "
                  f"see them with: shardline dlq summary {result.dead_letters}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_DEAD_LETTERS)


@app.command()
def consume(stream: str = typer.Option(..., help="Stream name"),
            start: str = typer.Option("trim_horizon", "--from", help="trim_horizon, latest or at_timestamp:T"),
            as_json: bool = typer.Option(False, "--json", help="One JSON object per record"),
            count: Optional[int] = typer.Option(None, help="Stop after this many records"),
            idle_timeout: Optional[float] = typer.Option(None, help="Stop after this many seconds without records")):
    """Read records from a stream and print them."""
    from jobs.local.streams import consume as run

    run_async(run(stream, start=start, as_json=as_json, count=count, idle_timeout_s=idle_timeout))


@app.command()
def record(stream: str = typer.Option(...), out: Path = typer.Option(..., help="Recording file (.avro)"),
           duration: Optional[float] = typer.Option(None, help="Seconds to record (default: until Ctrl-C)"),
           start: str = typer.Option("latest", "--from"),
           count: Optional[int] = typer.Option(None, help="Stop after this many records")):
    """Capture every record of a stream with its shard, sequence number and arrival time."""
    from jobs.local.streams import record as run

    with progress_bar(count, f"recording {stream}") as bar:
        task = bar.add_task("record", total=count)
        captured = run_async(run(stream, out, duration_s=duration, start=start, count=count,
                                 progress=lambda n: bar.advance(task, n)))
    err.print(f"recorded {captured} records to {out}")


@app.command()
def replay(file: Path, stream: str = typer.Option(...),
           speed: str = typer.Option("1", help="1, 10, ... or max")):
    """Re-publish a recording in per-key order with scaled inter-arrival times."""
    from jobs.local.streams import replay as run
    from pipelines.recording import parse_speed

    try:
        factor = parse_speed(speed)
    except ValueError as exc:
        fail(str(exc))
    with progress_bar(None, f"replaying into {stream}") as bar:
        task = bar.add_task("replay", total=None)
        result = run_async(run(file, stream, speed=factor, progress=lambda n: bar.advance(task, n)))
    err.print(f"replayed {result.produced} records in {result.seconds:.1f}s")


@app.command("run")
def run_pipeline(pipeline: str = typer.Option("jobs.local.runner:identity", help="package.module:function"),
                 input: Optional[Path] = typer.Option(None, "--input", help="JSON-lines or Avro file"),
                 output: Optional[Path] = typer.Option(None, "--output", help="Output file (default stdout)"),
                 stream: Optional[str] = typer.Option(None, help="Read a Kinesis stream instead of a file"),
                 sink: list[str] = typer.Option([], help="With --stream: s3://b/p, kinesis:S, firehose:S, "
                                                         "dynamodb:T or a .jsonl/.avro file (repeatable)"),
                 start: str = typer.Option("trim_horizon", "--from", help="With --stream: where to start"),
                 checkpoints: Optional[Path] = typer.Option(None, help="With --stream: checkpoint file to resume"),
                 count: Optional[int] = typer.Option(None, help="With --stream: stop after this many records"),
                 idle_timeout: Optional[float] = typer.Option(None, help="With --stream: stop when idle this long"),
                 on_error: str = typer.Option("dlq", help="dlq or fail"),
                 dlq: Optional[Path] = typer.Option(None, help="Dead-letter file"),
                 as_json: bool = typer.Option(False, "--json", help="Print the run's counts as JSON")):
    """Run a pipeline function over a file (offline replay) or a stream, into a file or sinks."""
    from jobs.local.runner import FileRunConfig, load_pipeline, run_file
    from jobs.local.streams import run_over_stream

    if (input is None) == (stream is None):
        fail("give exactly one of --input FILE or --stream NAME")
    try:
        fn = load_pipeline(pipeline)
        if input is not None:
            work = run_file(fn, FileRunConfig(input=input, output=output, on_error=on_error, dead_letters=dlq))
        else:
            work = run_over_stream(fn, stream, sink + ([str(output)] if output else []), start=start,
                                   checkpoints=checkpoints, count=count, idle_timeout_s=idle_timeout,
                                   on_error=on_error, dead_letters=dlq)
    except ValueError as exc:
        fail(str(exc))
    stats = run_async(work)
    text = json.dumps(stats.as_dict()) if as_json else \
        f"read {stats.read}, wrote {stats.written}, dead-lettered {stats.dead_lettered}"
    err.print(text) if output is None and stream is None and not as_json else print(text)


@package_app.command("flink")
def package_flink(job: str = typer.Option(..., help="Job name under jobs/flink/"),
                  out: Path = typer.Option(Path("app.zip"), help="Zip to write")):
    """Build a Managed Service for Apache Flink application zip."""
    from jobs.packaging.flink import FlinkPackageError, build_managed_flink_zip

    try:
        path = build_managed_flink_zip(job, out)
    except (ValueError, FileNotFoundError, FlinkPackageError) as exc:
        fail(str(exc))
    err.print(f"wrote {path}")


@package_app.command("lambda")
def package_lambda(out: Path = typer.Option(Path("scaler.zip"), help="Zip to write"),
                   python: str = typer.Option("3.12", help="The Lambda runtime's Python version")):
    """Build the autoscaler's Lambda zip (upload it to the template's CodeBucket/CodeKey)."""
    from jobs.packaging.lambda_zip import LambdaPackageConfig, LambdaPackageError, build_lambda_zip

    try:
        path = build_lambda_zip(out, LambdaPackageConfig(python_version=python))
    except (ValueError, FileNotFoundError, LambdaPackageError) as exc:
        fail(str(exc))
    err.print(f"wrote {path}")


@bench_app.command("producer")
def bench_producer(records: int = typer.Option(200_000, help="Records per contender"),
                   repeats: int = typer.Option(3, help="Repetitions; medians are reported"),
                   out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """Our producer against boto3 loops and async-kinesis, into kinesalite."""
    from benchmarks.producer import run

    result = run(records=records, out_dir=out_dir, repeats=repeats)
    print(json.dumps(result, indent=2))


@bench_app.command("timeseries")
def bench_timeseries(records: int = typer.Option(100_000, min=2, help="Readings in the long run"),
                     warmup_records: int = typer.Option(10_000, min=1, help="Readings in the short run, subtracted "
                                                        "from the long one (start-up)"),
                     repeats: int = typer.Option(2, min=1, help="Runs of each job; medians are reported"),
                     rate: float = typer.Option(5000.0, help="Readings a second in the latency run"),
                     latency: bool = typer.Option(True, help="Run the latency measurement (about 2 minutes)"),
                     out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """The time-series pattern on Flink (against the same windows in pure SQL), KCL and the local runner."""
    from benchmarks.timeseries import TimeseriesBenchConfig, run

    try:
        result = run(TimeseriesBenchConfig(records=records, warmup_records=warmup_records, repeats=repeats,
                                           latency_rate=rate), out_dir, with_latency=latency)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        fail(str(exc))
    flink = {job: ({k: v for k, v in data.items() if k != "runs"} if isinstance(data, dict) else data)
             for job, data in result["flink"].items()}
    print(json.dumps({k: v for k, v in result.items() if k != "flink"} | {"flink": flink}, indent=2))


bench_app.command("pii")(bench_pii)
bench_app.command("video")(bench_video)


@bench_app.command("pii-before-after")
def bench_pii_before_after(baseline: str = typer.Option("HEAD", help="Git ref whose committed code is 'before'"),
                           records: int = typer.Option(5_000, min=1), rounds: int = typer.Option(5, min=1),
                           out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """The masker's records/s per core: the code at a git ref against the working tree, alternating in one run."""
    from benchmarks.pii.before_after import run, summary

    try:
        print(json.dumps(summary(run(baseline, records, rounds, out_dir=out_dir)), indent=2))
    except (ValueError, RuntimeError) as exc:
        fail(str(exc))


@bench_app.command("pii-unicode")
def bench_pii_unicode(records: int = typer.Option(5_000, min=1, help="Labelled notes in the Unicode mix"),
                      seed: int = typer.Option(11), out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """Recall and precision of the payments policy on Unicode free text, per entity and per written form."""
    from benchmarks.pii.evaluate_unicode import run, table

    print(table(run(records=records, seed=seed, out_dir=out_dir)))


@bench_app.command("eventsourcing")
def bench_eventsourcing(events: int = typer.Option(1_000_000, min=100, help="Events in the stream"),
                        tail: float = typer.Option(0.02, min=0.0001, max=1.0, help="Share replayed after the "
                                                   "snapshot in the rebuild"),
                        repeats: int = typer.Option(3, min=1),
                        out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """Events applied a second per core, and a rebuild from a snapshot against a full replay."""
    from benchmarks.eventsourcing import EventSourcingBenchConfig, run

    result = run(EventSourcingBenchConfig(events=events, tail=tail, repeats=repeats), out_dir)
    print(json.dumps({k: v for k, v in result.items() if k != "config"}, indent=2))


@bench_app.command("pii-job")
def bench_pii_job(records: int = typer.Option(30_000, min=2, help="Records in the long run"),
                  warmup_records: int = typer.Option(2_000, min=1, help="Records in the short run, subtracted "
                                                     "from the long one (start-up)"),
                  repeats: int = typer.Option(2, min=1, help="Runs of each job; medians are reported"),
                  jobs: str = typer.Option("", help="Comma-separated jobs to run (default all): sql-only, "
                                           "passthrough-sql, passthrough, pii, pii-datastream"),
                  output_stream: bool = typer.Option(False, help="Also write every record to an output stream, "
                                                     "as a deployed job does (S3 only by default)"),
                  steady_rate: float = typer.Option(5_000.0, min=1, help="Records/s offered to the unbounded "
                                                    "PII job for its latency (event time to S3 object)"),
                  steady_seconds: float = typer.Option(30.0, min=0, help="How long; 0 skips the latency run"),
                  out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """The PyFlink PII jobs (DataStream and SQL) against the passthrough job: CPU a record, on the local stack."""
    from benchmarks.pii.flink_job import JOBS, JobBenchConfig, run

    try:
        result = run(JobBenchConfig(records=records, warmup_records=warmup_records, repeats=repeats,
                                    jobs=tuple(jobs.split(",")) if jobs else tuple(JOBS),
                                    output_stream=output_stream, steady_rate=steady_rate,
                                    steady_seconds=steady_seconds), out_dir)
    except (ValueError, RuntimeError, TimeoutError) as exc:
        fail(str(exc))
    print(json.dumps({k: v for k, v in result.items() if k != "jobs"}
                     | {job: {k: v for k, v in data.items() if k != "runs"} for job, data in result["jobs"].items()},
                     indent=2))


@app.command()
def demo(rate: float = typer.Option(400, help="Records per second"),
         seconds: float = typer.Option(30, help="How long to produce"),
         job: str = typer.Option("pii", help="PyFlink job: pii (masks with the payments policy) or passthrough"),
         as_json: bool = typer.Option(False, "--json")):
    """Producer -> Kinesis -> PyFlink PII masking job -> S3, on the local stack, with a summary."""
    from benchmarks.demo import job_module, run_demo

    try:
        job_module(job)
    except ValueError as exc:
        fail(str(exc))
    started = time.monotonic()
    summary = run_demo(rate=rate, seconds=seconds, job=job)
    summary["wall_seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(summary, indent=2) if as_json else summary.pop("report"))
    if not summary["ok"]:
        raise typer.Exit(1)


def main() -> None:
    configure_logging()
    app()


if __name__ == "__main__":
    main()
