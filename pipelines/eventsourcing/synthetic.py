"""Seeded synthetic bank-account events with their ground truth, and the faults a real stream has.

Each account is opened at a branch, then deposited to and withdrawn from (never below zero), and maybe
closed.  The clean stream interleaves the accounts, each in version order.  Faults, each at its rate:

- ``refused:<why>``: an event the bank's rules refuse (an overdraft, an unknown type, a zero amount, a
  deposit after close); it consumes its version, as the pattern's policy says, and changes nothing;
- ``duplicate``: a copy of an earlier event, sent again a few records later;
- reordering: two adjacent versions of an account swapped (their labels stay);
- gaps: one version of an account dropped (``BankStream.dropped``), so the events after it wait and then time out;
- ``bad:<what>``: a record that is no event (``BAD_KINDS``, in turn).

``BankStream.history`` holds every account's projection after each version of the clean run (as
``outputs.state_line`` writes it), so tests check the pattern against it, gaps included.

>>> stream = generate_bank_stream(BankStreamConfig(accounts=2, transactions=3, seed=1))
>>> [label for _, label in stream.records][:3], len(stream.truth)
(['event', 'event', 'event'], 2)
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pipelines.eventsourcing.bank import ACCOUNT, money
from pipelines.records import Record

BRANCHES = ("north", "south", "east", "west")
BAD_KINDS = ("missing_aggregate_id", "version_zero", "version_text", "not_json", "data_not_map")
REFUSALS = ("overdraft", "unknown_type", "zero_amount")
START_MS = 1_767_225_600_000


@dataclass(frozen=True)
class BankStreamConfig:
    """What ``shardline es generate`` makes."""

    accounts: int = 20
    """Accounts (aggregates): each is opened, then transacts, and some are closed."""
    branches: tuple[str, ...] = BRANCHES
    """Branches accounts are opened at (the totals' groups)."""
    transactions: int = 12
    """Deposits and withdrawals per account, after its opening."""
    close_rate: float = 0.2
    """Share of accounts closed after their transactions."""
    large_rate: float = 0.05
    """Share of deposits of 10,000 to 50,000 (so that large withdrawals happen)."""
    refused_rate: float = 0.0
    """Share of events a rule refuses (a withdrawal below zero, a deposit after close)."""
    duplicate_rate: float = 0.0
    """Share of events sent twice (a producer's retry: same id, same version)."""
    swap_rate: float = 0.0
    """Share of adjacent version pairs swapped (each version in one swap at most)."""
    gap_rate: float = 0.0
    """Share of accounts with one version (not the last) dropped."""
    bad_rate: float = 0.0
    """Share of records that are no event (not JSON, no aggregate id, a bad version, an unknown type)."""
    step_ms: int = 1000
    """occurred_at moves this much a record of the clean stream, from ``START_MS``."""
    seed: int = 7
    """Seeds every choice: the same config makes the same stream."""

    def __post_init__(self) -> None:
        if self.accounts < 1 or self.transactions < 0 or not self.branches:
            raise ValueError("accounts must be 1 or more, transactions 0 or more, and branches not empty")
        for name in ("close_rate", "large_rate", "refused_rate", "duplicate_rate", "swap_rate", "gap_rate",
                     "bad_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be from 0 to 1")


@dataclass
class BankStream:
    records: list[tuple[dict[str, Any] | bytes, str]] = field(default_factory=list)
    """(payload, label) in arrival order; a payload that is not even JSON is bytes."""
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Account id -> its projection after version 1, 2, ... of the clean run."""
    dropped: dict[str, int] = field(default_factory=dict)
    """Account id -> the version dropped from it (the gaps)."""

    @property
    def truth(self) -> dict[str, dict[str, Any]]:
        """Account id -> its final projection in the clean run."""
        return {account: lines[-1] for account, lines in self.history.items()}

    def expected(self) -> dict[str, dict[str, Any]]:
        """Account id -> its final projection in this run: before its dropped version, if one was (none if
        the first was)."""
        out = {}
        for account, lines in self.history.items():
            last = self.dropped.get(account, len(lines) + 1) - 1
            if last:
                out[account] = lines[last - 1]
        return out


def account_id(index: int) -> str:
    return f"acct-{index:04d}"


def generate_bank_stream(config: BankStreamConfig = BankStreamConfig()) -> BankStream:
    rng = random.Random(config.seed)
    stream = BankStream()
    sequences = [_account_events(config, rng, index, stream) for index in range(config.accounts)]
    for sequence in sequences:  # gaps: a version before the last one dropped
        if len(sequence) > 1 and rng.random() < config.gap_rate:
            dropped = sequence.pop(rng.randrange(len(sequence) - 1))
            stream.dropped[dropped[0]["aggregate_id"]] = dropped[0]["version"]
    for sequence in sequences:  # reordering: adjacent versions swapped
        index = 0
        while index < len(sequence) - 1:
            if rng.random() < config.swap_rate:
                sequence[index], sequence[index + 1] = sequence[index + 1], sequence[index]
                index += 1
            index += 1
    # Interleave, each account in its own order: a shuffled list of account turns, one per event, is the
    # same draw as picking an account by what it has left, without a weighted pick over every account per
    # event (quadratic: a million events took minutes).
    turns = [index for index, sequence in enumerate(sequences) for _ in sequence]
    rng.shuffle(turns)
    remaining = [list(reversed(sequence)) for sequence in sequences]
    clean: list[tuple[dict[str, Any], str]] = [remaining[index].pop() for index in turns]
    bad = clean_count = position = 0
    while position < len(clean):
        payload, label = clean[position]
        position += 1
        if label != "duplicate":
            payload["occurred_at"] = START_MS + clean_count * config.step_ms
            clean_count += 1
        stream.records.append((payload, label))
        if rng.random() < config.duplicate_rate:  # sent again (the same event) a few records later
            clean.insert(min(len(clean), position + rng.randrange(8)), (dict(payload), "duplicate"))
        if rng.random() < config.bad_rate:
            kind = BAD_KINDS[bad % len(BAD_KINDS)]
            bad += 1
            stream.records.append((_bad_record(kind, payload["aggregate_id"]), f"bad:{kind}"))
    return stream


def _account_events(config: BankStreamConfig, rng: random.Random, index: int,
                    stream: BankStream) -> list[tuple[dict[str, Any], str]]:
    account = account_id(index)
    owner, branch = f"Customer {index:04d}", rng.choice(config.branches)
    events: list[tuple[dict[str, Any], str]] = []
    history = stream.history[account] = []
    balance, status = 0, "open"  # cents

    def add(event_type: str, label: str = "event", **data: Any) -> None:
        version = len(events) + 1
        events.append(({"aggregate_id": account, "aggregate_type": ACCOUNT, "version": version,
                        "event_id": f"{account}-v{version}-{config.seed}", "type": event_type, "occurred_at": 0,
                        "data": data}, label))
        history.append({"aggregate_id": account, "version": version,
                        "state": {"balance": money(Decimal(balance) / 100), "owner": owner, "branch": branch},
                        "status": status})

    add("AccountOpened", owner=owner, branch=branch)
    for _ in range(config.transactions):
        if rng.random() < config.refused_rate:
            kind = REFUSALS[rng.randrange(len(REFUSALS))]
            if kind == "overdraft":
                add("Withdrawn", "refused:overdraft", amount=_amount(balance + 1 + rng.randrange(10_000)))
            elif kind == "unknown_type":
                add("InterestAccrued", "refused:unknown_type", amount="1.00")
            else:
                add("Deposited", "refused:zero_amount", amount="0.00")
        elif balance and rng.random() < 0.4:
            amount = 1 + rng.randrange(balance)
            balance -= amount
            add("Withdrawn", amount=_amount(amount))
        else:
            amount = rng.randrange(1_000_000, 5_000_000) if rng.random() < config.large_rate \
                else rng.randrange(100, 200_000)
            balance += amount
            add("Deposited", amount=_amount(amount))
    if rng.random() < config.close_rate:
        status = "closed"
        add("AccountClosed")
        if rng.random() < config.refused_rate:
            add("Deposited", "refused:after_close", amount="10.00")
    return events


def _amount(cents: int) -> str:
    return money(Decimal(cents) / 100)


def _bad_record(kind: str, account: str) -> dict[str, Any] | bytes:
    if kind == "not_json":
        return b'{"aggregate_id": "' + account.encode() + b'", "version": '
    payload = {"aggregate_id": account, "aggregate_type": ACCOUNT, "version": 1, "event_id": f"bad-{account}",
               "type": "Deposited", "occurred_at": START_MS, "data": {"amount": "1.00"}}
    if kind == "missing_aggregate_id":
        del payload["aggregate_id"]
    elif kind == "version_zero":
        payload["version"] = 0
    elif kind == "version_text":
        payload["version"] = "x"
    else:
        payload["data"] = ["amount", "1.00"]
    return payload


def bank_envelope(payload: dict[str, Any] | bytes, number: int, seed: int) -> Record:
    """The envelope a service would publish: partitioned by aggregate id, so an account stays in one shard.
    A record that is no event still gets a valid envelope (its payload as bytes when it is not even JSON, and
    its ``data`` as JSON text, the envelope's payload being flat): the pattern refuses it, not the envelope."""
    key = payload.get("aggregate_id") if isinstance(payload, dict) else None
    if isinstance(payload, dict) and "data" in payload:
        payload = {**payload, "data": json.dumps(payload["data"], separators=(",", ":"))}
    return Record(id=f"bank-{seed}-{number}", type="eventsourcing.event", source="synthetic/bank",
                  partition_key=key if isinstance(key, str) and key else "unknown", event_time=START_MS,
                  payload=payload)
