"""KCL record processor for the time-series pattern: readings in; windows, alerts, raw and late readings out.

Started by the MultiLangDaemon, one process per shard::

    KclConfig(stream_name="telemetry", application_name="telemetry-windows",
              executable=python_processor("jobs.kcl.timeseries_processor",
                                          "--aggregate-table", "telemetry-windows",
                                          "--alert-stream", "telemetry-alerts",
                                          "--raw-s3", "s3://lake/raw", "--late-s3", "s3://lake/late",
                                          "--snapshots", "s3://lake/state/telemetry-windows",
                                          "--dead-letters", "s3://lake/dead-letters"))

Windows stay open across batches, so a checkpoint alone would lose them with the worker.  Every
``--checkpoint-interval`` the processor writes the pattern's state to ``--snapshots``, named by the last
record's position, then checkpoints at that record.  The processor that takes the shard next, after a crash
or a lease move, loads that state and reads on: its windows equal those of a run that never stopped, and
what it writes again (windows, alerts) has the same keys.  Devices' series stay in one shard because
producers partition by device id; a reshard closes a parent's windows at its end, so a window open across
a reshard is written twice, the child's part last (see the pattern's docs).
"""
from __future__ import annotations

import argparse
import logging

from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig, configure_stderr_logging, run_processor
from connectors.kcl.timeseries import TimeseriesStep
from connectors.snapshots import open_snapshots
from jobs.kcl.pipeline_processor import exit_bad_config
from jobs.local.timeseries_sinks import TimeseriesOutputs
from pipelines.timeseries.enrich import DeviceCatalog
from pipelines.timeseries.pattern import TimeseriesPattern

log = logging.getLogger("shardline.kcl.timeseries")
DEFAULT_CHECKPOINT_INTERVAL_S = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aggregate-table", required=True, help="DynamoDB table for closed windows")
    parser.add_argument("--dead-letters", required=True, help="s3://bucket/prefix or a JSON-lines file")
    parser.add_argument("--snapshots", required=True, help="s3://bucket/prefix or a folder for the pattern's state")
    parser.add_argument("--alert-stream", help="Kinesis stream for anomalies")
    parser.add_argument("--anomaly-table", help="DynamoDB table for anomalies")
    parser.add_argument("--raw-s3", help="s3://bucket/prefix for clean readings")
    parser.add_argument("--late-s3", help="s3://bucket/prefix for late readings")
    parser.add_argument("--config", help="Settings file (YAML or JSON), see TimeseriesConfig")
    parser.add_argument("--devices", help="Device table: FILE, s3://bucket/key or dynamodb:TABLE")
    parser.add_argument("--checkpoint-interval", type=float, default=DEFAULT_CHECKPOINT_INTERVAL_S,
                        help="Seconds between snapshots and checkpoints")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from pathlib import Path

    from connectors.timeseries_devices import device_loader
    from jobs.local.timeseries import load_settings

    args = parse_args(argv)
    configure_stderr_logging()
    try:
        config = load_settings(Path(args.config) if args.config else None, {})
        outputs = TimeseriesOutputs(aggregate_table=args.aggregate_table, dead_letters=args.dead_letters,
                                    alert_stream=args.alert_stream, anomaly_table=args.anomaly_table,
                                    raw_s3=args.raw_s3, late_s3=args.late_s3)
        devices = DeviceCatalog(device_loader(args.devices)) if args.devices else None
        snapshots = open_snapshots(args.snapshots)
    except (ValueError, OSError) as exc:
        exit_bad_config("timeseries_processor", exc)
    step = TimeseriesStep(TimeseriesPattern(config, devices), snapshots)
    dead_letters = outputs.dead_letter_store()
    run_processor(PipelineRecordProcessor(step, outputs.router(dead_letters=dead_letters), dead_letters=dead_letters,
                                          config=ProcessorConfig(checkpoint_interval_s=args.checkpoint_interval),
                                          state=step))


if __name__ == "__main__":
    main()
