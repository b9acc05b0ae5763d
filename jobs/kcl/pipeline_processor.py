"""KCL record processor for any pipeline function: envelope records in, its outputs to Kinesis, S3 or Firehose.

Started by the MultiLangDaemon, one process per shard::

    KclConfig(stream_name="clicks", application_name="clicks-enriched",
              executable=python_processor("jobs.kcl.pipeline_processor",
                                          "--pipeline", "pipelines.examples.clicks:enrich_clicks",
                                          "--output-stream", "clicks-enriched",
                                          "--dead-letters", "s3://curated/dead-letters"))

The pipeline runs through ``pipelines.engine.RecordPath``, as on the local
runner and in the PyFlink job, so the three engines write the same records and
reject the same ones with the same reasons.  Outputs are checkpointed only
once every destination has them.
"""
from __future__ import annotations

import argparse
import logging
import sys

from connectors.kcl.processor import (PipelineRecordProcessor, configure_stderr_logging, record_pipeline,
                                      run_processor)
from connectors.sinks.fanout import FanOut
from jobs.local.pii import PiiOutputs
from jobs.local.runner import load_pipeline

log = logging.getLogger("shardline.kcl.pipeline")
EXIT_BAD_CONFIG = 2


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """The destinations every record processor of ours takes (the PII processor's too)."""
    parser.add_argument("--output-stream", help="Kinesis stream for the outputs")
    parser.add_argument("--output-s3", help="s3://bucket/prefix for the outputs (Avro, dt=/hour=)")
    parser.add_argument("--firehose", help="Firehose delivery stream (OpenSearch bulk lines)")
    parser.add_argument("--index", default=PiiOutputs.opensearch_index, help="OpenSearch index in the bulk lines")
    parser.add_argument("--dead-letters", required=True, help="s3://bucket/prefix or a JSON-lines file")


def outputs_of(args: argparse.Namespace) -> PiiOutputs:
    return PiiOutputs(output_stream=args.output_stream, output_s3=args.output_s3, firehose=args.firehose,
                      opensearch_index=args.index, dead_letters=args.dead_letters)


def exit_bad_config(what: str, exc: Exception) -> None:
    # stdout is the KCL protocol: the message goes to stderr, which the daemon logs.
    log.error("event=%s_config_error message=%s", what, exc)
    sys.exit(EXIT_BAD_CONFIG)


def run_pipeline(pipeline, outputs: PiiOutputs) -> None:
    """Speak the KCL protocol until the daemon closes stdin: ``pipeline`` per record, into ``outputs``."""
    dead_letters = outputs.dead_letter_store()
    run_processor(PipelineRecordProcessor(record_pipeline(pipeline), FanOut(outputs.sinks(dead_letters=dead_letters)),
                                          dead_letters=dead_letters))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", required=True, help="package.module:function, Record -> records")
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_stderr_logging()
    try:
        pipeline = load_pipeline(args.pipeline)
        outputs = outputs_of(args)
    except ValueError as exc:
        exit_bad_config("pipeline_processor", exc)
    run_pipeline(pipeline, outputs)


if __name__ == "__main__":
    main()
