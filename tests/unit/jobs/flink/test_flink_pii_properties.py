"""The PII job's runtime properties: policy and key references for the Flink workers, and its Flink metrics.

Managed Flink cannot set environment variables, so ``pii.policy`` and
``pii.keys.<name>[.file|.env|.encoding]`` in group ``shardline`` say where the
policy and keys are; the settings are pickled to the workers with the operator.
"""
import pickle

import pytest

from jobs.flink.pipeline_job import PipelineJobConfig
from jobs.flink.pii_masking import prepare
from jobs.flink.pii_masking import (CODE_ROOT, MaskedCounters, PiiJobSettings, PiiMaskingSetup, PiiPropertyError)
from pipelines.clock import FakeClock
from pipelines.pii import Masker, MissingKeyError, PolicyError, builtin_policy
from pipelines.records import Record

HMAC, FPE = "5a" * 32, "c3" * 16
ENV = {"SHARDLINE_PII_HMAC_KEY": HMAC, "SHARDLINE_PII_FPE_KEY": FPE}
PAYMENT = {"ssn": "536-22-1234", "email": "zeb@example.org", "credit_card_number": "4929123456789015",
           "country": "US"}
JOB = {"input.stream": "in", "output.s3": "s3://b/x"}


def masked(policy) -> dict:
    return Masker(policy).mask(PAYMENT)[0]


def test_keys_given_as_a_value_a_file_or_a_variable_mask_as_the_policys_own_references(tmp_path):
    reference = masked(builtin_policy("payments", environ=ENV))
    (tmp_path / "hmac.hex").write_text(HMAC + "\n")
    for properties, environ in [
        ({"pii.keys.hmac": HMAC, "pii.keys.fpe": FPE}, {}),
        ({"pii.keys.hmac.file": str(tmp_path / "hmac.hex"), "pii.keys.fpe.env": "MY_FPE"}, {"MY_FPE": FPE}),
        ({"pii.policy": "payments", "pii.keys.hmac.env": "MY_HMAC"}, {"MY_HMAC": HMAC, **ENV}),
    ]:
        settings = PiiJobSettings.from_properties({**JOB, **properties})
        assert masked(settings.load_policy(environ)) == reference, properties


def test_base64_and_raw_file_keys(tmp_path):
    raw = bytes.fromhex(HMAC)
    (tmp_path / "hmac.bin").write_bytes(raw)
    reference = masked(builtin_policy("payments", environ=ENV))
    settings = PiiJobSettings.from_properties({
        "pii.keys.hmac.file": str(tmp_path / "hmac.bin"), "pii.keys.hmac.encoding": "raw",
        "pii.keys.fpe": "w8PDw8PDw8PDw8PDw8PDww==", "pii.keys.fpe.encoding": "base64"})
    assert masked(settings.load_policy({})) == reference


def test_key_material_is_in_no_repr_and_travels_pickled_to_the_workers():
    settings = PiiJobSettings.from_properties({"pii.keys.hmac": HMAC, "pii.keys.fpe": FPE})
    for text in (repr(settings), str(settings), repr(settings.keys["hmac"])):
        assert HMAC not in text and FPE not in text
    copy = pickle.loads(pickle.dumps(PiiMaskingSetup(settings)))
    assert copy.settings == settings
    assert masked(copy.settings.load_policy({})) == masked(builtin_policy("payments", environ=ENV))


def test_a_relative_key_file_is_found_under_the_code_folder_on_every_machine():
    settings = PiiJobSettings.from_properties({"pii.keys.hmac.file": "keys/hmac.hex", "pii.keys.fpe": FPE})
    assert settings.keys["hmac"].policy_ref() == {"file": str(CODE_ROOT / "keys/hmac.hex"), "encoding": "hex"}
    with pytest.raises(MissingKeyError, match=f"file {CODE_ROOT / 'keys/hmac.hex'} does not exist"):
        settings.load_policy({})


def test_a_policy_file_is_read_where_the_job_is_submitted_and_travels_as_text(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("name: mine\nkeys: {h: {env: H}}\nfields:\n  ssn: {entity: US_SSN, action: hash, key: h}\n")
    settings = PiiJobSettings.from_properties({"pii.policy": str(policy), "pii.keys.h": HMAC})
    policy.unlink()  # the workers need no copy
    loaded = pickle.loads(pickle.dumps(settings)).load_policy({})
    assert loaded.name == "mine" and masked(loaded)["ssn"] != PAYMENT["ssn"]


@pytest.mark.parametrize("properties, message", [
    ({"pii.polcy": "payments"}, "unknown property pii.polcy"),
    ({"pii.keys.hmac.path": "/x"}, "unknown property pii.keys.hmac.path"),
    ({"pii.keys.": "x"}, "unknown property pii.keys."),
    ({"pii.keys.hmac": HMAC, "pii.keys.hmac.file": "/k"}, "exactly one of pii.keys.hmac .*got pii.keys.hmac, file"),
    ({"pii.keys.hmac.encoding": "base64"}, "exactly one of"),
    ({"pii.keys.hmac.env": "V", "pii.keys.hmac.encoding": "raw"}, "'raw' is not one of hex, base64"),
    ({"pii.keys.hmac": "zz" + HMAC[2:]}, "pii.keys.hmac: not valid hex"),
    ({"pii.policy": "/no/such/policy.yaml"}, "no built-in policy .* and no such file"),
])
def test_property_errors_name_the_property_and_never_the_key(properties, message):
    with pytest.raises(PiiPropertyError, match=message) as error:
        PiiJobSettings.from_properties(properties)
    assert HMAC[2:] not in str(error.value)


def test_keys_the_policy_does_not_have_and_missing_variables_are_refused_at_load():
    with pytest.raises(PolicyError, match="pii.keys.hmca names key 'hmca'.*its keys: fpe, hmac"):
        PiiJobSettings.from_properties({"pii.keys.hmca": HMAC}).load_policy(ENV)
    with pytest.raises(MissingKeyError, match="environment variable NOT_SET is not set"):
        PiiJobSettings.from_properties({"pii.keys.hmac.env": "NOT_SET"}).load_policy({"SHARDLINE_PII_FPE_KEY": FPE})


def test_prepare_takes_the_pii_keys_out_of_the_group_and_stops_on_a_missing_key(monkeypatch):
    for name in (*ENV, "SHARDLINE_PII_POLICY"):
        monkeypatch.delenv(name, raising=False)
    rest, setup = prepare({**JOB, "pii.policy": "payments", "pii.keys.hmac": HMAC, "pii.keys.fpe": FPE})
    assert rest == JOB and PipelineJobConfig.from_properties(rest).output_s3 == "s3://b/x"
    assert setup.settings.policy == "payments"
    with pytest.raises(SystemExit) as stop:
        prepare({**JOB, "pii.keys.hmac": HMAC})
    assert "SHARDLINE_PII_FPE_KEY is not set" in str(stop.value) and HMAC not in str(stop.value)
    with pytest.raises(SystemExit, match="property group 'shardline': unknown property pii.index"):
        prepare({**JOB, "pii.index": "x"})


class FakeCounter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class FakeMetricGroup:
    """PyFlink's MetricGroup surface: counter(name) and add_group(key, value)."""

    def __init__(self, path=()) -> None:
        self.path, self.counters, self.groups = path, {}, {}

    def counter(self, name):
        return self.counters.setdefault(name, FakeCounter())

    def add_group(self, name, extra=None):
        return self.groups.setdefault((name, extra), FakeMetricGroup((*self.path, name, extra)))

    def all(self) -> dict:
        found = {(*self.path, name): c.count for name, c in self.counters.items()}
        for group in self.groups.values():
            found.update(group.all())
        return found


def test_the_worker_pipeline_counts_masked_values_by_entity_type_in_flink_metrics(caplog):
    settings = PiiJobSettings.from_properties({"pii.keys.hmac": HMAC, "pii.keys.fpe": FPE,
                                               "pii.totals.interval-s": "10"})
    clock = FakeClock()
    setup = pickle.loads(pickle.dumps(PiiMaskingSetup(settings)))
    setup.clock = clock
    metrics = FakeMetricGroup()
    pipeline = setup.open(metrics)
    record = Record(id="r1", type="payment.created", source="t", partition_key="acct-1",
                    event_time=1_700_000_000_000, payload=PAYMENT)
    caplog.set_level("INFO", logger="shardline.jobs.flink.pii")
    pipeline(record)
    pipeline(record)  # within the interval: counted, not logged, not yet published
    assert metrics.all()[("shardline_pii_masked_records",)] == 1
    setup.close()
    assert metrics.all() == {
        ("shardline_pii_masked_records",): 2,
        ("entity", "US_SSN", "shardline_pii_masked_values"): 2,
        ("entity", "EMAIL", "shardline_pii_masked_values"): 2,
        ("entity", "CREDIT_CARD", "shardline_pii_masked_values"): 2,
    }
    clock.advance(10)
    pipeline(record)
    lines = [r.getMessage() for r in caplog.records if "event=pii_masked" in r.getMessage()]
    assert lines == ["event=pii_masked engine=flink records=1 values=CREDIT_CARD:1,EMAIL:1,US_SSN:1",
                     "event=pii_masked engine=flink records=3 values=CREDIT_CARD:3,EMAIL:3,US_SSN:3"]
    assert not any(value in caplog.text for value in PAYMENT.values() if value != "US")
    with pytest.raises(PiiPropertyError, match="pii.totals.interval-s: expected seconds >= 0"):
        PiiJobSettings.from_properties({"pii.totals.interval-s": "-1"})


def test_masked_counters_register_one_counter_per_entity():
    metrics = FakeMetricGroup()
    counters = MaskedCounters(metrics)
    assert metrics.all() == {("shardline_pii_masked_records",): 0}  # nothing until published
    counters.publish(3, {"EMAIL": 4, "PHONE_NUMBER": 2})
    assert metrics.all() == {("shardline_pii_masked_records",): 3,
                             ("entity", "EMAIL", "shardline_pii_masked_values"): 4,
                             ("entity", "PHONE_NUMBER", "shardline_pii_masked_values"): 2}
    counters.publish(4, {"EMAIL": 4, "PHONE_NUMBER": 3})
    counters.publish(4, {"EMAIL": 4, "PHONE_NUMBER": 3})  # nothing new: nothing added
    assert metrics.all() == {("shardline_pii_masked_records",): 4,
                             ("entity", "EMAIL", "shardline_pii_masked_values"): 4,
                             ("entity", "PHONE_NUMBER", "shardline_pii_masked_values"): 3}


def test_the_worker_publishes_its_counts_each_second_or_thousand_records():
    setup = PiiMaskingSetup(PiiJobSettings.from_properties({"pii.keys.hmac": HMAC, "pii.keys.fpe": FPE}))
    setup.clock = clock = FakeClock()
    metrics = FakeMetricGroup()
    masking = setup.open(metrics)
    published = lambda: metrics.all()[("shardline_pii_masked_records",)]  # noqa: E731
    masking.mask_payload(PAYMENT)
    assert published() == 1  # the first at once
    assert metrics.all()[("entity", "EMAIL", "shardline_pii_masked_values")] == 1
    for _ in range(998):
        masking.mask_payload({})
    assert published() == 1
    clock.advance(1.0)
    masking.mask_payload({})
    assert published() == 1000
    for _ in range(1000):
        masking.mask_payload({})
    assert published() == 2000  # a thousand records without a second passing
