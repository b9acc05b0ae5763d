"""PyFlink job for the PII masking pattern: Kinesis in, masked records to Kinesis, S3 and Firehose.

It is the pipeline job (``jobs.flink.pipeline_job``: same operators, same
properties in group ``shardline``) with the pipeline fixed to the masking
pipeline and every dead letter masked with the generic policy
(``pipelines.pii.dead_letters:mask_dead_letter``) before it is stored.  With
``output.firehose`` set, masked records also go to that delivery stream as
OpenSearch bulk lines (``output.firehose.index``), as the KCL processor and
the local runner write them.

The policy and where its keys live are properties of the same group
(``pii.policy``, ``pii.keys.<name>[.file|.env]``: see ``jobs.flink.pii_masking``),
because Managed Flink cannot set the workers' environment.  They travel to
the workers with the pipeline operator.  The policy and its keys are loaded
here before the job is submitted: a missing key stops it at once with a
message naming the property, variable or file, instead of dead-lettering
every record.  Each worker counts masked values by entity type in Flink
metrics (``shardline_pii_masked_values``, group ``entity``) and logs the totals
when it closes.

Run locally:  python -m jobs.flink.pii_job --properties app.json
"""
from __future__ import annotations

import argparse
import sys

from connectors.flink import application_properties
from jobs.flink import pipeline_job
from jobs.flink.pii_masking import PREFIX, PiiJobSettings, PiiMaskingSetup, PiiPropertyError

MASK_PIPELINE = "pipelines.pii.pipeline:mask_record"  # the operator's name; the workers use PiiMaskingSetup
DEAD_LETTER_MASK = "pipelines.pii.dead_letters:mask_dead_letter"
OLD_GROUP = "shardline.pii"


def prepare(properties: dict[str, str]) -> tuple[dict[str, str], PiiMaskingSetup]:
    """Take the ``pii.*`` properties out of the group, load the policy with its keys, and return the rest.

    Exits with a message (never key material) when the policy or a key cannot be loaded.
    """
    from pipelines.pii import PolicyError
    from pipelines.pii.pipeline import PiiPipelineConfig

    try:
        # Without pii.policy: SHARDLINE_PII_POLICY where the job is submitted, else payments (as the other engines).
        settings = PiiJobSettings.from_properties(properties, default_policy=PiiPipelineConfig().policy)
        settings.load_policy()
    except PiiPropertyError as exc:
        sys.exit(f"property group '{pipeline_job.PROPERTY_GROUP}': {exc}")
    except PolicyError as exc:
        sys.exit(f"PII policy {settings.policy!r}: {exc}")
    rest = {key: value for key, value in properties.items() if not key.startswith(PREFIX)}
    return rest, PiiMaskingSetup(settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--properties", help="application properties JSON (Managed Flink's format)")
    args, _ = parser.parse_known_args(argv)
    if OLD_GROUP in application_properties(args.properties):
        sys.exit(f"property group '{OLD_GROUP}' is no longer read: set pii.policy (and pii.keys.<name>.file) "
                 f"in group '{pipeline_job.PROPERTY_GROUP}'")
    pipeline_job.main(argv, overrides={"pipeline": MASK_PIPELINE, "dead_letter.mask": DEAD_LETTER_MASK},
                         job_name="shardline-pii", prepare=prepare)


if __name__ == "__main__":
    # Imported by name so its functions are pickled by reference (see pipeline_job).
    from jobs.flink.pii_job import main as job_main

    job_main()
