"""Schedules and round windows, especially across Europe/London's clock changes.

In 2026 the clocks go forward on Sunday 29 March and back on Sunday 25 October.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surveys.schedule import (
    DEFAULT_TIMEZONE,
    ScheduleError,
    load_zone,
    parse_schedule,
    round_window,
)

LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


# --- friendly schedules --------------------------------------------------------------


def test_weekly_follows_the_local_clock_through_both_changes():
    schedule = parse_schedule("weekly, Monday 09:00", "Europe/London")
    spring = schedule.occurrences(utc(2026, 3, 16), utc(2026, 4, 7))
    assert spring == [
        utc(2026, 3, 16, 9),
        utc(2026, 3, 23, 9),
        utc(2026, 3, 30, 8),
        utc(2026, 4, 6, 8),
    ]
    autumn = schedule.occurrences(utc(2026, 10, 12), utc(2026, 11, 3))
    assert autumn == [
        utc(2026, 10, 12, 8),
        utc(2026, 10, 19, 8),
        utc(2026, 10, 26, 9),
        utc(2026, 11, 2, 9),
    ]


def test_weekly_is_always_monday_nine_local_for_a_whole_year():
    schedule = parse_schedule("weekly, Monday 09:00", "Europe/London")
    year = schedule.occurrences(utc(2025, 12, 31), utc(2026, 12, 31))
    assert len(year) == 52
    for moment in year:
        assert moment.tzinfo is UTC
        wall = moment.astimezone(LONDON)
        assert (wall.weekday(), wall.hour, wall.minute) == (0, 9, 0)
    assert all(
        later - earlier
        in (timedelta(days=7), timedelta(days=7, hours=-1), timedelta(days=7, hours=1))
        for earlier, later in zip(year, year[1:], strict=False)
    )


def test_monthly_ordinal_weekdays():
    after, until = utc(2026, 1, 1), utc(2026, 12, 31)
    first = parse_schedule("monthly, first Monday 09:00").occurrences(after, until)
    assert [m.astimezone(LONDON).day for m in first] == [5, 2, 2, 6, 4, 1, 6, 3, 7, 5, 2, 7]
    last_friday = parse_schedule("Monthly, last Friday 14:30").occurrences(after, utc(2026, 4, 1))
    assert last_friday == [
        utc(2026, 1, 30, 14, 30),
        utc(2026, 2, 27, 14, 30),
        utc(2026, 3, 27, 14, 30),
    ]
    for phrase, day in [("second Tuesday", 13), ("third Wednesday", 21), ("4th thu", 22)]:
        october = parse_schedule(f"monthly, {phrase} 10:15").next_after(utc(2026, 10, 1))
        assert october == local(2026, 10, day, 10, 15).astimezone(UTC)


def test_quarterly_first_monday_in_january_april_july_october():
    schedule = parse_schedule("quarterly, first Monday 09:00")
    assert schedule.occurrences(utc(2026, 1, 1), utc(2027, 1, 31)) == [
        utc(2026, 1, 5, 9),
        utc(2026, 4, 6, 8),
        utc(2026, 7, 6, 8),
        utc(2026, 10, 5, 8),
        utc(2027, 1, 4, 9),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "weekly, Monday 09:00",
        "Weekly,   monday   9:00",
        "weekly on Mondays at 09:00",
        "WEEKLY, MON 09.00",
        "weekly Monday 09:00",
    ],
)
def test_friendly_spelling_is_forgiving(text):
    schedule = parse_schedule(text)
    assert schedule.next_after(utc(2026, 6, 2)) == utc(2026, 6, 8, 8)
    assert schedule.describe() == "Every Monday at 09:00, Europe/London time."


def test_descriptions():
    assert parse_schedule("monthly, last Friday 14:30").describe() == (
        "The last Friday of every month at 14:30, Europe/London time."
    )
    assert parse_schedule("quarterly, first Monday 09:00", "UTC").describe() == (
        "The first Monday of January, April, July and October at 09:00, UTC time."
    )
    assert parse_schedule("0 9 1-7 * mon").describe() == (
        "At 09:00 on days 1 to 7 of the month that fall on a Monday, "
        "Europe/London time (cron: 0 9 1-7 * mon)."
    )
    assert parse_schedule("30 8 1,15 */3 *").describe() == (
        "At 08:30 on days 1 and 15 of the month, in January, April, July and October, "
        "Europe/London time (cron: 30 8 1,15 */3 *)."
    )
    assert (
        parse_schedule("0 9 * * 1-5")
        .describe()
        .startswith("At 09:00 every Monday, Tuesday, Wednesday, Thursday and Friday,")
    )
    assert parse_schedule("0 7 * * *").describe().startswith("At 07:00 every day,")


# --- cron ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "friendly"),
    [
        ("0 9 1-7 * mon", "monthly, first Monday 09:00"),
        ("0 9 * * mon", "weekly, Monday 09:00"),
        ("0 9 * * 1", "weekly, Monday 09:00"),  # crontab numbering: 1 is Monday
        ("0 9 * * 0", "weekly, Sunday 09:00"),
        ("0 9 * * 7", "weekly, Sunday 09:00"),
        ("0 9 8-14 * TUE", "monthly, second Tuesday 09:00"),
        ("0 9 1-7 jan,apr,jul,oct mon", "quarterly, first Monday 09:00"),
        ("0 9 1-7 */3 1", "quarterly, first Monday 09:00"),
    ],
)
def test_cron_and_friendly_forms_agree(cron, friendly):
    after, until = utc(2025, 12, 1), utc(2028, 1, 1)
    expected = parse_schedule(friendly).occurrences(after, until)
    assert parse_schedule(cron).occurrences(after, until) == expected
    assert len(expected) >= 8  # two years of the sparsest (quarterly) schedule


def test_next_after_is_strictly_after_and_returns_utc():
    schedule = parse_schedule("weekly, Monday 09:00")
    assert schedule.next_after(utc(2026, 6, 8, 8)) == utc(2026, 6, 15, 8)
    assert schedule.next_after(utc(2026, 6, 8, 7, 59, 59, 999999)) == utc(2026, 6, 8, 8)
    in_new_york = datetime(2026, 6, 8, 3, 0, tzinfo=ZoneInfo("America/New_York"))  # 07:00 UTC
    assert schedule.next_after(in_new_york) == utc(2026, 6, 8, 8)
    assert schedule.next_after(in_new_york).tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_after(datetime(2026, 6, 8))


def test_occurrences_are_after_exclusive_until_inclusive():
    schedule = parse_schedule("weekly, Monday 09:00", "UTC")
    assert schedule.occurrences(utc(2026, 6, 1, 9), utc(2026, 6, 15, 9)) == [
        utc(2026, 6, 8, 9),
        utc(2026, 6, 15, 9),
    ]
    assert schedule.occurrences(utc(2026, 6, 2), utc(2026, 6, 3)) == []


def test_other_time_zones_change_clocks_on_their_own_dates():
    schedule = parse_schedule("weekly, Monday 09:00", "America/New_York")
    # The US moves its clocks on 8 March and 1 November 2026.
    assert schedule.occurrences(utc(2026, 3, 1), utc(2026, 3, 10)) == [
        utc(2026, 3, 2, 14),
        utc(2026, 3, 9, 13),
    ]
    assert schedule.timezone == "America/New_York"


def test_skipped_and_repeated_wall_times():
    schedule = parse_schedule("30 1 * * *")
    # 01:30 does not exist on 29 March: it happens an hour later on the wall clock.
    spring = schedule.occurrences(utc(2026, 3, 28), utc(2026, 3, 30, 12))
    assert spring == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert spring[1].astimezone(LONDON).hour == 2
    # 01:30 happens twice on 25 October: the round opens once, at the first.
    autumn = schedule.occurrences(utc(2026, 10, 24), utc(2026, 10, 26, 12))
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    assert schedule.next_after(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 26, 1, 30)


def test_schedule_keeps_what_was_entered():
    schedule = parse_schedule("  weekly,  Monday 09:00 ")
    assert (schedule.text, schedule.timezone, schedule.kind) == (
        "weekly, Monday 09:00",
        DEFAULT_TIMEZONE,
        "weekly",
    )
    assert parse_schedule("0 9 * * mon").kind == "cron"
    assert parse_schedule(schedule.text) == schedule


@pytest.mark.parametrize(
    ("text", "tz", "message"),
    [
        ("fortnightly-ish", "Europe/London", "is not a schedule this service can read"),
        ("every 2 weeks, Monday 09:00", "Europe/London", "is not a schedule this service can read"),
        ("monthly, fifth Funday", "Europe/London", "24-hour time"),
        ("monthly, fifth Monday 09:00", "Europe/London", "'fifth' is not one of first"),
        ("monthly, first Funday 09:00", "Europe/London", "'funday' is not a day of the week"),
        ("monthly, Monday 09:00", "Europe/London", "which weekday of the month"),
        ("weekly, first Monday 09:00", "Europe/London", "names one day and a time"),
        ("weekly, Monday", "Europe/London", "24-hour time"),
        ("weekly, Monday 24:00", "Europe/London", "is not a time of day"),
        ("weekly", "Europe/London", "Say which day and time"),
        ("", "Europe/London", "Enter a schedule"),
        ("   ", "Europe/London", "Enter a schedule"),
        (
            "61 * * * *",
            "Europe/London",
            "minute of a cron expression must be a single number from 0 to 59",
        ),
        ("0 * * * *", "Europe/London", "hour of a cron expression must be a single number"),
        ("0,30 9 * * *", "Europe/London", "at most once a day"),
        ("0 9 * *", "Europe/London", "has 4"),
        ("0 9 * * * *", "Europe/London", "has 6"),
        ("0 9 32 * *", "Europe/London", "day-of-month must be from 1 to 31"),
        ("0 9 * 13 *", "Europe/London", "month must be from 1 to 12"),
        ("0 9 * * 8", "Europe/London", "day-of-week must be from 0 to 7"),
        ("0 9 * * funday", "Europe/London", "'funday' is not a valid day-of-week"),
        ("0 9 7-1 * *", "Europe/London", "runs backwards"),
        ("0 9 1-7/0 * *", "Europe/London", "step"),
        ("0 9 L * *", "Europe/London", "'l' is not a valid day-of-month"),
        ("0 9 30 2 *", "Europe/London", "never happens"),
        ("weekly, Monday 09:00", "Mars/Olympus", "'Mars/Olympus' is not a time zone name"),
        ("weekly, Monday 09:00", "", "is not a time zone name"),
        ("weekly, Monday 09:00", "../../etc/passwd", "is not a time zone name"),
        ("weekly, Monday 09:00", "localtime", "is not a time zone name"),
    ],
)
def test_bad_schedules_are_refused_in_plain_words(text, tz, message):
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(")):
        parse_schedule(text, tz)


def test_load_zone():
    assert load_zone("Europe/London") == LONDON
    with pytest.raises(ScheduleError):
        load_zone("Europe")


# --- round windows -------------------------------------------------------------------


def test_window_across_the_end_of_summer_time_closes_at_local_nine():
    # Opens Monday 19 October 09:00 BST; the clocks go back on Sunday 25 October.
    times = round_window(utc(2026, 10, 19, 8), 14, [7, 3], "Europe/London")
    assert times.opens_at == utc(2026, 10, 19, 8)
    assert times.closes_at == utc(2026, 11, 2, 9)  # 09:00 GMT
    assert times.closes_at.astimezone(LONDON).hour == 9
    assert times.reminders == [utc(2026, 10, 22, 8), utc(2026, 10, 26, 9)]  # sorted


def test_window_across_the_start_of_summer_time_closes_at_local_nine():
    times = round_window(local(2026, 3, 23, 9), 7, [1], LONDON)
    assert times.opens_at == utc(2026, 3, 23, 9)
    assert times.closes_at == utc(2026, 3, 30, 8)  # 09:00 BST
    assert times.reminders == [utc(2026, 3, 24, 9)]
    assert times.closes_at - times.opens_at == timedelta(days=7, hours=-1)


def test_window_from_a_schedule_occurrence():
    schedule = parse_schedule("monthly, fourth Monday 09:00")
    opens = schedule.next_after(utc(2026, 10, 1))
    times = round_window(opens, 10, [5, 9])
    assert opens == utc(2026, 10, 26, 9)
    assert [t.astimezone(LONDON).hour for t in (times.closes_at, *times.reminders)] == [9, 9, 9]


@pytest.mark.parametrize(
    ("open_days", "offsets", "message"),
    [
        (7, [0], "from 1 to 6"),
        (7, [7], "from 1 to 6"),
        (7, [-1], "from 1 to 6"),
        (7, [3, 3], "different day"),
        (7, [1.5], "from 1 to 6"),
        (1, [1], "no room for reminders"),
        (0, [], "at least 1 day"),
        (True, [], "at least 1 day"),
    ],
)
def test_window_refuses_reminders_outside_it(open_days, offsets, message):
    with pytest.raises(ScheduleError, match=message):
        round_window(utc(2026, 6, 1, 8), open_days, offsets)


def test_window_refuses_bad_zone_and_naive_time():
    with pytest.raises(ScheduleError, match="time zone"):
        round_window(utc(2026, 6, 1, 8), 7, [], "Mars/Olympus")
    with pytest.raises(ValueError, match="timezone-aware"):
        round_window(datetime(2026, 6, 1, 8), 7, [])


# --- properties ----------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
# Hours outside 01:00-01:59, the hour London's clocks skip or repeat.
day_times = st.tuples(st.integers(0, 6), st.sampled_from([0, *range(2, 24)]), st.integers(0, 59))
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


@settings(database=None, max_examples=60)
@given(moment=moments, when=day_times)
def test_weekly_next_is_the_next_matching_local_wall_time(moment, when):
    weekday, hour, minute = when
    schedule = parse_schedule(f"weekly, {DAYS[weekday]} {hour:02d}:{minute:02d}")
    following = schedule.next_after(moment)
    assert moment < following <= moment + timedelta(days=7, hours=1)
    wall = following.astimezone(LONDON)
    assert (wall.weekday(), wall.hour, wall.minute) == (weekday, hour, minute)
    # The crontab spelling (Sunday = 0) gives the same time.
    cron = parse_schedule(f"{minute} {hour} * * {(weekday + 1) % 7}")
    assert cron.next_after(moment) == following


@settings(database=None, max_examples=60)
@given(moment=moments, when=day_times, open_days=st.integers(1, 60))
def test_window_closes_at_the_opening_wall_time(moment, when, open_days):
    _, hour, minute = when
    opens = moment.astimezone(LONDON).replace(hour=hour, minute=minute, second=0, microsecond=0)
    times = round_window(opens, open_days, list(range(1, open_days)))
    for later in (times.closes_at, *times.reminders):
        wall = later.astimezone(LONDON)
        assert (wall.hour, wall.minute) == (hour, minute)
    assert times.closes_at.astimezone(LONDON).date() == opens.date() + timedelta(days=open_days)
    assert times.reminders == sorted(times.reminders)
    assert all(times.opens_at < r < times.closes_at for r in times.reminders)
