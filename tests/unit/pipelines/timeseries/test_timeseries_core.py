"""The time-series pattern's pure core: readings, windows, duplicates, lateness, the detectors."""
import math
import random

import pytest

from pipelines.clock import FakeClock
from pipelines.engine import Rejected
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.detect import EwmaDetector, MadDetector, _median, _median_deviation
from pipelines.timeseries.enrich import Device, DeviceCatalog
from pipelines.timeseries.pattern import Anomaly, EnrichedReading, LateReading, TimeseriesPattern
from pipelines.timeseries.readings import ReadingError, event_time_ms, parse_reading
from pipelines.times import iso_utc
from pipelines.timeseries.synthetic import TelemetryConfig, generate
from pipelines.timeseries.windows import SeriesWindows, WindowAggregate, aggregate, p95_rank

NOW_MS = 1_767_225_600_000
GOOD = {"device_id": "d-1", "metric": "temperature", "value": 20.5, "event_time": NOW_MS}


@pytest.mark.parametrize("change, field, reason", [
    ({"value": None}, "value", "is required (null or missing)"),
    ({"value": "20.5"}, "value", "must be a number"),
    ({"value": True}, "value", "must be a number"),
    ({"value": math.nan}, "value", "must be finite (not NaN or infinite)"),
    ({"value": -math.inf}, "value", "must be finite (not NaN or infinite)"),
    ({"value": 500.0}, "value", "is outside the valid range [-50, 150] of its metric"),
    ({"metric": None}, "metric", "is required"),
    ({"device_id": ""}, "device_id", "must be a non-empty string"),
    ({"device_id": "a/b"}, "device_id", "must not contain '/'"),
    ({"device_id": "d\ud800"}, "device_id", "must be Unicode text (it holds a lone surrogate)"),
    ({"metric": "t\udfff"}, "metric", "must be Unicode text (it holds a lone surrogate)"),
    ({"event_time": "yesterday"}, "event_time", "must be epoch milliseconds or ISO 8601 text"),
    ({"event_time": -1}, "event_time", "must lie between 1970 and the year 9999"),
    ({"event_time": "9999-12-31T00:00:00Z"}, "event_time", "is more than 86400 s ahead of the clock"),
    ({"event_time": 10**20}, "event_time", "must lie between 1970 and the year 9999"),
    ({"attributes": [1, 2]}, "attributes", "must be a map (or its JSON text)"),
])
def test_a_bad_reading_names_its_field_and_never_its_value(change, field, reason):
    with pytest.raises(ReadingError) as caught:
        parse_reading({**GOOD, **change}, NOW_MS, valid_ranges={"temperature": (-50, 150)})
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert "20.5" not in str(caught.value) and "9999-12-31" not in str(caught.value)


def test_a_reading_comes_from_a_map_or_json_bytes_with_iso_or_epoch_times():
    from_bytes = parse_reading(b'{"device_id": "d-1", "metric": "m", "value": 3, "event_time": '
                               b'"2026-01-01T01:00:00+01:00", "attributes": {"fw": "1.2"}}', NOW_MS)
    assert (from_bytes.value, from_bytes.event_time, from_bytes.attributes) == (3.0, NOW_MS, {"fw": "1.2"})
    assert parse_reading({**GOOD, "attributes": '{"fw": "1.2"}'}, NOW_MS).attributes == {"fw": "1.2"}
    with pytest.raises(ReadingError, match="payload"):
        parse_reading(b"{not json", NOW_MS)
    assert event_time_ms("2026-01-01T00:00:00.250") == NOW_MS + 250
    assert iso_utc(NOW_MS) == "2026-01-01T00:00:00Z" and iso_utc(NOW_MS + 250) == "2026-01-01T00:00:00.250Z"


def test_p95_is_the_nearest_rank():
    assert [p95_rank(n) for n in (1, 2, 19, 20, 21, 100, 101)] == [1, 2, 19, 19, 20, 95, 96]
    values = [float(v) for v in range(1, 101)]
    random.Random(1).shuffle(values)
    assert aggregate("s", 0, 1, values) == WindowAggregate("s", 0, 1, 100, 1.0, 100.0, 50.5, 95.0)


def test_the_mean_does_not_depend_on_arrival_order():
    values = [1e16, 1.0, -1e16, 3.0] * 5
    assert aggregate("s", 0, 1, values).mean == aggregate("s", 0, 1, list(reversed(values))).mean == 1.0
    running = 0.0
    for value in values:  # as a JVM's DOUBLE sum adds: the small values are lost
        running += value
    assert running / 20 != 1.0


def test_sliding_windows_hold_each_value_in_every_window_that_covers_it():
    windows = SeriesWindows(window_ms=30_000, slide_ms=10_000, delay_ms=0)
    for t, v in ((5_000, 1.0), (15_000, 2.0), (25_000, 3.0)):
        assert windows.add("s", t, v)
    closed = windows.close_all()
    assert [(a.window_start, a.window_end, a.count, a.max) for a in closed] == [
        (-20_000, 10_000, 1, 1.0), (-10_000, 20_000, 2, 2.0), (0, 30_000, 3, 3.0), (10_000, 40_000, 2, 3.0),
        (20_000, 50_000, 1, 3.0)]


def test_a_window_closes_when_the_watermark_reaches_its_last_millisecond():
    windows = SeriesWindows(window_ms=10_000, slide_ms=10_000, delay_ms=5_000)
    windows.add("s", 1_000, 1.0)
    assert windows.advance(14_998) == [] and windows.add("s", 9_999, 2.0), "watermark 9,998: still open"
    assert [a.count for a in windows.advance(14_999)] == [2], "watermark 9,999 closes [0, 10,000)"
    assert not windows.add("s", 9_999, 3.0) and windows.add("s", 10_000, 3.0)


def test_windows_close_in_order_of_end_then_series():
    windows = SeriesWindows(window_ms=1_000, slide_ms=1_000, delay_ms=0)
    for series, t in (("b", 500), ("a", 1_500), ("a", 700), ("c", 2_500)):
        windows.add(series, t, 1.0)
    assert [(a.series, a.window_start) for a in windows.advance(2_999)] == [("a", 0), ("b", 0), ("a", 1_000),
                                                                           ("c", 2_000)]


def pattern(**settings) -> TimeseriesPattern:
    return TimeseriesPattern(TimeseriesConfig(**settings), clock=FakeClock(NOW_MS / 1000 + 3600))


def reading(value=1.0, at=NOW_MS, device="d-1", metric="m"):
    return {"device_id": device, "metric": metric, "value": value, "event_time": at}


def test_duplicates_are_dropped_and_counted_until_their_window_closes():
    ts = pattern(window_s=10, out_of_orderness_s=5)
    assert [type(o) for o in ts.on_payload(reading(1.0))] == [EnrichedReading]
    assert ts.on_payload(reading(2.0)) == [], "same device, metric and event time: a duplicate"
    assert [type(o) for o in ts.on_payload(reading(1.0, metric="n"))] == [EnrichedReading]
    closing = ts.on_payload(reading(5.0, at=NOW_MS + 20_000))
    assert [(a.series, a.count, a.mean) for a in closing if isinstance(a, WindowAggregate)] == [
        ("d-1/m", 1, 1.0), ("d-1/n", 1, 1.0)]
    late = ts.on_payload(reading(1.0))
    assert [type(o) for o in late] == [LateReading] and late[0].watermark == NOW_MS + 15_000
    assert (ts.stats.duplicates, ts.stats.late, ts.stats.readings) == (1, 1, 3)
    assert not ts._seen.get(NOW_MS), "a closed slice's keys are forgotten"


def test_allowed_lateness_keeps_a_window_open_longer():
    strict, lenient = pattern(window_s=10, out_of_orderness_s=0), pattern(window_s=10, out_of_orderness_s=0,
                                                                           allowed_lateness_s=30)
    for ts in (strict, lenient):
        ts.on_payload(reading(at=NOW_MS + 25_000))
    assert isinstance(strict.on_payload(reading(at=NOW_MS))[0], LateReading)
    assert isinstance(lenient.on_payload(reading(at=NOW_MS))[0], EnrichedReading)


def test_a_rejected_record_is_counted_by_reason_and_stops_nothing():
    ts = pattern()
    outputs = ts.on_payload({**GOOD, "value": "hot"})
    assert outputs == [Rejected("ReadingError", "field 'value': must be a number", "validate")]
    assert ts.stats.rejected_by_reason == {"field 'value': must be a number": 1}
    assert isinstance(ts.on_payload(GOOD)[0], EnrichedReading)


def test_enrichment_marks_unknown_devices_and_keeps_them():
    catalog = DeviceCatalog(lambda: {"d-1": Device("berlin", "tx-1", "ops")}, clock=FakeClock())
    ts = TimeseriesPattern(TimeseriesConfig(), devices=catalog, clock=FakeClock(NOW_MS / 1000))
    known, unknown = ts.on_payload(reading())[0], ts.on_payload(reading(device="d-9"))[0]
    assert (known.device.owner_team, known.known_device) == ("ops", True)
    assert (unknown.device, unknown.known_device) == (Device(), False) and ts.stats.unknown_devices == 1


def test_a_failed_reload_keeps_the_table_it_had():
    clock, loads = FakeClock(), iter([{"d-1": Device("a")}])
    catalog = DeviceCatalog(lambda: next(loads), refresh_s=10, clock=clock)
    clock.advance(11)
    assert catalog.lookup("d-1") == Device("a") and catalog.failed_reloads == 1


def test_the_median_deviation_equals_sorting_the_deviations():
    rng = random.Random(3)
    for n in range(1, 130):
        values = sorted(rng.choice((rng.gauss(0, 1), float(rng.randrange(4)))) for _ in range(n))
        median = _median(values)
        assert _median_deviation(values, median) == _median(sorted(abs(v - median) for v in values))


@pytest.mark.parametrize("kind", [MadDetector, EwmaDetector])
def test_each_detector_flags_a_spike_and_not_the_noise_around_it(kind):
    rng = random.Random(5)
    detector = kind(history=120, min_history=20, threshold=4.5)
    noise = [detector.score(rng.gauss(10, 1)) for _ in range(200)]
    assert all(score is None for score in noise[:20])
    assert sum(abs(score) > 4.5 for score in noise[20:]) <= 1
    assert detector.score(20.0) > 4.5 and detector.score(0.0) < -4.5


def test_a_flat_series_scores_any_change_as_infinite():
    detector = MadDetector(history=10, min_history=3, threshold=4.5)
    for _ in range(5):
        assert detector.score(7.0) in (None, 0.0)
    assert detector.score(7.5) == math.inf


def test_anomalies_carry_score_threshold_and_device_on_the_synthetic_mix():
    ts = pattern(valid_ranges={})
    injected, anomalies = set(), []
    for payload, label in generate(TelemetryConfig(devices=5, anomaly_rate=0.01, seed=3), 20_000, NOW_MS):
        anomalies += [o for o in ts.on_payload(payload) if isinstance(o, Anomaly)]
        if label == "anomaly":
            injected.add((f"{payload['device_id']}/{payload['metric']}", payload["event_time"]))
    anomalies += [o for o in ts.finish() if isinstance(o, Anomaly)]
    assert all(abs(a.score) > a.threshold == 4.5 and a.detector == "mad" for a in anomalies)
    flagged = {(a.series, a.event_time) for a in anomalies}
    assert len(flagged & injected) / len(injected) >= 0.95, "recall on injected spikes"
    assert len(flagged & injected) / len(flagged) >= 0.9, "precision"


def test_the_detector_sees_a_series_in_event_time_order_whatever_the_arrival_order():
    readings = [reading(10.0 + (i % 3) * 0.1, at=NOW_MS + i * 100) for i in range(60)]
    readings[40]["value"] = 30.0
    shuffled = readings[:]
    random.Random(2).shuffle(shuffled[:50])  # within the 5 s out-of-orderness: nothing late
    runs = []
    for order in (readings, shuffled):
        ts = pattern(window_s=60, detector_min_history=10)
        outputs = [o for payload in order for o in ts.on_payload(payload)] + ts.finish()
        runs.append([(a.event_time, a.score) for a in outputs if isinstance(a, Anomaly)])
        assert ts.stats.unscored == 0
    assert runs[0] == runs[1] and [t for t, _ in runs[0]] == [NOW_MS + 4000]


def test_a_reading_older_than_its_series_last_scored_one_is_windowed_but_not_scored():
    ts = pattern(window_s=60, out_of_orderness_s=1)
    ts.on_payload(reading(at=NOW_MS + 10_000))
    ts.on_payload(reading(at=NOW_MS + 20_000))  # watermark 19 s: the reading at 10 s is scored
    ts.on_payload(reading(at=NOW_MS + 5_000))
    assert ts.stats.unscored == 1 and [a.count for a in ts.finish() if isinstance(a, WindowAggregate)] == [3]


def test_the_config_refuses_what_cannot_work():
    for bad in ({"window_s": 0}, {"window_s": 60, "slide_s": 25}, {"detector": "lstm"},
                {"valid_ranges": {"t": (5, 1)}}, {"detector_min_history": 500}):
        with pytest.raises(ValueError):
            TimeseriesConfig(**bad)


@pytest.mark.parametrize("detector", ["mad", "ewma"])
def test_a_pattern_restored_from_a_snapshot_goes_on_exactly_as_one_that_never_stopped(detector):
    import json

    data = list(generate(TelemetryConfig(devices=4, anomaly_rate=0.01, duplicate_rate=0.01, late_rate=0.005,
                                         rate_per_s=40, seed=6), 12_000, NOW_MS))
    config = dict(window_s=60, slide_s=20, detector=detector, detector_min_history=10)

    def run(ts, payloads):
        return [o for p, _ in payloads for o in ts.on_payload(p)]
    whole = pattern(**config)
    expected = run(whole, data) + whole.finish()
    first = pattern(**config)
    outputs = run(first, data[:7_777])
    state = json.loads(json.dumps(first.snapshot()))  # what an engine stores: JSON
    second = pattern(**config)
    second.restore(state)
    outputs += run(second, data[7_777:]) + second.finish()
    assert outputs == expected
    assert sum(isinstance(o, Anomaly) for o in expected) > 20 and sum(isinstance(o, LateReading) for o in expected)
    with pytest.raises(ValueError, match="version"):
        pattern().restore({**state, "version": 0})


def test_produce_s_synthetic_telemetry_is_envelopes_keyed_by_device_with_the_configured_faults():
    import itertools

    from pipelines.records import from_avro, to_avro
    from pipelines.synthetic import synthetic_records

    clock = FakeClock(NOW_MS / 1000)
    config = TelemetryConfig(devices=3, metrics=("pressure",), bad_rate=0.2, seed=4)
    records = list(itertools.islice(synthetic_records("telemetry", clock=clock, telemetry=config), 300))
    assert all(from_avro(to_avro(r)) == r for r in records), "every one a valid envelope"
    readings = [r for r in records if isinstance(r.payload, dict) and r.payload.get("metric") == "pressure"]
    assert {r.partition_key for r in readings} == {"device-0000", "device-0001", "device-0002"}
    assert all(r.partition_key == r.payload["device_id"] for r in readings)
    ts = pattern()
    outcomes = [o for r in records for o in ts.on_record(r)]
    reasons = {o.reason for o in outcomes if isinstance(o, Rejected)}
    assert {"field 'value': must be a number", "field 'metric': is required",
            "field 'payload': is neither a map nor the JSON text of an object"} <= reasons
