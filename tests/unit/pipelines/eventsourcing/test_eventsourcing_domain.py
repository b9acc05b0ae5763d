from decimal import Decimal

import pytest

from pipelines.eventsourcing.domain import Domain
from pipelines.eventsourcing.events import Event


def _domain(initial: dict) -> Domain:
    domain = Domain("basket", aggregate_type="Basket")
    domain.initial(lambda: initial)

    @domain.applies("Added")
    def added(state, data, event):
        state["count"] = state.get("count", 0) + 1
        if "items" in state:
            state["items"].append(data["item"])
            state["meta"]["last"] = data["item"]
    return domain


@pytest.mark.parametrize("initial", [
    {"count": 0, "total": Decimal("1.5"), "owner": "x", "flag": True, "none": None, "ratio": 0.5},
    {"count": 0, "items": ["a"], "meta": {"last": "a"}},
])
def test_a_rule_changes_a_copy_and_the_state_it_was_given_stays_as_it_was(initial):
    domain = _domain(initial)
    before = domain.new_state()
    snapshot = {key: (list(value) if isinstance(value, list) else dict(value) if isinstance(value, dict) else value)
                for key, value in before.items()}
    after = domain.apply(before, Event("b-1", "Basket", 1, "e-1", "Added", 0, {"item": "b"}))
    assert before == snapshot
    assert after["count"] == 1
    if "items" in initial:
        assert after["items"] == ["a", "b"] and after["meta"] == {"last": "b"}
