"""The README's example pipeline on the three engines: the same clicks in, the same records out."""
import pytest

from pipelines.examples.clicks import enrich_clicks
from pipelines.records import to_avro, validate
from tests.engine_hosts import ENGINES


def click(n: int, **payload) -> bytes:
    return to_avro(validate({"id": f"c{n}", "type": "click", "source": "web", "event_time": 1767225600000 + n,
                             "partition_key": f"user-{n % 3}", "payload": payload}))


CLICKS = [click(1, page="/pricing?ref=spring", agent="Mozilla/5.0"),
          click(2, page="/", agent="Googlebot/2.1"),                       # a bot: dropped
          click(3, page="/docs/kinesis", agent="curl/8.0"),
          click(4, agent="Mozilla/5.0"),                                    # no page: a dead letter
          click(5, page="/pricing/teams", agent="Mozilla/5.0")]


@pytest.fixture(scope="module")
def results():
    return {engine: run(enrich_clicks, CLICKS) for engine, run in ENGINES.items()}


def test_every_engine_writes_the_same_enriched_clicks(results):
    outputs = {engine: [record.as_dict() for record in out] for engine, (out, _) in results.items()}
    assert outputs["local"] == outputs["kcl"] == outputs["flink"]
    assert [(r["id"], r["payload"]["section"], r["payload"]["campaign"]) for r in outputs["local"]] == [
        ("c1", "pricing", "spring"), ("c3", "docs", None), ("c5", "pricing", None)]


def test_every_engine_dead_letters_the_click_without_a_page_for_the_same_reason(results):
    for engine, (_, letters) in results.items():
        assert [(letter.error_type, letter.reason) for letter in letters] == [
            ("RecordValidationError", "field 'payload.page': is required (a click names its page)")], engine
