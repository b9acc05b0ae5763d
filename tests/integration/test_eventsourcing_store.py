"""The projection table on moto: writes only go forward, and a worker that lost an aggregate cannot write it."""
from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest

from connectors.aws import client
from connectors.eventsourcing_store import (AggregateStore, ProjectionWriter, StaleAggregateError, create_tables,
                                            read_projection, read_totals)
from pipelines.clock import FakeClock
from pipelines.eventsourcing.pattern import EventSourcingPattern, StateChanged

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def event(version: int, type: str, **data) -> dict:
    return {"aggregate_id": "a-1", "aggregate_type": "Account", "version": version, "event_id": f"e-{version}",
            "type": type, "occurred_at": version, "data": data}


def tables() -> tuple[str, str]:
    name = f"es-{uuid.uuid4().hex[:8]}"
    create_tables(client("dynamodb"), f"{name}-p", f"{name}-t")
    return f"{name}-p", f"{name}-t"


def worker(projections: str, totals: str) -> tuple[EventSourcingPattern, AggregateStore]:
    pattern = EventSourcingPattern(clock=FakeClock(0))
    return pattern, AggregateStore(projections, totals, total_changes=pattern.total_changes)


def feed(pattern: EventSourcingPattern, store: AggregateStore, *payloads: dict) -> None:
    """What the KCL step does: read the aggregate on first sight, apply, commit."""
    if "a-1" not in pattern.aggregates:
        loaded = store.load("a-1")
        if loaded is not None:
            pattern.adopt("a-1", loaded)
    for payload in payloads:
        pattern.on_payload(payload)
    asyncio.run(store.commit(dict(pattern.aggregates), pattern.domain.view, pattern.domain.status))


def test_a_worker_that_lost_the_aggregate_fails_its_write_and_undoes_nothing(local_stack):
    projections, totals = tables()
    first, first_store = worker(projections, totals)
    feed(first, first_store, event(1, "AccountOpened", owner="o", branch="north"), event(2, "Deposited", amount="50"))
    second, second_store = worker(projections, totals)  # takes the shard: reads the aggregate at version 2
    feed(second, second_store, event(3, "Deposited", amount="10"))
    with pytest.raises(StaleAggregateError, match="a-1.* no longer owns their shard"):
        feed(first, first_store, event(3, "Withdrawn", amount="5"))  # the old owner, late, with another version 3
    dynamodb = client("dynamodb")
    assert read_projection(dynamodb, projections, "a-1")["version"] == 3
    assert read_projection(dynamodb, projections, "a-1")["state"]["balance"] == "60.00"
    assert read_totals(dynamodb, totals) == {"north": Decimal("60.00")}  # moved with each committed change only


def test_held_events_are_kept_in_the_table_and_apply_on_the_worker_that_takes_the_aggregate(local_stack):
    projections, totals = tables()
    first, first_store = worker(projections, totals)
    feed(first, first_store, event(1, "AccountOpened", owner="o", branch="north"), event(3, "Deposited", amount="7"))
    second, second_store = worker(projections, totals)
    feed(second, second_store, event(2, "Deposited", amount="1"), event(3, "Deposited", amount="7"))
    line = read_projection(client("dynamodb"), projections, "a-1")
    assert (line["version"], line["state"]["balance"]) == (3, "8.00")
    assert second.stats.duplicates == 1  # version 3 came again; it was held already


def test_a_branch_of_accounts_with_nothing_in_them_is_listed_with_a_total_of_zero(local_stack):
    """As the pattern's branch_totals lists it (the file mode's totals): an ADD of 0 still creates the item."""
    projections, totals = tables()
    pattern, store = worker(projections, totals)
    feed(pattern, store, event(1, "AccountOpened", owner="o", branch="north"))
    assert read_totals(client("dynamodb"), totals) == pattern.branch_totals() == {"north": Decimal("0")}


def test_projection_puts_only_go_forward(dynamodb_stack):
    """One transaction a chunk; a stale item in it (a replay) cancels it, and the puts go one by one."""
    projections, totals = tables()
    writer = ProjectionWriter(projections, totals)

    def changed(aggregate_id: str, version: int) -> StateChanged:
        return StateChanged(aggregate_id, version, {"balance": f"{version}.00", "owner": "o", "branch": "north"},
                            "open", version)

    asyncio.run(writer.write([changed("a-1", 5), changed("a-2", 1)]))
    asyncio.run(writer.write([changed("a-1", 3), changed("a-2", 2), changed("a-3", 1)]))
    dynamodb = client("dynamodb")
    assert [read_projection(dynamodb, projections, key)["version"] for key in ("a-1", "a-2", "a-3")] == [5, 2, 1]
    assert writer.stale == 1


def test_the_kcl_step_keeps_a_bounded_number_of_aggregates_and_reads_dropped_ones_again(local_stack):
    """The table is the KCL processor's state: aggregates met least recently are dropped after a commit and
    read again when they come back, and the table ends as a processor that kept every one would leave it."""
    from connectors.kcl.eventsourcing import EventSourcingStep
    from connectors.kinesis.batches import ConsumedRecord
    from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
    from pipelines.records import to_avro

    projections, totals = tables()
    stream = generate_bank_stream(BankStreamConfig(accounts=12, transactions=6, refused_rate=0.1,
                                                   duplicate_rate=0.1, swap_rate=0.0, gap_rate=0.0, bad_rate=0.0,
                                                   seed=11))
    records = [to_avro(bank_envelope(payload, number, 11)) for number, (payload, _) in enumerate(stream.records)]
    unbounded = {}
    for cached in (3, 1_000):
        projections, totals = tables()
        pattern, store = worker(projections, totals)
        step = EventSourcingStep(pattern, "events", store, cached_aggregates=cached)
        reads = 0
        load = store.load

        def counted_load(aggregate_id):
            nonlocal reads
            reads += 1
            return load(aggregate_id)
        store.load = counted_load
        for start in range(0, len(records), 7):
            for offset, data in enumerate(records[start:start + 7]):
                step(ConsumedRecord(data, "k", "shardId-000000000000", str(start + offset), 0, 0.0))
            asyncio.run(step.commit())
            assert len(pattern.aggregates) <= cached and len(store.loaded) <= cached
        dynamodb = client("dynamodb")
        unbounded[cached] = ({a: read_projection(dynamodb, projections, a) for a in stream.history},
                             read_totals(dynamodb, totals), reads)
    (bounded_items, bounded_totals, bounded_reads), (items, totals_all, reads_all) = unbounded[3], unbounded[1_000]
    assert bounded_items == items and bounded_totals == totals_all
    assert {a: line["version"] for a, line in items.items()} == {a: len(h) for a, h in stream.history.items()}
    assert reads_all == 12 and bounded_reads > 12  # dropped aggregates were read again


def test_an_aggregate_holding_events_behind_a_gap_is_not_dropped(local_stack):
    from connectors.kcl.eventsourcing import EventSourcingStep
    from connectors.kinesis.batches import ConsumedRecord
    from pipelines.eventsourcing.synthetic import bank_envelope
    from pipelines.records import to_avro

    projections, totals = tables()
    pattern, store = worker(projections, totals)
    step = EventSourcingStep(pattern, "events", store, cached_aggregates=1)

    def consume(payload: dict) -> None:
        data = to_avro(bank_envelope(payload, 0, 0))
        step(ConsumedRecord(data, payload["aggregate_id"], "shardId-000000000000", "1", 0, 0.0))
    consume(event(1, "AccountOpened", owner="Ann", branch="b1"))
    consume(event(3, "Deposited", amount="5"))  # version 2 is missing: held
    asyncio.run(step.commit())
    assert pattern.aggregates["a-1"].blocked_since is not None
    for other in ("a-2", "a-3"):
        consume({**event(1, "AccountOpened", owner="Bo", branch="b1"), "aggregate_id": other,
                 "event_id": f"{other}-1"})
        asyncio.run(step.commit())
    assert set(pattern.aggregates) == {"a-1", "a-3"}  # a-1 kept past the bound; a-2 dropped
