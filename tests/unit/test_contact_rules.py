"""Quiet hours in the customer's local time and the frequency cap: defer, never drop."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.contact_rules import (
    DEFAULT_QUIET_HOURS,
    FrequencyCap,
    QuietHours,
    decide_contact,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [
    SHANGHAI,
    NEW_YORK,
    ZoneInfo("Europe/Berlin"),
    ZoneInfo("UTC"),
    ZoneInfo("Pacific/Auckland"),
]


def local(zone, year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=zone)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(
            local(SHANGHAI, 2026, 3, 2, 14, 0),
            local(SHANGHAI, 2026, 3, 2, 14, 0),
            id="afternoon: now",
        ),
        pytest.param(
            local(SHANGHAI, 2026, 3, 2, 21, 0),
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            id="21:00: next morning",
        ),
        pytest.param(
            local(SHANGHAI, 2026, 3, 2, 23, 59),
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            id="before midnight",
        ),
        pytest.param(
            local(SHANGHAI, 2026, 3, 3, 0, 30),
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            id="after midnight",
        ),
        pytest.param(
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            id="08:00 sharp: now",
        ),
        pytest.param(
            local(SHANGHAI, 2026, 3, 3, 7, 59),
            local(SHANGHAI, 2026, 3, 3, 8, 0),
            id="07:59: a minute",
        ),
    ],
)
def test_quiet_hours_across_midnight(moment, expected):
    assert DEFAULT_QUIET_HOURS.earliest_send_at(moment.astimezone(UTC), SHANGHAI) == expected


def test_the_same_utc_moment_is_quiet_in_one_zone_and_not_in_another():
    moment = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai, 09:00 in New York
    assert DEFAULT_QUIET_HOURS.earliest_send_at(moment, SHANGHAI) == local(
        SHANGHAI, 2026, 3, 3, 8, 0
    )
    assert DEFAULT_QUIET_HOURS.earliest_send_at(moment, NEW_YORK) == moment


def test_quiet_hours_end_at_local_eight_across_a_dst_change():
    # New York springs forward on 2026-03-08 at 02:00.
    moment = local(NEW_YORK, 2026, 3, 7, 22, 0)
    assert DEFAULT_QUIET_HOURS.earliest_send_at(moment, NEW_YORK) == local(
        NEW_YORK, 2026, 3, 8, 8, 0
    )


def test_daytime_quiet_hours_and_disabled_quiet_hours():
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert lunch.earliest_send_at(local(SHANGHAI, 2026, 3, 2, 13, 0), SHANGHAI) == local(
        SHANGHAI, 2026, 3, 2, 14, 0
    )
    never = QuietHours(time(0, 0), time(0, 0))
    moment = local(SHANGHAI, 2026, 3, 2, 3, 0)
    assert never.earliest_send_at(moment, SHANGHAI) == moment


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
clock_times = st.times().map(lambda t: t.replace(microsecond=0, second=0))


@given(moment=moments, zone=st.sampled_from(ZONES), start=clock_times, end=clock_times)
def test_quiet_hours_defer_to_the_first_allowed_moment_within_a_day(moment, zone, start, end):
    quiet = QuietHours(start, end)
    send_at = quiet.earliest_send_at(moment, zone)
    assert moment <= send_at <= moment + timedelta(hours=25)
    assert (
        not quiet.contains(send_at.astimezone(zone).time())
        or send_at.astimezone(zone).time() == end
    )
    assert quiet.earliest_send_at(send_at, zone) == send_at


def test_the_cap_waits_for_the_window_after_the_last_message():
    cap = FrequencyCap(timedelta(hours=16))
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert cap.earliest_send_at(now, None) == now
    assert cap.earliest_send_at(now, now - timedelta(hours=2)) == now + timedelta(hours=14)
    assert cap.earliest_send_at(now, now - timedelta(hours=20)) == now
    assert FrequencyCap(timedelta(0)).earliest_send_at(now, now) == now


@given(
    now=moments,
    zone=st.sampled_from(ZONES),
    since_last=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2)),
    cap_hours=st.integers(min_value=0, max_value=48),
    bypass=st.booleans(),
)
def test_a_decision_satisfies_both_rules_and_never_drops(now, zone, since_last, cap_hours, bypass):
    last = None if since_last is None else now - since_last
    cap = FrequencyCap(timedelta(hours=cap_hours))
    decision = decide_contact(
        now=now,
        zone=zone,
        quiet_hours=DEFAULT_QUIET_HOURS,
        cap=cap,
        last_contacted_at=last,
        bypass_cap=bypass,
    )
    assert decision.send_at >= now
    assert DEFAULT_QUIET_HOURS.earliest_send_at(decision.send_at, zone) == decision.send_at
    if not bypass:
        assert cap.earliest_send_at(decision.send_at, last) == decision.send_at
    assert decision.is_now(now) == (decision.reason == "")


def test_a_capped_message_that_lands_in_quiet_hours_waits_for_the_morning():
    now = local(SHANGHAI, 2026, 3, 2, 10, 0)
    decision = decide_contact(
        now=now,
        zone=SHANGHAI,
        quiet_hours=DEFAULT_QUIET_HOURS,
        cap=FrequencyCap(timedelta(hours=16)),
        last_contacted_at=local(SHANGHAI, 2026, 3, 2, 6, 0),
    )
    # The cap allows 22:00, which is quiet: 08:00 the next day.
    assert decision.send_at == local(SHANGHAI, 2026, 3, 3, 8, 0)
    assert decision.reason == "frequency_cap"
