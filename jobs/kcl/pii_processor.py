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

from connectors.kcl.daemon import WORKER_ID_VARIABLE
from connectors.kcl.processor import configure_stderr_logging
from jobs.kcl.pipeline_processor import add_output_args, exit_bad_config, outputs_of, run_pipeline
from jobs.local.pii import PiiMetrics, log_totals
from pipelines.pii import PolicyError
from pipelines.pii.pipeline import POLICY_VARIABLE, MaskingPipeline, PiiPipelineConfig, policy_from_spec

log = logging.getLogger("shardline.kcl.pii")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", help=f"built-in policy or policy file (default: ${POLICY_VARIABLE} or payments)")
    add_output_args(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    configure_stderr_logging()
    try:
        policy = policy_from_spec(args.policy or PiiPipelineConfig().policy)
        outputs = outputs_of(args)
    except (PolicyError, ValueError) as exc:
        exit_bad_config("pii_processor", exc)
    masking = MaskingPipeline(policy, observe=PiiMetrics.for_registry().observe)
    try:
        run_pipeline(masking, outputs)
    finally:
        log_totals(masking.records, masking.totals, engine=f"kcl:{os.environ.get(WORKER_ID_VARIABLE, '')}")


if __name__ == "__main__":
    main()
