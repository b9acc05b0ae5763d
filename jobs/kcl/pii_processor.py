"""KCL record processor for the PII masking pattern: Avro envelopes in, masked records out.

Started by the MultiLangDaemon, one process per shard::

    KclConfig(stream_name="payments", application_name="payments-pii",
              executable=python_processor("jobs.kcl.pii_processor", "--output-stream", "payments-masked",
                                          "--output-s3", "s3://curated/payments", "--firehose", "payments-search",
                                          "--dead-letters", "s3://curated/dead-letters"))

The masking is ``pipelines.pii.pipeline``'s, as in the PyFlink job and the
local runner, so all three write the same masked records.  The policy comes
from ``--policy`` or SHARDLINE_PII_POLICY (default: payments) and is loaded
before the first record: a missing key stops the processor with a message
naming the variable.  A record that is not an envelope, or that cannot be
masked, goes to the dead-letter store masked with the generic policy.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from connectors.kcl.daemon import WORKER_ID_VARIABLE
from connectors.kcl.processor import (PipelineRecordProcessor, configure_stderr_logging, record_pipeline,
                                      run_processor)
from connectors.sinks.fanout import FanOut
from jobs.pii_outputs import PiiMetrics, PiiOutputs, log_totals
from pipelines.pii import PolicyError
from pipelines.pii.pipeline import POLICY_VARIABLE, MaskingPipeline, PiiPipelineConfig, policy_from_spec

log = logging.getLogger("shardline.kcl.pii")
EXIT_BAD_CONFIG = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help=f"built-in policy or policy file (default: ${POLICY_VARIABLE} or payments)")
    parser.add_argument("--output-stream", help="Kinesis stream for masked records")
    parser.add_argument("--output-s3", help="s3://bucket/prefix for masked records (Avro, dt=/hour=)")
    parser.add_argument("--firehose", help="Firehose delivery stream (OpenSearch bulk lines)")
    parser.add_argument("--index", default=PiiOutputs.opensearch_index, help="OpenSearch index in the bulk lines")
    parser.add_argument("--dead-letters", required=True, help="s3://bucket/prefix or a JSON-lines file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_stderr_logging()
    try:
        policy = policy_from_spec(args.policy or PiiPipelineConfig().policy)
        outputs = PiiOutputs(output_stream=args.output_stream, output_s3=args.output_s3, firehose=args.firehose,
                             opensearch_index=args.index, dead_letters=args.dead_letters)
    except (PolicyError, ValueError) as exc:
        # stdout is the KCL protocol: the message goes to stderr, which the daemon logs.
        log.error("event=pii_processor_config_error message=%s", exc)
        sys.exit(EXIT_BAD_CONFIG)
    masking = MaskingPipeline(policy, observe=PiiMetrics.for_registry().observe)
    dead_letters = outputs.dead_letter_store()
    processor = PipelineRecordProcessor(record_pipeline(masking), FanOut(outputs.sinks(dead_letters=dead_letters)),
                                        dead_letters=dead_letters)
    try:
        run_processor(processor)
    finally:
        log_totals(masking.records, masking.totals, engine=f"kcl:{os.environ.get(WORKER_ID_VARIABLE, '')}")


if __name__ == "__main__":
    main()
