"""Dead letters made inside a DataStream job's Python operators, as every engine makes them.

``DeadLetter.of`` with the record's position, masked, counted in a Flink counter and logged without its
data; what leaves is ``(dt=/hour= partition, letter JSON)``, which the job sends to its dead-letter stream or
S3 (``pipeline_job.dead_letters_to``).  The SQL-path jobs build theirs in SQL (``sql_job.letter_select``).
"""
from __future__ import annotations

import logging

from connectors.dead_letter import DeadLetter, Mask, hour_partition, identity, masked_letter
from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.jobs.flink.dead_letters")


class DeadLetters:
    """One operator's letters: ``mask`` applied to each letter's data, ``counter`` (a Flink metric name)
    counting them."""

    def __init__(self, metrics, counter: str, mask: Mask = identity, clock: Clock = SYSTEM_CLOCK) -> None:
        self.mask, self.clock = mask, clock
        self.count = metrics.counter(counter)

    def letter(self, rejected, source: str, data: bytes) -> tuple[str, bytes]:
        now = self.clock.time()
        self.count.inc()
        log.warning("event=dead_letter error_type=%s source=%s", rejected.error_type, source)
        letter = masked_letter(DeadLetter.of(rejected, source, bytes(data), now), self.mask)
        return hour_partition(now), letter.to_json().encode("utf-8")
