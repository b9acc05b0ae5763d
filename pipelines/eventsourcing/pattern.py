"""The event-sourcing pattern, one event at a time: order, deduplicate, apply, project, derive.

Every engine feeds records through ``EventSourcingPattern.on_record`` (in arrival order, one instance per
partition of aggregates: the stream's partition key is the aggregate id) and routes what comes back by type:

- ``StateChanged``: an aggregate's new state and version (the projection store: upserts by aggregate id,
  conditional on the version); an event a rule refused gives one too, with the state unchanged and the version
  it consumed;
- ``DerivedEvent``: an event the domain derived from one that applied (the output streams);
- ``Rejected``: why a record is no event, and ``EventRejected`` (a ``Rejected`` that carries the event) why
  an event did not apply (the dead letters, with ``pipelines.engine``'s reasons).

The rules, per aggregate:

- Events apply in version order.  An event whose id the aggregate remembers, or whose version it has
  consumed or holds already, is a duplicate: nothing comes out, and it is counted.
- An event that comes before a version it follows is held until the gap fills.  If the gap stays open for
  ``gap_timeout_s`` (the clock, checked on every event and by ``tick``), the held events go to the dead letters
  (``VersionGapError``) and the aggregate stays at its last version: skipping one would build a state from
  part of its history.  The missing version, when it comes, still applies, and the dead letters redriven
  after it apply in turn.  Each time the aggregate moves on with events still held, its wait starts again.
- A rule that refuses an event (``DomainRuleError``) leaves the state as it was, and the event still
  consumes its version: its producer published it, and what follows it was decided after it; a retry is a
  new event with a new version.  (So is any other error the domain's code raises, dead-lettered by type.)
- Events of another aggregate type than the domain's are refused and consume nothing.

Derived events have deterministic ids, ``<type>:<source event id>`` (``:<n>`` added for a second of one
type), so a replay sends the same ids again and a consumer drops the ones it has seen.

>>> from pipelines.clock import FakeClock
>>> pattern = EventSourcingPattern(EventSourcingConfig(gap_timeout_s=60), clock=FakeClock(0))
>>> def event(version, type, **data):
...     return {"aggregate_id": "a-1", "aggregate_type": "Account", "version": version, "event_id": f"e-{version}",
...             "type": type, "occurred_at": version, "data": data}
>>> outputs = [pattern.on_payload(payload) for payload in (
...     event(1, "AccountOpened", owner="Customer 1", branch="north"), event(3, "Withdrawn", amount="5"),
...     event(2, "Deposited", amount="20"), event(2, "Deposited", amount="20"), event(4, "Withdrawn", amount="99"))]
>>> [[type(o).__name__ for o in out] for out in outputs]
[['StateChanged'], [], ['StateChanged', 'DerivedEvent', 'StateChanged', 'DerivedEvent'], [], ['EventRejected', 'StateChanged']]
>>> pattern.projection("a-1")
StateChanged(aggregate_id='a-1', version=4, state={'balance': '15.00', 'owner': 'Customer 1', 'branch': 'north'}, status='open', occurred_at=3)
>>> outputs[2][3].event_id, pattern.branch_totals(), pattern.stats.as_dict()
('BalanceChanged:e-3', {'north': Decimal('15.00')}, {'read': 5, 'applied': 3, 'duplicates': 1, 'rejected': 1, 'held': 1, 'gap_timeouts': 0, 'derived': 2})
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Union

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected, rejection
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.bank import bank_domain
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.domain import Domain, DomainRuleError
from pipelines.eventsourcing.events import Event, EventError, parse_event
from pipelines.records import Record

STATE_VERSION = 2
GAP_ERROR = "VersionGapError"


@dataclass(frozen=True, slots=True)
class StateChanged:
    """An aggregate's projection: its state (without the status) and status after ``version``."""

    aggregate_id: str
    version: int
    state: dict[str, Any]
    status: Any
    occurred_at: int = 0
    """The occurred_at of the last event that applied (epoch milliseconds)."""


@dataclass(frozen=True, slots=True)
class DerivedEvent:
    event_id: str
    type: str
    aggregate_id: str
    aggregate_type: str
    version: int
    """The version of the event it derives from."""
    source_event_id: str
    occurred_at: int
    data: dict[str, Any]


@dataclass(frozen=True)
class EventRejected(Rejected):
    """A dead letter of an event: a ``Rejected`` with the event it is about (one held earlier, for a gap that
    timed out; the engine writes it, as ``event.as_dict()``, in place of a record it no longer has)."""

    event: Event | None = None


Output = Union[StateChanged, DerivedEvent, Rejected]


@dataclass
class EventSourcingStats:
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    held: int = 0
    """Events that waited for a missing version (they count again as applied or rejected when they leave)."""
    gap_timeouts: int = 0
    """Gaps that stayed open past ``gap_timeout_s`` (their held events count as rejected)."""
    derived: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        counts = asdict(self)
        del counts["rejected_by_reason"]
        return counts

    def add(self, other: "EventSourcingStats") -> None:
        """Count ``other``'s events too (an engine with one pattern per shard reports their sum)."""
        for name, value in other.as_dict().items():
            setattr(self, name, getattr(self, name) + value)
        for reason, n in other.rejected_by_reason.items():
            self.rejected_by_reason[reason] = self.rejected_by_reason.get(reason, 0) + n


class EventSourcingPattern:
    def __init__(self, config: EventSourcingConfig = EventSourcingConfig(), domain: Domain | None = None,
                 clock: Clock = SYSTEM_CLOCK, *, state_changes: bool = True) -> None:
        """``state_changes=False``: no ``StateChanged`` an event, for an engine that reads each changed aggregate's
        ``projection`` when it writes (the Flink job, once a tick)."""
        self.config = config
        self.state_changes = state_changes
        self.domain = domain if domain is not None else bank_domain(config.large_withdrawal)
        self.clock = clock
        self.stats = EventSourcingStats()
        self.aggregates: dict[str, Aggregate] = {}
        self._totals: dict[str, Decimal] = {}
        self._deadlines: list[tuple[float, str, float]] = []
        """Heap of (deadline, aggregate id, blocked since); an entry is stale once the aggregate moved on."""

    # --- input -------------------------------------------------------------------------------------------

    def on_record(self, record: Record) -> list[Output]:
        return self.on_payload(record.payload)

    def on_payload(self, payload: Any) -> list[Output]:
        try:
            event = parse_event(payload)
        except EventError as exc:
            self.stats.read += 1
            outputs = self.tick()
            outputs.append(self._rejected(rejection(exc, "validate")))
            return outputs
        return self.on_event(event)

    def on_event(self, event: Event) -> list[Output]:
        """The outputs of one event, after those of any gap that timed out by now."""
        self.stats.read += 1
        now = self.clock.time()
        outputs = self._expire(now)
        domain = self.domain
        if domain.aggregate_type is not None and event.aggregate_type != domain.aggregate_type:
            outputs.append(self._rejected(EventRejected(
                DomainRuleError.__name__, "field 'aggregate_type': unknown aggregate type", "pipeline", event)))
            return outputs
        aggregate = self.aggregates.get(event.aggregate_id)
        if aggregate is None:
            aggregate = self.aggregates[event.aggregate_id] = Aggregate(domain.new_state())
        if aggregate.knows(event):
            self.stats.duplicates += 1
            return outputs
        if event.version > aggregate.version + 1:
            if len(aggregate.held) >= self.config.max_held_events:
                outputs.append(self._rejected(EventRejected(
                    GAP_ERROR, f"field 'version': more than {self.config.max_held_events} events held behind a "
                    "version gap", "pipeline", event)))
                return outputs
            waiting = aggregate.blocked_since is not None
            aggregate.hold(event, now)
            self.stats.held += 1
            if not waiting:
                self._wait(event.aggregate_id, aggregate)
            return outputs
        self._apply(aggregate, event, outputs)
        while (following := aggregate.next_held()) is not None:
            self._apply(aggregate, following, outputs)
        if aggregate.held:
            aggregate.blocked_since = now  # moved on, and waits for the next missing version from now
            self._wait(event.aggregate_id, aggregate)
        else:
            aggregate.blocked_since = None
        return outputs

    def tick(self) -> list[Output]:
        """The dead letters of every gap that has stayed open ``gap_timeout_s`` by the clock's time now."""
        return self._expire(self.clock.time())

    def finish(self) -> list[Output]:
        """End of input: the gaps due by now time out; every event still held goes to the dead letters."""
        outputs = self.tick()
        for aggregate_id in sorted(self.aggregates):
            for event in self.aggregates[aggregate_id].release_all():
                outputs.append(self._rejected(EventRejected(
                    GAP_ERROR, "version gap not filled by the end of the input", "pipeline", event)))
        self._deadlines.clear()
        return outputs

    # --- the read side ------------------------------------------------------------------------------------

    def projection(self, aggregate_id: str) -> StateChanged | None:
        """An aggregate's current projection; None before it consumed its first version."""
        aggregate = self.aggregates.get(aggregate_id)
        if aggregate is None or aggregate.version == 0:
            return None
        return StateChanged(aggregate_id, aggregate.version, self.domain.view(aggregate.state),
                            self.domain.status(aggregate.state), aggregate.updated_at)

    def projections(self) -> list[StateChanged]:
        """Every aggregate's projection, by aggregate id."""
        return [p for p in map(self.projection, sorted(self.aggregates)) if p is not None]

    def branch_totals(self) -> dict[str, Decimal]:
        """The cross-aggregate read model: the sum of the domain's ``total_of`` per ``grouped_by`` value (for
        the bank, the balance of every account per branch, closed ones too), exact."""
        return dict(sorted(self._totals.items()))

    # --- state ---------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (treat it as read-only; an engine serializes it): every
        aggregate's state, version, remembered ids and held events, the totals and the stats.  An engine stores
        it with the stream position it reflects; ``restore`` from it and reading on from that position gives
        the same outputs as a run that never stopped."""
        return {"version": STATE_VERSION,
                "aggregates": {key: aggregate.to_state() for key, aggregate in self.aggregates.items()},
                "totals": {group: str(total) for group, total in self._totals.items()},
                "stats": asdict(self.stats)}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from ``snapshot()``'s data (taken with the same config and domain)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"an event-sourcing snapshot of version {state.get('version')!r}; this shardline "
                             f"reads version {STATE_VERSION}: rebuild the projections from the event stream")
        self.aggregates = {key: Aggregate.from_state(data) for key, data in state["aggregates"].items()}
        self._totals = {group: Decimal(total) for group, total in state["totals"].items()}
        stats = state["stats"]
        self.stats = EventSourcingStats(**{**stats, "rejected_by_reason": dict(stats["rejected_by_reason"])})
        self._deadlines = []
        for aggregate_id, aggregate in self.aggregates.items():
            if aggregate.blocked_since is not None:
                self._wait(aggregate_id, aggregate)

    def contribution(self, state: dict[str, Any] | None) -> tuple[str, Decimal] | None:
        """An aggregate's share of the cross-aggregate totals, (group, value): for the bank, (its branch, its
        balance); None for a state that counts in none (no domain totals, or no group yet)."""
        group_key, value_key = self.domain.grouped_by, self.domain.total_of
        if state is None or group_key is None or value_key is None:
            return None
        group, value = state.get(group_key), state.get(value_key)
        if group is None or value is None:
            return None
        return str(group), Decimal(str(value))

    def total_changes(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Decimal]:
        """What the totals gain per group when an aggregate's state goes from ``before`` to ``after``: the group it
        leaves loses its value, the one it enters gains its value (and is listed even when that is 0, as
        ``branch_totals`` lists it), and a group it stays in moves by the difference (not listed when 0).  Every
        engine that keeps totals apart from the pattern (the KCL store, the Flink job) moves them by this."""
        old, new = self.contribution(before), self.contribution(after)
        if old == new:
            return {}
        changes: dict[str, Decimal] = {}
        if old is not None:
            changes[old[0]] = -old[1]
        if new is not None:
            changes[new[0]] = changes.get(new[0], Decimal(0)) + new[1]
        return changes

    def focus(self, aggregate_id: str, aggregate: Aggregate | None) -> None:
        """Hold this one aggregate and nothing else (an engine that keeps each aggregate in keyed state, the
        Flink job): the next call's outputs are about it alone, gap timeouts included, and ``branch_totals``
        is what its changes from now on add to each group."""
        self.aggregates = {}
        self._totals = {}
        self._deadlines = []
        if aggregate is not None:
            self.adopt(aggregate_id, aggregate)

    def adopt(self, aggregate_id: str, aggregate: Aggregate) -> None:
        """Take an aggregate as a store kept it (an engine whose state lives outside the pattern, read on first
        sight): it applies from its version on, and still waits out a gap it was waiting on."""
        self.aggregates[aggregate_id] = aggregate
        if aggregate.blocked_since is not None and aggregate.held:
            self._wait(aggregate_id, aggregate)

    # --- the steps -----------------------------------------------------------------------------------------

    def _apply(self, aggregate: Aggregate, event: Event, outputs: list[Output]) -> None:
        domain = self.domain
        before = aggregate.state
        try:
            after = domain.apply(before, event)
            derived = domain.derive(before, after, event)
        except Exception as exc:  # noqa: BLE001 - a rule's refusal, or any error of the domain's code
            aggregate.consume(event, self.config.remembered_event_ids)
            refused = rejection(exc, "pipeline")
            outputs.append(self._rejected(EventRejected(refused.error_type, refused.reason, refused.step, event)))
            # The state is as it was, at the version the refusal consumed: a store keeps versions as they are.
            if self.state_changes:
                outputs.append(StateChanged(event.aggregate_id, event.version, domain.view(before),
                                            domain.status(before), aggregate.updated_at))
            return
        aggregate.consume(event, self.config.remembered_event_ids)
        aggregate.state = after
        aggregate.updated_at = event.occurred_at
        self._count_totals(before, after)
        self.stats.applied += 1
        self.stats.derived += len(derived)
        if self.state_changes:
            outputs.append(StateChanged(event.aggregate_id, event.version, domain.view(after), domain.status(after),
                                        event.occurred_at))
        of_type: dict[str, int] = {}
        for derived_type, data in derived:
            n = of_type[derived_type] = of_type.get(derived_type, 0) + 1
            event_id = f"{derived_type}:{event.event_id}" + (f":{n}" if n > 1 else "")
            outputs.append(DerivedEvent(event_id, derived_type, event.aggregate_id, event.aggregate_type,
                                        event.version, event.event_id, event.occurred_at, data))

    def _count_totals(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        for group, change in self.total_changes(before, after).items():
            self._totals[group] = self._totals.get(group, Decimal(0)) + change

    def _wait(self, aggregate_id: str, aggregate: Aggregate) -> None:
        since = aggregate.blocked_since
        heapq.heappush(self._deadlines, (since + self.config.gap_timeout_s, aggregate_id, since))

    def _expire(self, now: float) -> list[Output]:
        outputs: list[Output] = []
        deadlines = self._deadlines
        reason = f"version gap not filled within {self.config.gap_timeout_s:g} s"
        while deadlines and deadlines[0][0] <= now:
            _, aggregate_id, since = heapq.heappop(deadlines)
            aggregate = self.aggregates.get(aggregate_id)
            if aggregate is None or aggregate.blocked_since != since or not aggregate.held:
                continue  # the gap filled, or the aggregate waits for a later one since
            self.stats.gap_timeouts += 1
            for event in aggregate.release_all():
                outputs.append(self._rejected(EventRejected(GAP_ERROR, reason, "pipeline", event)))
        return outputs

    def _rejected(self, rejected: Rejected) -> Rejected:
        self.stats.rejected += 1
        by_reason = self.stats.rejected_by_reason
        by_reason[rejected.reason] = by_reason.get(rejected.reason, 0) + 1
        return rejected
