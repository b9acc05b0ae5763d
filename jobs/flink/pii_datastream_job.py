"""The PII job on the DataStream path: Kinesis in, masked records to Kinesis, S3 and Firehose.

``jobs.flink.pii_job`` (the SQL path) is the PII job to deploy: the same
properties at about half the cost a record (``shardline bench pii-job``); this
one stays as that benchmark's baseline.  It is the pipeline job
(``jobs.flink.pipeline_job``: same operators, same properties in group
``shardline``) with the pipeline fixed to the masking pipeline and every dead
letter masked with the generic policy before it is stored.  The ``pii.*``
properties are read as ``jobs.flink.pii_masking`` describes.

Run locally:  python -m jobs.flink.pii_datastream_job --properties app.json
"""
from __future__ import annotations

from jobs.flink import pipeline_job
from jobs.flink.pii_masking import prepare

MASK_PIPELINE = "pipelines.pii.pipeline:mask_record"  # the operator's name; the workers use PiiMaskingSetup
DEAD_LETTER_MASK = "pipelines.pii.dead_letters:mask_dead_letter"


def main(argv: list[str] | None = None) -> None:
    pipeline_job.main(argv, overrides={"pipeline": MASK_PIPELINE, "dead_letter.mask": DEAD_LETTER_MASK},
                      job_name="shardline-pii", prepare=prepare)


if __name__ == "__main__":
    # Imported by name so its functions are pickled by reference (see pipeline_job).
    from jobs.flink.pii_datastream_job import main as job_main

    job_main()
