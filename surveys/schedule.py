"""When survey rounds open: schedules, and each round's window and reminders.

A schedule is a friendly phrase or a five-field cron expression, read in an IANA
time zone (default Europe/London), so "09:00" means 09:00 on the office clock in
summer and in winter alike. Friendly phrases:

    weekly, Monday 09:00
    monthly, first Monday 09:00      (first, second, third, fourth or last; any day)
    quarterly, first Monday 09:00    (January, April, July and October)

Cron expressions (``minute hour day-of-month month day-of-week``) follow crontab
numbering (0 or 7 = Sunday; names allowed), with two deliberate differences:

* when both day of month and day of week are restricted, *both* must match (so
  ``0 9 1-7 * mon`` is the first Monday of the month, as an admin would read it;
  classic cron fires when *either* matches);
* minute and hour must each be a single number: a survey opens at most once a day.

APScheduler's ``CronTrigger`` does the calendar arithmetic. Two clock-change rules
apply when a schedule's wall-clock time is in the hour the clocks skip or repeat:
a time that does not exist that day (clocks go forward) happens one hour later on
the wall clock; a time that happens twice (clocks go back) counts once, at its
first occurrence. Working-hours schedules in Europe/London never meet either.

All datetimes in and out are timezone-aware; results are in UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from speakup.translatable import N_, TranslatableError

__all__ = [
    "DEFAULT_TIMEZONE",
    "RoundTimes",
    "Schedule",
    "ScheduleError",
    "load_zone",
    "parse_schedule",
    "round_window",
]

DEFAULT_TIMEZONE = "Europe/London"

Kind = Literal["weekly", "monthly", "quarterly", "cron"]

_EXAMPLES = (
    "'weekly, Monday 09:00', 'monthly, first Monday 09:00', "
    "'quarterly, first Monday 09:00', or a cron expression such as '0 9 1-7 * mon'"
)

# Monday first, as APScheduler counts; index into this for its day names.
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_APS_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_QUARTER_MONTHS = (1, 4, 7, 10)

_DAY_WORDS: dict[str, int] = {}
for _index, _name in enumerate(_DAY_NAMES):
    _full = _name.lower()
    for _word in (_full, _full + "s", _full[:3], _full[:3] + "s"):
        _DAY_WORDS[_word] = _index
_DAY_WORDS.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})

_ORDINALS = {
    "first": ("1st", "first"),
    "1st": ("1st", "first"),
    "second": ("2nd", "second"),
    "2nd": ("2nd", "second"),
    "third": ("3rd", "third"),
    "3rd": ("3rd", "third"),
    "fourth": ("4th", "fourth"),
    "4th": ("4th", "fourth"),
    "last": ("last", "last"),
}

_FRIENDLY_RE = re.compile(r"(weekly|monthly|quarterly)\b\s*,?\s*(.*)")
_TIME_RE = re.compile(r"([0-9]{1,2})[:.]([0-9]{2})")
_CRON_PART_RE = re.compile(r"(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/([0-9]+))?")

# ZoneInfo loads these, but they mean "whatever this server is set to", not a place.
_NOT_PLACES = {"localtime", "Factory", "posixrules"}

# How far ahead parse_schedule looks for a first date before calling a cron
# expression impossible (e.g. 30 February). 29 February on a given weekday
# recurs within 40 years.
_PROBE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
_PROBE_YEARS = 40


class ScheduleError(TranslatableError, ValueError):
    """A schedule, time zone or round window an admin entered cannot be used.

    The message is written for the admin who typed it.
    """


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule. ``text`` is what was entered; store it and re-parse."""

    text: str
    timezone: str
    kind: Kind
    _trigger: CronTrigger = field(repr=False, compare=False)
    _description: str = field(repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """Return the first occurrence strictly after ``moment``, in UTC."""
        _require_aware(moment, "moment")
        current = moment
        while True:
            # APScheduler returns times at or after "now"; nudge to get strictly after.
            fire = self._trigger.get_next_fire_time(None, current + timedelta(microseconds=1))
            if fire is None:
                raise ScheduleError(N_("The schedule '%(schedule)s' has no further dates."),
                                    schedule=self.text)
            fire = fire.astimezone(UTC)
            if not _is_repeated_wall_time(fire.astimezone(self.zone)):
                return fire
            current = fire

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Return every occurrence in (after, until], in UTC, earliest first."""
        _require_aware(until, "until")
        found: list[datetime] = []
        current = after
        while True:
            current = self.next_after(current)
            if current > until:
                return found
            found.append(current)

    def describe(self) -> str:
        """Return the schedule in plain English, for admins."""
        return self._description


@dataclass(frozen=True)
class RoundTimes:
    """When one round opens, closes and sends reminders (all UTC)."""

    opens_at: datetime
    closes_at: datetime
    reminders: list[datetime]


def load_zone(name: str) -> ZoneInfo:
    """Return the IANA time zone called ``name`` or raise ScheduleError."""
    problem = N_("'%(name)s' is not a time zone name; use an IANA name such as '%(example)s'.")
    if not isinstance(name, str) or name in _NOT_PLACES:
        raise ScheduleError(problem, name=name, example=DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError(problem, name=name, example=DEFAULT_TIMEZONE) from exc


def parse_schedule(text: str, tz: str = DEFAULT_TIMEZONE) -> Schedule:
    """Parse a friendly phrase or a cron expression, read in time zone ``tz``."""
    zone = load_zone(tz)
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError(N_("Enter a schedule, such as %(examples)s."), examples=_EXAMPLES)
    cleaned = " ".join(text.split())
    lowered = cleaned.lower()
    if lowered[0] in "0123456789*":
        return _parse_cron(cleaned, lowered, zone)
    return _parse_friendly(cleaned, lowered, zone)


def round_window(
    opens_at: datetime,
    open_days: int,
    reminder_offsets_days: list[int],
    tz: str | ZoneInfo = DEFAULT_TIMEZONE,
) -> RoundTimes:
    """Return a round's closing time and reminder times, in UTC.

    The round closes ``open_days`` days after it opens and each reminder comes its
    offset in days after opening, all at the same wall-clock time in ``tz`` as the
    opening: a round opening Monday 09:00 closes at 09:00 local time even if the
    clocks change in between. Reminders must fall strictly inside the window.
    """
    _require_aware(opens_at, "opens_at")
    zone = tz if isinstance(tz, ZoneInfo) else load_zone(tz)
    if type(open_days) is not int or open_days < 1:
        raise ScheduleError(N_("A round must stay open for at least 1 day, not %(days)s."),
                            days=repr(open_days))
    offsets = list(reminder_offsets_days)
    if offsets and open_days == 1:
        raise ScheduleError(N_("A round open for 1 day has no room for reminders."))
    for offset in offsets:
        if type(offset) is not int or not 1 <= offset < open_days:
            raise ScheduleError(N_(
                "A reminder %(offset)s days after opening does not fall inside a round "
                "open for %(days)s days: use whole days from 1 to %(last)s."),
                offset=repr(offset), days=open_days, last=open_days - 1)
    if len(set(offsets)) != len(offsets):
        raise ScheduleError(N_("Each reminder must be on a different day."))

    wall_clock = opens_at.astimezone(zone).replace(tzinfo=None)

    def days_later(days: int) -> datetime:
        # fold=0: a repeated wall time means its first occurrence, and a skipped one
        # lands an hour later on the wall clock — the same rules as Schedule.
        local = (wall_clock + timedelta(days=days)).replace(tzinfo=zone, fold=0)
        return local.astimezone(UTC)

    return RoundTimes(
        opens_at=opens_at.astimezone(UTC),
        closes_at=days_later(open_days),
        reminders=[days_later(offset) for offset in sorted(offsets)],
    )


# --- parsing -----------------------------------------------------------------------


def _parse_friendly(cleaned: str, lowered: str, zone: ZoneInfo) -> Schedule:
    match = _FRIENDLY_RE.fullmatch(lowered)
    if match is None:
        raise ScheduleError(N_("'%(schedule)s' is not a schedule this service can read. Use "
                               "%(examples)s."), schedule=cleaned, examples=_EXAMPLES)
    kind: Kind = match.group(1)
    words = match.group(2).split()
    while words and words[0] in ("on", "every", "the"):
        words = words[1:]
    if not words:
        raise ScheduleError(N_("Say which day and time, e.g. '%(kind)s, %(rest)s'."),
                            kind=kind, rest=_example_rest(kind))
    hour, minute = _parse_time(words[-1], cleaned, kind)
    words = words[:-1]
    if words and words[-1] == "at":
        words = words[:-1]

    if kind == "weekly":
        if len(words) != 1:
            raise ScheduleError(N_(
                "A weekly schedule names one day and a time, e.g. 'weekly, Monday 09:00'; "
                "got '%(schedule)s'."), schedule=cleaned)
        day = _parse_day(words[0])
        trigger = CronTrigger(day_of_week=_APS_DAYS[day], hour=hour, minute=minute, timezone=zone)
        description = f"Every {_DAY_NAMES[day]} at {hour:02d}:{minute:02d}"
    else:
        if len(words) != 2:
            raise ScheduleError(N_(
                "A %(kind)s schedule says which weekday of the month and a time, "
                "e.g. '%(kind)s, first Monday 09:00'; got '%(schedule)s'."),
                kind=kind, schedule=cleaned)
        ordinal_word, day_word = words
        if ordinal_word not in _ORDINALS:
            raise ScheduleError(N_(
                "'%(word)s' is not one of first, second, third, fourth or last "
                "(not every month has a fifth of each weekday)."), word=ordinal_word)
        aps_ordinal, ordinal = _ORDINALS[ordinal_word]
        day = _parse_day(day_word)
        months = ",".join(str(month) for month in _QUARTER_MONTHS) if kind == "quarterly" else "*"
        trigger = CronTrigger(
            month=months,
            day=f"{aps_ordinal} {_APS_DAYS[day]}",
            hour=hour,
            minute=minute,
            timezone=zone,
        )
        where = (
            "every month"
            if kind == "monthly"
            else _join([_MONTH_NAMES[month - 1] for month in _QUARTER_MONTHS])
        )
        description = f"The {ordinal} {_DAY_NAMES[day]} of {where} at {hour:02d}:{minute:02d}"
    return Schedule(
        text=cleaned,
        timezone=zone.key,
        kind=kind,
        _trigger=trigger,
        _description=f"{description}, {zone.key} time.",
    )


def _example_rest(kind: str) -> str:
    return "Monday 09:00" if kind == "weekly" else "first Monday 09:00"


def _parse_day(word: str) -> int:
    if word not in _DAY_WORDS:
        raise ScheduleError(N_("'%(word)s' is not a day of the week."), word=word)
    return _DAY_WORDS[word]


def _parse_time(word: str, cleaned: str, kind: str) -> tuple[int, int]:
    match = _TIME_RE.fullmatch(word)
    if match is None:
        raise ScheduleError(N_(
            "End the schedule with a 24-hour time such as 09:00, "
            "e.g. '%(kind)s, %(rest)s'; got '%(schedule)s'."),
            kind=kind, rest=_example_rest(kind), schedule=cleaned)
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ScheduleError(N_("'%(word)s' is not a time of day (00:00 to 23:59)."), word=word)
    return hour, minute


def _parse_cron(cleaned: str, lowered: str, zone: ZoneInfo) -> Schedule:
    fields = lowered.split()
    if len(fields) != 5:
        raise ScheduleError(N_(
            "A cron expression has five fields (minute, hour, day of month, month, "
            "day of week); '%(schedule)s' has %(count)s."), schedule=cleaned, count=len(fields))
    minute_text, hour_text, day_text, month_text, weekday_text = fields
    minute = _single_number(minute_text, "minute", 59)
    hour = _single_number(hour_text, "hour", 23)
    days = _expand(day_text, "day-of-month", 1, 31, {})
    months = _expand(month_text, "month", 1, 12, _MONTH_WORDS)
    # Crontab counts Sunday as 0 (and 7); APScheduler 3 counts Monday as 0, so pass
    # it day names rather than numbers.
    cron_weekdays = _expand(weekday_text, "day-of-week", 0, 7, _CRON_DAY_WORDS)
    weekdays = None if cron_weekdays is None else sorted({(d + 6) % 7 for d in cron_weekdays})

    def joined(values: list[int] | None, render=str) -> str:
        return "*" if values is None else ",".join(render(value) for value in values)

    kwargs = {
        "minute": minute,
        "hour": hour,
        "day": joined(days),
        "month": joined(months),
        "day_of_week": joined(weekdays, lambda day: _APS_DAYS[day]),
    }
    try:
        trigger = CronTrigger(timezone=zone, **kwargs)
        probe = CronTrigger(
            timezone=zone,
            end_date=_PROBE_FROM.replace(year=_PROBE_FROM.year + _PROBE_YEARS),
            **kwargs,
        )
    except ValueError as exc:  # should not happen after _expand; keep the message plain
        raise ScheduleError(N_("'%(schedule)s' is not a valid cron expression: %(problem)s."),
                            schedule=cleaned, problem=exc) from exc
    if probe.get_next_fire_time(None, _PROBE_FROM) is None:
        raise ScheduleError(N_("'%(schedule)s' names a date that never happens."),
                            schedule=cleaned)

    return Schedule(
        text=cleaned,
        timezone=zone.key,
        kind="cron",
        _trigger=trigger,
        _description=_describe_cron(cleaned, zone, hour, minute, days, months, weekdays),
    )


_MONTH_WORDS = {name[:3].lower(): number for number, name in enumerate(_MONTH_NAMES, start=1)}
_CRON_DAY_WORDS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


def _single_number(text: str, name: str, highest: int) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) > highest:
        raise ScheduleError(N_(
            "The %(name)s of a cron expression must be a single number from 0 to %(highest)s "
            "(a survey opens at most once a day); got '%(text)s'."),
            name=name, highest=highest, text=text)
    return int(text)


def _expand(
    text: str, name: str, lowest: int, highest: int, words: dict[str, int]
) -> list[int] | None:
    """Expand one crontab field into its sorted values; None means unrestricted (*)."""
    if text == "*":
        return None
    values: set[int] = set()

    def number(token: str) -> int:
        value = words.get(token)
        if value is None:
            if not (token.isascii() and token.isdigit()):
                raise ScheduleError(N_("'%(token)s' is not a valid %(name)s in '%(text)s'."),
                                    token=token, name=name, text=text)
            value = int(token)
        if not lowest <= value <= highest:
            raise ScheduleError(N_("The %(name)s must be from %(lowest)s to %(highest)s; "
                                   "'%(token)s' is not."),
                                name=name, lowest=lowest, highest=highest, token=token)
        return value

    for part in text.split(","):
        match = _CRON_PART_RE.fullmatch(part)
        if match is None:
            raise ScheduleError(N_("'%(token)s' is not a valid %(name)s in '%(text)s'."),
                                token=part, name=name, text=text)
        span, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ScheduleError(N_("The step in '%(part)s' must be at least 1."), part=part)
        if span == "*":
            first, last = lowest, highest
        elif "-" in span:
            first_text, last_text = span.split("-")
            first, last = number(first_text), number(last_text)
            if first > last:
                raise ScheduleError(N_("The range '%(span)s' in the %(name)s runs backwards."),
                                    span=span, name=name)
        else:
            first = number(span)
            last = highest if step_text else first
        values.update(range(first, last + 1, step))
    if name == "day-of-week":
        values = {value % 7 for value in values}  # 7 is Sunday too
    return sorted(values)


def _describe_cron(
    cleaned: str,
    zone: ZoneInfo,
    hour: int,
    minute: int,
    days: list[int] | None,
    months: list[int] | None,
    weekdays: list[int] | None,
) -> str:
    weekday_names = None if weekdays is None else _join([_DAY_NAMES[day] for day in weekdays])
    if days is None and weekday_names is None:
        when = "every day"
    elif days is None:
        when = f"every {weekday_names}"
    else:
        plural = "day" if len(days) == 1 else "days"
        when = f"on {plural} {_runs(days)} of the month"
        if weekday_names is not None:
            when += f" that fall on a {weekday_names.replace(' and ', ' or ')}"
    if months is not None:
        when += f", in {_join([_MONTH_NAMES[month - 1] for month in months])}"
    return f"At {hour:02d}:{minute:02d} {when}, {zone.key} time (cron: {cleaned})."


def _runs(values: list[int]) -> str:
    """Render 1,2,3,4,10 as '1 to 4 and 10'."""
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return _join([str(run[0]) if len(run) == 1 else f"{run[0]} to {run[-1]}" for run in runs])


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def _require_aware(moment: datetime, name: str) -> None:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")


def _is_repeated_wall_time(local: datetime) -> bool:
    """Tell whether a local time is the second pass of an hour the clocks repeat."""
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()
