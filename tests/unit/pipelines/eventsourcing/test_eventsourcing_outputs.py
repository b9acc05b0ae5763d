"""The text of a derived event's data and a projection's state is ``json.dumps``'s (sorted, compact), whichever
writer writes it: replays and the other engines compare it byte for byte."""
import datetime
import json
from decimal import Decimal

import pytest

from pipelines.eventsourcing.outputs import _json

VALUES = [
    {"balance": Decimal("1234.50"), "owner": "Customer 17", "branch": "north"},
    {"b": "naïve ✓ 😀", "a": None, "c": True, "d": 2**63 - 1, "e": -(2**63), "f": 0.1, "g": -0.0, "h": 1e300},
    {"tiny": 1e-05, "nan": float("nan"), "inf": float("inf")},     # floats orjson would write otherwise
    {"big": 2**64}, {"when": datetime.datetime(2026, 1, 1)},       # refused by orjson; its own datetime form
    {"nested": {"z": 1, "a": [1.5, {"y": Decimal("2")}]}, "\U0001d400": "", "\uffff": ""},
    {"lone": "\ud800"},
    {2: "a key that is no text", 1: "b"},
    ["a", "list"], "text", Decimal("3.10"),
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_text_is_json_dumps_s_for_any_value(value):
    assert _json(value) == json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)

