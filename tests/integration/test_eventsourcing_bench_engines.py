"""The event-sourcing engine benchmarks over a small stream: both engines run with their real outputs."""
import pytest

from benchmarks.eventsourcing_engines import kcl_processor_cost, stream_runner_cost
from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_each_engine_reports_its_cost_per_event(local_stack, tmp_path):
    stream = generate_bank_stream(BankStreamConfig(accounts=40, transactions=20, seed=3))
    records = [bank_envelope(payload, number, 3) for number, (payload, _) in enumerate(stream.records)]
    kcl = kcl_processor_cost(records, 1)
    assert kcl["events"] == len(records) and kcl["cpu_us_per_event"] > 0
    runner = stream_runner_cost(records, 1, tmp_path)
    assert runner["events"] == len(records) and "us_per_event" in runner
