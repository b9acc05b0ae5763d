"""Kinesis records waiting to be sent, kept in order per ordering domain.  Pure logic, no I/O.

An ordering domain is a FIFO of Kinesis records whose relative order must
survive retries (a partition key, or a shard when aggregating).  Only the head
of a domain may be sent, and only once at a time: ``take`` removes the heads of
*ready* domains into a batch, and the domain stays busy until ``settle``
(delivered or given up on) or ``retry_at`` (put back at the head, ready again
after a backoff).  Ready domains are grouped by the shard their head goes to,
so a batch can respect each shard's pace.
"""
from __future__ import annotations

import heapq
from collections import deque
from typing import Callable, Iterator

from connectors.kinesis.routing import ShardPacer
from pipelines.clock import Clock


class PendingRecord:
    """One Kinesis record on its way: a plain user record or an aggregate."""

    __slots__ = ("entry", "records", "count", "size", "hash_key", "domain", "attempts")

    def __init__(self, entry: dict, records: list | None, count: int, size: int, hash_key: int, domain: str) -> None:
        self.entry = entry          # the PutRecords request entry
        self.records = records      # aggregated (pk, data, ehk) tuples; None for a plain record
        self.count = count          # user records inside
        self.size = size            # bytes Kinesis counts: data + partition key
        self.hash_key = hash_key    # where it lands
        self.domain = domain
        self.attempts = 0

    def user_records(self) -> list[tuple[str, bytes, str | None]]:
        if self.records is not None:
            return self.records
        return [(self.entry["PartitionKey"], self.entry["Data"], self.entry.get("ExplicitHashKey"))]


class DomainBacklog:
    def __init__(self, shard_of: Callable[[PendingRecord], str], pacer: ShardPacer, clock: Clock, *,
                 max_batch_records: int, max_batch_bytes: int) -> None:
        self.shard_of = shard_of
        self._pacer = pacer
        self._clock = clock
        self._max_records = max_batch_records
        self._max_bytes = max_batch_bytes
        # Domains with something waiting, in flight or backing off -> their waiting records.
        self._domains: dict[str, deque[PendingRecord]] = {}
        self._ready: dict[str, deque[str]] = {}  # shard id -> ready domains
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_seq = 0
        self.ready_count = 0
        self.ready_bytes = 0
        self.first_ready_at = 0.0

    def __contains__(self, domain: str) -> bool:
        """The domain holds something (waiting, in flight or backing off)."""
        return domain in self._domains

    def __len__(self) -> int:
        return len(self._domains)

    @property
    def full(self) -> bool:
        return self.ready_count >= self._max_records or self.ready_bytes >= self._max_bytes

    def add(self, record: PendingRecord) -> bool:
        """Queue behind its domain; True if the sender should look (first ready record, or a full batch)."""
        waiting = self._domains.get(record.domain)
        if waiting is None:
            self._domains[record.domain] = deque((record,))
            return self._make_ready(record.domain, record)
        waiting.append(record)
        return False

    def _make_ready(self, domain: str, head: PendingRecord) -> bool:
        shard = self.shard_of(head)
        ready = self._ready.get(shard)
        if ready is None:
            ready = self._ready[shard] = deque()
        ready.append(domain)
        first = not self.ready_count
        if first:
            self.first_ready_at = self._clock.monotonic()
        self.ready_count += 1
        self.ready_bytes += head.size
        return first or self.ready_count >= self._max_records or self.ready_bytes >= self._max_bytes

    def take(self) -> tuple[list[PendingRecord], float | None]:
        """One batch: the heads of ready domains, round robin over shards, within each shard's pace.

        Also returns how long until a paced shard may send again (None if none was held back).
        """
        batch: list[PendingRecord] = []
        room_records, room_bytes = self._max_records, self._max_bytes
        paced_s = None
        domains = self._domains
        for shard in list(self._ready):
            ready = self._ready[shard]
            allowance = self._pacer.allowance(shard)
            taken = taken_bytes = 0
            while ready and allowance > 0 and room_records > 0:
                head = domains[ready[0]][0]
                if head.size > room_bytes:
                    room_records = 0  # the batch is full by size
                    break
                ready.popleft()
                domains[head.domain].popleft()
                batch.append(head)
                allowance -= 1
                room_records -= 1
                room_bytes -= head.size
                taken += 1
                taken_bytes += head.size
            if taken:
                self._pacer.spend(shard, taken, taken_bytes)
                self.ready_count -= taken
                self.ready_bytes -= taken_bytes
            del self._ready[shard]
            if ready:
                if allowance <= 0:
                    wait = self._pacer.wait_s(shard)
                    paced_s = wait if paced_s is None else min(paced_s, wait)
                self._ready[shard] = ready  # to the back: the next batch starts with another shard
            if room_records <= 0:
                break
        if self.ready_count:
            self.first_ready_at = self._clock.monotonic()
        return batch, paced_s

    def settle(self, record: PendingRecord) -> bool:
        """The record is done (delivered or given up on): its domain's next record becomes ready."""
        waiting = self._domains.get(record.domain)
        if waiting:
            return self._make_ready(record.domain, waiting[0])
        if waiting is not None:
            del self._domains[record.domain]
        return False

    def retry_at(self, record: PendingRecord, due: float) -> None:
        """Put the record back at the head of its domain; the domain is ready again at ``due``."""
        self._domains.setdefault(record.domain, deque()).appendleft(record)
        self._backoff_seq += 1
        heapq.heappush(self._backoff, (due, self._backoff_seq, record.domain))

    def release_due(self, now: float) -> float | None:
        """Make domains whose backoff ended ready; return when the next one ends (None: none waiting)."""
        backoff = self._backoff
        while backoff and backoff[0][0] <= now:
            _, _, domain = heapq.heappop(backoff)
            self._make_ready(domain, self._domains[domain][0])
        return backoff[0][0] if backoff else None

    def reroute(self) -> None:
        """Regroup ready domains after ``shard_of`` changed (the shard map did)."""
        domains = [domain for ready in self._ready.values() for domain in ready]
        self._ready.clear()
        self.ready_count = self.ready_bytes = 0
        for domain in domains:
            self._make_ready(domain, self._domains[domain][0])

    def drain(self) -> Iterator[PendingRecord]:
        """Remove and yield every waiting record, domain by domain in order (records in flight stay out)."""
        domains, self._domains = self._domains, {}
        self._ready.clear()
        self._backoff.clear()
        self.ready_count = self.ready_bytes = 0
        for waiting in domains.values():
            yield from waiting
