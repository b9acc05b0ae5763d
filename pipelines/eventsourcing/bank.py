"""The example domain: bank accounts, opened at a branch, credited, debited and closed.

Money is ``decimal.Decimal`` in the rules and a string with two decimals ("12.50") in the state and every
output.  Integer cents would be exact too, but a field named ``balance`` holding 1250 reads as 1,250 to
whoever meets it in a projection; and JSON numbers become binary floats in most readers, which money must
never pass through.  Decimal strings are exact, unambiguous and JSON-safe, and sum exactly
(``EventSourcingPattern.branch_totals``).  Amounts may arrive as text ("12.50") or as JSON numbers (read
through their shortest decimal text, so 0.1 is 0.10); finer than a cent is refused, never rounded.

>>> bank = bank_domain()
>>> from pipelines.eventsourcing.events import Event
>>> state = bank.apply(bank.new_state(), Event("a-1", ACCOUNT, 1, "e-1", "AccountOpened", 0,
...                                            {"owner": "Customer 1", "branch": "north"}))
>>> state = bank.apply(state, Event("a-1", ACCOUNT, 2, "e-2", "Deposited", 0, {"amount": 12.5}))
>>> state
{'balance': '12.50', 'owner': 'Customer 1', 'branch': 'north', 'status': 'open'}
>>> bank.apply(state, Event("a-1", ACCOUNT, 3, "e-3", "Withdrawn", 0, {"amount": "20"}))
Traceback (most recent call last):
...
pipelines.eventsourcing.domain.DomainRuleError: withdrawal would take the balance below zero
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from pipelines.eventsourcing.domain import Domain, DomainRuleError, State
from pipelines.eventsourcing.events import Event

ACCOUNT = "Account"
OPEN, CLOSED = "open", "closed"
EVENT_TYPES = ("AccountOpened", "Deposited", "Withdrawn", "AccountClosed")
DERIVED_TYPES = ("BalanceChanged", "LargeWithdrawal")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 15
"""Amounts stay below a quadrillion, so sums stay exact within Decimal's default 28 digits."""
LARGE_WITHDRAWAL = Decimal("10000")


def money(value: Decimal) -> str:
    """A sum of money as every output carries it: two decimals, no exponent (``money(Decimal(5)) == '5.00'``)."""
    return f"{value.quantize(CENT):f}"


def amount_of(data: Mapping[str, Any]) -> Decimal:
    """``data["amount"]``, a positive number of whole cents below ``MAX_AMOUNT``, or a refusal."""
    value = data.get("amount")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise DomainRuleError("must be a positive number", "data.amount")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise DomainRuleError("must be a positive number", "data.amount") from None
    if not amount.is_finite() or amount <= 0:
        raise DomainRuleError("must be a positive number", "data.amount")
    if amount >= MAX_AMOUNT:
        raise DomainRuleError("must be below 10**15", "data.amount")
    if amount % CENT:
        raise DomainRuleError("must be whole cents (at most 2 decimal places)", "data.amount")
    return amount


def bank_domain(large_withdrawal: Decimal | int | str = LARGE_WITHDRAWAL) -> Domain:
    """The account rules; a withdrawal of at least ``large_withdrawal`` also derives a ``LargeWithdrawal``.

    Refused: opening an account twice, any event before it is opened or after it is closed, an amount that is
    not a positive number, a withdrawal below zero.  A closed account keeps its balance on the books (the
    branch totals count it).
    """
    threshold = Decimal(str(large_withdrawal))
    bank = Domain("bank", aggregate_type=ACCOUNT, total_of="balance", grouped_by="branch")

    @bank.initial
    def unopened() -> State:
        return {"balance": money(Decimal(0)), "owner": None, "branch": None, "status": None}

    @bank.applies("AccountOpened")
    def opened(state: State, data: Mapping[str, Any], event: Event) -> None:
        if state["status"] is not None:
            raise DomainRuleError("account already opened")
        for key in ("owner", "branch"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise DomainRuleError("is required (a non-empty string)", f"data.{key}")
        state.update(owner=data["owner"], branch=data["branch"], status=OPEN)

    @bank.applies("Deposited")
    def deposited(state: State, data: Mapping[str, Any], event: Event) -> None:
        _require_open(state)
        state["balance"] = money(Decimal(state["balance"]) + amount_of(data))

    @bank.applies("Withdrawn")
    def withdrawn(state: State, data: Mapping[str, Any], event: Event) -> None:
        _require_open(state)
        balance = Decimal(state["balance"]) - amount_of(data)
        if balance < 0:
            raise DomainRuleError("withdrawal would take the balance below zero")
        state["balance"] = money(balance)

    @bank.applies("AccountClosed")
    def closed(state: State, data: Mapping[str, Any], event: Event) -> None:
        _require_open(state)
        state["status"] = CLOSED

    @bank.derives("Deposited", "Withdrawn")
    def balance_changed(before: Mapping[str, Any], after: Mapping[str, Any], event: Event):
        delta = Decimal(after["balance"]) - Decimal(before["balance"])
        yield "BalanceChanged", {"balance": after["balance"], "delta": money(delta)}
        if event.type == "Withdrawn" and -delta >= threshold:
            yield "LargeWithdrawal", {"amount": money(-delta), "balance": after["balance"],
                                      "threshold": money(threshold)}

    return bank


def _require_open(state: State) -> None:
    if state["status"] is None:
        raise DomainRuleError("account not opened yet")
    if state["status"] == CLOSED:
        raise DomainRuleError("account is closed")
