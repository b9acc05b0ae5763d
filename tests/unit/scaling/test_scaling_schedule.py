from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from scaling.decision import UPDATING, AppState, ScalingConfigError
from scaling.policies import ScheduleConfig, SchedulePolicy, ScheduleWindow
from scaling.signals import MetricHistory


def at(text, zone="UTC"):
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


NIGHT = ScheduleWindow(start="0 22 * * *", end="0 6 * * *", min_kpu=8, timezone="Europe/Paris")


@pytest.mark.parametrize(
    "local, open_",
    [
        ("2026-01-10 21:59", False),
        ("2026-01-10 22:00", True),  # opens exactly on the fire time
        ("2026-01-10 23:30", True),
        ("2026-01-11 00:00", True),  # across midnight
        ("2026-01-11 05:59", True),
        ("2026-01-11 06:00", False),  # closes at the end fire time
        ("2026-01-11 12:00", False),
        ("2026-03-29 03:30", True),  # the night Paris skips 02:00-03:00 (DST starts)
        ("2026-10-25 05:30", True),  # the night it repeats 02:00-03:00 (DST ends)
    ],
)
def test_window_across_midnight_in_its_time_zone(local, open_):
    assert NIGHT.is_open(at(local, "Europe/Paris")) is open_


def test_same_instant_differs_by_time_zone():
    instant = at("2026-01-10 22:30")  # 22:30 UTC = 23:30 Paris = 17:30 New York
    paris = ScheduleWindow("0 23 * * *", "0 1 * * *", 4, "Europe/Paris")
    new_york = ScheduleWindow("0 23 * * *", "0 1 * * *", 4, "America/New_York")
    assert paris.is_open(instant) and not new_york.is_open(instant)


def test_weekday_window():
    business = ScheduleWindow("0 8 * * MON-FRI", "0 18 * * MON-FRI", 4, "UTC")
    assert business.is_open(at("2026-01-09 09:00"))  # Friday
    assert not business.is_open(at("2026-01-10 09:00"))  # Saturday


def test_schedule_sets_a_floor_and_returns_to_default_outside():
    policy = SchedulePolicy(ScheduleConfig(windows=(NIGHT,), default_kpu=2))
    night, day = at("2026-01-10 23:00", "Europe/Paris"), at("2026-01-11 12:00", "Europe/Paris")
    h = MetricHistory()
    assert policy.decide(AppState(2), h, night).target == 8
    assert not policy.decide(AppState(12), h, night).changed  # a floor, not a pin: 12 stays
    assert policy.decide(AppState(8), h, day).target == 2  # scales down at the end hour
    assert not policy.decide(AppState(2, status=UPDATING), h, night).changed
    assert SchedulePolicy(ScheduleConfig(windows=(NIGHT,))).decide(AppState(8), h, day).target == 8


def test_highest_open_floor_wins():
    late = ScheduleWindow("0 23 * * *", "0 2 * * *", 20, "Europe/Paris")
    policy = SchedulePolicy(ScheduleConfig(windows=(NIGHT, late)))
    assert policy.floor_at(at("2026-01-11 00:30", "Europe/Paris")) == 20
    assert policy.floor_at(at("2026-01-11 03:00", "Europe/Paris")) == 8
    assert policy.floor_at(at("2026-01-11 12:00", "Europe/Paris")) == 1


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ScheduleWindow("0 25 * * *", "0 6 * * *", 2), "invalid cron expression for window start"),
        (lambda: ScheduleWindow("0 22 * *", "0 6 * * *", 2), "need 5 fields"),
        (lambda: ScheduleWindow("0 22 * * *", "0 6 * * *", 2, "Mars/Olympus"), "unknown time zone"),
        (lambda: ScheduleConfig(windows=(ScheduleWindow("0 22 * * *", "0 6 * * *", 80),)), "above max_kpu"),
        (lambda: ScheduleConfig(min_kpu=5, max_kpu=4), "min_kpu \\(5\\) is above max_kpu \\(4\\)"),
        (lambda: ScheduleConfig(max_kpu=65), "over the KPU quota"),
    ],
)
def test_bad_schedule_is_refused(make, message):
    with pytest.raises(ScalingConfigError, match=message):
        make()
