"""Policy files: defaults flow from the top level into each section, durations parse, mistakes name the key."""
import json

import pytest

from scaling.backends.flink_rest import FlinkRestBackendConfig
from scaling.collectors.cloudwatch import CloudWatchSignalsConfig
from scaling.collectors.flink_rest import FlinkRestSignalsConfig
from scaling.decision import ScalingConfigError
from scaling.policies import ScheduledTargetPolicy, StepPolicy
from scaling.spec import parse_duration, parse_spec


@pytest.mark.parametrize("value, seconds", [(90, 90.0), ("90s", 90.0), ("15m", 900.0), ("1.5h", 5400.0), ("250ms", 0.25)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


def test_limits_flow_into_every_section_and_durations_parse():
    spec = parse_spec({"max_kpu": 16, "parallelism_per_kpu": 2, "target": {"catch_up_s": "15m"},
                       "schedule": {"windows": [{"start": "0 22 * * *", "end": "0 6 * * *", "min_kpu": 4,
                                                 "timezone": "Europe/Paris"}]}})
    policy = spec.build_policy()
    assert isinstance(policy, ScheduledTargetPolicy)
    assert (policy.target.config.max_kpu, policy.target.config.parallelism_per_kpu, policy.target.config.catch_up_s) == (
        16, 2, 900.0)
    assert policy.schedule.config.windows[0].timezone == "Europe/Paris"
    [signals] = spec.signals_configs("orders")
    assert signals == CloudWatchSignalsConfig(application="orders", lag="millis-behind-latest")
    assert parse_spec(json.loads(spec.to_json())) == spec


def test_self_managed_flink_defaults_to_rest_signals_and_the_job_name():
    spec = parse_spec({"policy": "step", "backend": {"type": "flink-rest", "url": "http://jm:8081"},
                       "signals": {"cloudwatch": {"stream": "orders", "period_s": "60s"}}})
    assert isinstance(spec.build_policy(), StepPolicy)
    assert spec.backend_config("enricher") == FlinkRestBackendConfig(url="http://jm:8081", job="enricher")
    cw, rest = spec.signals_configs("enricher")
    assert (cw.application, cw.stream, cw.lag, cw.period_s, type(cw.period_s)) == (None, "orders", "iterator-age", 60, int)
    assert rest == FlinkRestSignalsConfig(url="http://jm:8081", job="enricher")


@pytest.mark.parametrize("document, message", [
    ({"policy": "fastest"}, "policy must be one of ours, target, step, schedule"),
    ({"target": {"catch_up_s": "soon"}}, "target.catch_up_s: 'soon' is not a duration"),
    ({"max_kpu": "16"}, "max_kpu: must be an integer, got '16'"),
    ({"signals": {"prometheus": {}}}, "signals: unknown key(s) prometheus"),
    ({"signals": {"cloudwatch": {"custom": [{"metric": "QueueDepth", "namespace": "N", "name": "Q"}]}}},
     "unknown metric 'QueueDepth'"),
    ({"signals": {"cloudwatch": {"lag": "msk"}}}, "lag 'msk' needs msk_cluster"),
    ({"backend": {"type": "kubernetes"}}, "backend type must be one of managed-flink, flink-rest"),
    ({"backend": {"type": "flink-rest"}}, "missing 1 required positional argument: 'url'"),
    ({"controller": {"lock": {"type": "dynamodb"}}}, "lock type dynamodb needs table"),
    ([1, 2], "expected a mapping"),
])
def test_mistakes_name_the_key(document, message):
    with pytest.raises(ScalingConfigError) as info:
        parse_spec(document)
    assert message in str(info.value)
