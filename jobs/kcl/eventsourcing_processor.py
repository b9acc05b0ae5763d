"""KCL record processor for the event-sourcing pattern: events in; projections, totals and derived events out.

Started by the MultiLangDaemon, one process per shard::

    KclConfig(stream_name="accounts-events", application_name="accounts",
              executable=python_processor("jobs.kcl.eventsourcing_processor",
                                          "--projection-table", "accounts", "--totals-table", "branches",
                                          "--derived-stream", "accounts-derived",
                                          "--dead-letters", "s3://lake/dead-letters"))

The processor's state is the projection table (``connectors.kcl.eventsourcing``): an aggregate is read the
first time the processor meets it, and the aggregates a batch touched are written back when the batch is
flushed, before it is checkpointed: conditional on the version they were read at, in transactions with their
branches' totals.  A
worker that takes a shard after a crash or a lease move reads on from the table, so the events it replays are
duplicates by version and change nothing; a worker that lost its lease and writes late fails the condition
and stops.  Derived events are sent before the states that made them are stored, so a crash between the two
loses none; the worker that takes the shard reads the derived stream back from the arrival time of the
checkpointed record and skips the ones already there (``connectors.eventsourcing_derived``).
"""
from __future__ import annotations

import argparse
import logging
import os

from connectors.kcl.daemon import STREAM_VARIABLE
from connectors.kcl.eventsourcing import DEFAULT_CACHED_AGGREGATES, EventSourcingStep
from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig, configure_stderr_logging, run_processor
from jobs.kcl.pipeline_processor import exit_bad_config
from connectors.eventsourcing_outputs import EventSourcingOutputs, EventSourcingRouter

log = logging.getLogger("shardline.kcl.eventsourcing")
DEFAULT_CHECKPOINT_INTERVAL_S = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projection-table", required=True, help="DynamoDB table of aggregates (key aggregate_id)")
    parser.add_argument("--dead-letters", required=True, help="s3://bucket/prefix or a JSON-lines file")
    parser.add_argument("--totals-table", help="DynamoDB table of totals per branch (key group)")
    parser.add_argument("--derived-stream", help="Kinesis stream for derived events")
    parser.add_argument("--config", help="Settings file (YAML or JSON), see EventSourcingConfig")
    parser.add_argument("--checkpoint-interval", type=float, default=DEFAULT_CHECKPOINT_INTERVAL_S,
                        help="Seconds between checkpoints (every batch is committed to the table)")
    parser.add_argument("--cached-aggregates", type=int, default=DEFAULT_CACHED_AGGREGATES,
                        help="Aggregates kept in memory at most; others are read from the table when they come")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    import yaml

    from connectors.eventsourcing_store import AggregateStore
    from pipelines.eventsourcing.config import EventSourcingConfig
    from pipelines.eventsourcing.pattern import EventSourcingPattern

    args = parse_args(argv)
    configure_stderr_logging()
    try:
        document = {}
        if args.config:
            with open(args.config, encoding="utf-8") as file:
                document = yaml.safe_load(file) or {}
        config = EventSourcingConfig.from_dict(document)
        outputs = EventSourcingOutputs(dead_letters=args.dead_letters, projection_table=args.projection_table,
                                       totals_table=args.totals_table, derived_stream=args.derived_stream)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        exit_bad_config("eventsourcing_processor", exc)
    pattern = EventSourcingPattern(config)
    store = AggregateStore(args.projection_table, args.totals_table, total_changes=pattern.total_changes)
    from connectors.aws import client

    step = EventSourcingStep(pattern, os.environ.get(STREAM_VARIABLE, ""), store, derived_stream=args.derived_stream,
                             kinesis=client("kinesis") if args.derived_stream else None,
                             cached_aggregates=args.cached_aggregates)
    dead_letters = outputs.dead_letter_store()
    # Each batch's flush sends its derived events, then writes its aggregates (the step's commit).
    router = EventSourcingRouter(dead_letters=dead_letters, store=step.commit,
                                 derived=outputs.derived_sink(dead_letters=dead_letters))
    run_processor(PipelineRecordProcessor(step, router, dead_letters=dead_letters,
                                          config=ProcessorConfig(checkpoint_interval_s=args.checkpoint_interval),
                                          state=step))


if __name__ == "__main__":
    main()
