"""Birthday rules: the celebrated day, the greeting's moment, around year ends, DST, leap years."""

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from saleor_retention_plugin.domain.birthdays import (
    birthday_in_year,
    birthdays_on,
    greeting_changes_after,
    greeting_due_year,
    greeting_moment,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [
    SHANGHAI,
    BERLIN,
    NEW_YORK,
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Pacific/Pago_Pago"),
    UTC,
]


def test_29_february_is_celebrated_on_28_february_in_common_years():
    assert birthday_in_year(2, 29, 2028) == date(2028, 2, 29)
    assert birthday_in_year(2, 29, 2027) == date(2027, 2, 28)
    assert birthday_in_year(2, 29, 2100) == date(2100, 2, 28)  # not a leap year
    assert birthday_in_year(2, 28, 2027) == date(2027, 2, 28)


def test_28_february_of_a_common_year_celebrates_both_days():
    assert birthdays_on(date(2027, 2, 28)) == ((2, 28), (2, 29))
    assert birthdays_on(date(2028, 2, 28)) == ((2, 28),)
    assert birthdays_on(date(2028, 2, 29)) == ((2, 29),)
    assert birthdays_on(date(2027, 3, 1)) == ((3, 1),)


def test_the_greeting_goes_out_at_the_hour_of_the_local_morning():
    moment = greeting_moment(6, 15, 2026, SHANGHAI, 9)
    assert moment.astimezone(UTC) == datetime(2026, 6, 15, 1, 0, tzinfo=UTC)


def test_due_from_the_hour_until_the_local_day_ends_never_before_or_after():
    # 31 December in Shanghai (UTC+8): 09:00 local is 01:00 UTC.
    assert greeting_due_year(12, 31, datetime(2026, 12, 31, 0, 59, tzinfo=UTC), SHANGHAI, 9) is None
    assert greeting_due_year(12, 31, datetime(2026, 12, 31, 1, 0, tzinfo=UTC), SHANGHAI, 9) == 2026
    assert (
        greeting_due_year(12, 31, datetime(2026, 12, 31, 15, 59, tzinfo=UTC), SHANGHAI, 9) == 2026
    )
    # 16:00 UTC is already 1 January 2027 in Shanghai: too late for 2026, not 2027's birthday.
    assert greeting_due_year(12, 31, datetime(2026, 12, 31, 16, 0, tzinfo=UTC), SHANGHAI, 9) is None


def test_a_new_year_birthday_belongs_to_the_local_year():
    # 1 January 2027 09:00 in Shanghai is 01:00 UTC; 07:00 local (23:00 UTC the day before)
    # is too early.
    assert greeting_due_year(1, 1, datetime(2026, 12, 31, 23, 0, tzinfo=UTC), SHANGHAI, 9) is None
    assert greeting_due_year(1, 1, datetime(2027, 1, 1, 1, 0, tzinfo=UTC), SHANGHAI, 9) == 2027
    # New York is still on 31 December then: not yet its customers' 1 January.
    assert greeting_due_year(1, 1, datetime(2027, 1, 1, 1, 0, tzinfo=UTC), NEW_YORK, 9) is None


def test_an_hour_skipped_by_daylight_saving_still_greets_that_day():
    # Berlin skips 02:00-03:00 on 29 March 2026.
    moment = greeting_moment(3, 29, 2026, BERLIN, 2)
    assert moment.astimezone(BERLIN).date() == date(2026, 3, 29)
    assert greeting_due_year(3, 29, moment, BERLIN, 2) == 2026
    assert greeting_due_year(3, 29, moment - timedelta(minutes=61), BERLIN, 2) is None


def test_an_hour_repeated_by_daylight_saving_greets_at_its_first_occurrence():
    # New York repeats 01:00-02:00 on 1 November 2026; EDT is UTC-4.
    moment = greeting_moment(11, 1, 2026, NEW_YORK, 1)
    assert moment.astimezone(UTC) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)


@given(
    birthday=st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 12, 31)),
    year=st.integers(min_value=2001, max_value=2099),
    zone=st.sampled_from(ZONES),
    hour=st.integers(min_value=0, max_value=23),
)
def test_the_greeting_moment_falls_on_the_celebrated_local_day(birthday, year, zone, hour):
    moment = greeting_moment(birthday.month, birthday.day, year, zone, hour)
    assert moment.astimezone(zone).date() == birthday_in_year(birthday.month, birthday.day, year)
    assert greeting_due_year(birthday.month, birthday.day, moment, zone, hour) == year


@given(
    birthday=st.dates(min_value=date(2000, 1, 1), max_value=date(2000, 12, 31)),
    year=st.integers(min_value=2001, max_value=2099),
    zone=st.sampled_from(ZONES),
    hour=st.integers(min_value=0, max_value=23),
)
def test_exactly_one_greeting_per_year_at_hourly_sweeps(birthday, year, zone, hour):
    """Sweeping every hour through a whole year finds each birthday due on one local day."""
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    # Only the days near the birthday can be due: sweep those hour by hour.
    celebrated = birthday_in_year(birthday.month, birthday.day, year)
    moment = max(start, datetime.combine(celebrated, datetime.min.time(), UTC) - timedelta(days=1))
    stop = min(end, moment + timedelta(days=3))
    due_days = set()
    while moment < stop:
        if greeting_due_year(birthday.month, birthday.day, moment, zone, hour) == year:
            due_days.add(moment.astimezone(zone).date())
        moment += timedelta(hours=1)
    assert due_days == {celebrated}


@given(year=st.integers(min_value=1901, max_value=2399))
def test_someone_born_on_29_february_is_celebrated_every_year(year):
    celebrated = birthday_in_year(2, 29, year)
    assert celebrated.month == 2
    assert celebrated.day == (29 if calendar.isleap(year) else 28)
    assert (2, 29) in birthdays_on(celebrated)


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)),
    st.sampled_from([*ZONES, ZoneInfo("Asia/Kathmandu"), ZoneInfo("America/Santiago")]),
    st.integers(min_value=0, max_value=23),
    st.floats(min_value=0, max_value=1),
)
def test_nothing_about_the_greeting_changes_before_the_moment_the_gate_waits_for(
    naive, zone, hour, fraction
):
    now = naive.replace(tzinfo=UTC)
    changes = greeting_changes_after(now, zone, hour)
    assert changes > now
    later = now + (changes - now) * fraction
    if later >= changes:
        return
    day = now.astimezone(zone).date()
    month, day_of_month = day.month, day.day
    assert later.astimezone(zone).date() == day
    assert greeting_due_year(month, day_of_month, later, zone, hour) == greeting_due_year(
        month, day_of_month, now, zone, hour
    )


def test_the_gate_waits_for_the_greeting_hour_then_for_midnight():
    morning = datetime(2026, 3, 10, 0, 30, tzinfo=SHANGHAI)
    assert greeting_changes_after(morning, SHANGHAI, 9) == datetime(2026, 3, 10, 9, tzinfo=SHANGHAI)
    noon = datetime(2026, 3, 10, 12, tzinfo=SHANGHAI)
    assert greeting_changes_after(noon, SHANGHAI, 9) == datetime(2026, 3, 11, tzinfo=SHANGHAI)
