"""PyFlink job for the PII masking pattern: Kinesis in, masked records to a Kinesis stream and an S3 curated prefix.

It is the passthrough job (``jobs.flink.passthrough_job``: same operators, same
properties in group ``shardline``) with the pipeline fixed to
``pipelines.pii.pipeline:mask_record`` and every dead letter masked with the
generic policy (``pipelines.pii.dead_letters:mask_dead_letter``) before it is
stored.  One more property group, ``shardline.pii``::

    policy     built-in policy (payments, generic) or a policy file       default: payments

The policy reaches the Python workers as SHARDLINE_PII_POLICY (set here, so
a local MiniCluster's workers inherit it; on a cluster, set it in the
TaskManagers' environment).  Keys come from the variables or files the
policy names, never from properties.  The policy and its keys are loaded
here before the job is submitted: a missing key stops it at once with a
message naming the variable, instead of dead-lettering every record.

Run locally:  python -m jobs.flink.pii_job --properties app.json
"""
from __future__ import annotations

import argparse
import os
import sys

from connectors.flink import application_properties
from jobs.flink import passthrough_job

PII_GROUP = "shardline.pii"
PII_KEYS = ("policy",)
MASK_PIPELINE = "pipelines.pii.pipeline:mask_record"
DEAD_LETTER_MASK = "pipelines.pii.dead_letters:mask_dead_letter"


def pii_policy(properties_path: str | None) -> str:
    """The policy named in group ``shardline.pii`` (or SHARDLINE_PII_POLICY, or payments), checked by loading it."""
    from pipelines.pii import PolicyError
    from pipelines.pii.pipeline import POLICY_VARIABLE, PiiPipelineConfig, policy_from_spec

    group = application_properties(properties_path).get(PII_GROUP, {})
    unknown = sorted(set(group) - set(PII_KEYS))
    if unknown:
        sys.exit(f"property group '{PII_GROUP}': unknown keys {unknown}; known: {list(PII_KEYS)}")
    spec = group.get("policy") or PiiPipelineConfig().policy
    try:
        policy_from_spec(spec)
    except PolicyError as exc:
        sys.exit(f"PII policy {spec!r}: {exc}")
    os.environ[POLICY_VARIABLE] = spec
    return spec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--properties", help="application properties JSON (Managed Flink's format)")
    args, _ = parser.parse_known_args(argv)
    pii_policy(args.properties)
    passthrough_job.main(argv, overrides={"pipeline": MASK_PIPELINE, "dead_letter.mask": DEAD_LETTER_MASK},
                         job_name="shardline-pii")


if __name__ == "__main__":
    # Imported by name so its functions are pickled by reference (see passthrough_job).
    from jobs.flink.pii_job import main as job_main

    job_main()
