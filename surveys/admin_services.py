"""Setting surveys up: checking a survey's definition, saving it, exporting it; the team list.

A survey definition ("spec") is a plain mapping, the same whether it comes from the
admin form, from `speakup surveys create --from FILE` (YAML or JSON) or from
`speakup surveys export ID`:

    title: Quarterly pulse
    sector: healthcare                # or general; items tagged for a sector only there
    intro: …                          # optional
    items: [psafe_1, …]               # item-bank ids, in order; or
    instruments: [psafe, speak]       # every item of these instruments
    demographics:                     # optional; "prefer not to say" is implicit
      - id: ethnicity
        label: Which ethnicity group do you identify with?
        short_label: Ethnicity group  # in report headings; optional, from the id if absent
        hint: …                       # optional
        options: [{id: global_majority, label: Global Majority}, {id: white, label: White}]
    comment_question: …               # optional
    translations:                     # optional: the texts above in another language
      cy:                             # each of SPEAKUP_LANGUAGES but the first
        title: …                      # each optional; left out, the first language's
        intro: …                      # text is shown (surveys/texts.py)
        comment_question: …
        demographics:                 # the group questions' texts a respondent reads:
          ethnicity:                  # a question id above
            label: …                  # each optional, as are the options; left out, the
            hint: …                   # catalogue's translation (default questions) or
            options: {white: …}       # the first language's is shown
    schedule: monthly, first Monday 09:00     # or a cron expression
    timezone: Europe/London
    open_days: 14
    reminder_offsets_days: [3, 10]
    min_group_size: 5                 # k, never below 3
    protection: suppress              # or perturb (surveys/protection.py); frozen per round
    active: true
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from speakup import audit
from speakup.clock import Clock
from speakup.settings import MIN_GROUP_SIZE_FLOOR, Settings
from speakup.translatable import N_, Translatable, TranslatableError
from surveys.itembank import SECTORS, ItemBank, load_item_bank
from surveys.models import Round, RoundStatus, Survey, Team
from surveys.protection import DEFAULT_PROTECTION, ProtectionError, check_protection
from surveys.published import PREFER_NOT
from surveys.schedule import Schedule, ScheduleError, load_zone, parse_schedule, round_window
from surveys.texts import GROUP_TEXTS, TRANSLATABLE

MAX_TITLE = 200
MAX_INTRO = 2000
MAX_QUESTION = 500
MAX_LABEL = 200
MAX_OPTION_LABEL = 120
# Group questions' names in report headings, tabs, charts and exports ("Team").
MAX_SHORT_LABEL = 40
DEFAULT_SHORT_LABELS = {"ethnicity": "Ethnicity group", "team": "Team"}
MAX_OPTIONS = 100
MAX_DEMOGRAPHICS = 6
MAX_OPEN_DAYS = 90
MAX_K = 1000
# How many future openings are checked to make sure no two rounds overlap.
OVERLAP_CHECK_OPENINGS = 12
_ID_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_OPTION_ID_RE = re.compile(r"[a-z0-9][a-z0-9_]{0,63}")
SPEC_KEYS = {
    "sector", "title", "intro", "items", "instruments", "demographics", "comment_question",
    "schedule", "timezone", "open_days", "reminder_offsets_days", "min_group_size", "active",
    "protection", "translations",
}

ETHNICITY_QUESTION = {
    "id": "ethnicity",
    "label": N_("Which ethnicity group do you identify with?"),
    "short_label": "Ethnicity group",
    "hint": N_("Global Majority means people who are Black, Asian, of mixed heritage or "
               "otherwise not White."),
    "options": [
        {"id": "global_majority", "label": N_("Global Majority")},
        {"id": "white", "label": N_("White")},
    ],
}
# Marked for the catalogue: a respondent reads the default questions in their language.
TEAM_QUESTION_LABEL = N_("Which team or directorate do you work in?")
DEFAULT_COMMENT_QUESTION = N_(
    "Is there anything else you would like to tell us about speaking up or fairness here?"
)


class SurveySpecError(ValueError):
    """A survey definition cannot be used; `problems` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))
        self.problems = problems


class SurveyLockedError(TranslatableError, ValueError):
    """The change is not allowed while a round of the survey is open."""


@dataclass(frozen=True)
class SurveySpec:
    """A checked survey definition, ready to store."""

    title: str
    intro: str
    item_ids: list[str]
    demographics: list[dict[str, Any]]
    comment_question: str | None
    schedule: str
    timezone: str
    open_days: int
    reminder_offsets_days: list[int]
    min_group_size: int
    active: bool
    sector: str = "general"
    protection: str = DEFAULT_PROTECTION
    # {"cy": {"title": …, "intro": …, "comment_question": …, "demographics": {"team":
    # {"label": …, "hint": …, "options": {"finance": …}}}}}: only what was typed.
    texts_by_language: dict[str, dict[str, Any]] = field(default_factory=dict)

    def parsed_schedule(self) -> Schedule:
        return parse_schedule(self.schedule, self.timezone)


def default_short_label(question_id: str) -> str:
    """A short label for a question defined without one ("team" -> "Team")."""
    return DEFAULT_SHORT_LABELS.get(question_id) or question_id.replace("_", " ").capitalize()


def slug(label: str) -> str:
    """Make an option id from its label: 'Finance & Estates' -> 'finance_estates'."""
    text = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:64]
    return text or "option"


# --- checking a definition ---------------------------------------------------------


def check_spec(
    raw: Mapping[str, Any], settings: Settings, *, bank: ItemBank | None = None,
    now: dt.datetime | None = None,
) -> SurveySpec:
    """Check a survey definition; return it normalised or raise SurveySpecError listing all."""
    bank = bank or load_item_bank()
    problems: list[tuple[str, str]] = []

    def problem(name: str, message: str | TranslatableError, **params: object) -> None:
        problems.append((name, _said(message, **params)))

    if not isinstance(raw, Mapping):
        raise SurveySpecError([("file", _said(N_(
            "A survey definition must be a mapping of fields.")))])
    unknown = sorted(str(key) for key in raw if key not in SPEC_KEYS)
    if unknown:
        problem("file", N_("Unknown field(s): %(fields)s."), fields=", ".join(unknown))

    title = _text(raw.get("title"), "title", MAX_TITLE, problem, required=True)
    if title is not None and not _is_one_line(title):
        problem("title", N_("A title is one line: remove the line break or control character "
                            "(it goes into the subject of every invitation)."))
        title = None
    intro = _text(raw.get("intro"), "intro", MAX_INTRO, problem) or ""
    sector = raw.get("sector")
    if sector is not None and sector not in SECTORS:
        problem("sector", N_("The sector must be one of: %(sectors)s."), sectors=", ".join(SECTORS))
        sector = None
    item_ids, sector = _items(raw, bank, sector, problem)
    demographics = _demographics(raw.get("demographics", []), problem)
    comment = _text(raw.get("comment_question"), "comment_question", MAX_QUESTION, problem)
    translations = _translations(raw.get("translations"), settings.languages, bool(comment),
                                 demographics, problem)
    timezone = raw.get("timezone") or settings.timezone
    try:
        load_zone(timezone)
    except ScheduleError as exc:
        problem("timezone", exc)
        timezone = None
    schedule_text = raw.get("schedule")
    schedule = None
    if not isinstance(schedule_text, str) or not schedule_text.strip():
        problem("schedule", N_("Enter a schedule, such as “monthly, first Monday 09:00”."))
    elif timezone:
        try:
            schedule = parse_schedule(schedule_text, timezone)
        except ScheduleError as exc:
            problem("schedule", exc)
    open_days = _whole(raw.get("open_days", 14), "open_days", 1, MAX_OPEN_DAYS, problem)
    offsets_raw = raw.get("reminder_offsets_days", [])
    offsets: list[int] = []
    if not isinstance(offsets_raw, list) or any(type(o) is not int for o in offsets_raw):
        problem("reminder_offsets_days",
                N_("Reminders are whole numbers of days after opening."))
    else:
        offsets = sorted(offsets_raw)
    k = _whole(
        raw.get("min_group_size", settings.min_group_size), "min_group_size",
        MIN_GROUP_SIZE_FLOOR, MAX_K, problem,
        below=N_("The minimum group size can never be below %(low)s: smaller groups would "
                 "let people be identified."),
    )
    protection = raw.get("protection", DEFAULT_PROTECTION)
    try:
        protection = check_protection(protection)
    except ProtectionError as exc:
        problem("protection", exc)
    active = raw.get("active", True)
    if type(active) is not bool:
        problem("active", N_("Active must be true or false."))
        active = True
    if schedule is not None and open_days is not None and timezone:
        _check_windows(schedule, open_days, offsets, timezone, now, problem)
    if problems:
        raise SurveySpecError(problems)
    assert title is not None and schedule is not None and open_days is not None and k is not None
    return SurveySpec(
        title=title, intro=intro, item_ids=item_ids, demographics=demographics,
        comment_question=comment or None, schedule=schedule.text, timezone=schedule.timezone,
        open_days=open_days, reminder_offsets_days=offsets, min_group_size=k, active=active,
        sector=sector, protection=protection, texts_by_language=translations,
    )


# Each translatable field's limit, as for the first language's text.
_LIMITS = {"title": MAX_TITLE, "intro": MAX_INTRO, "comment_question": MAX_QUESTION}


def _translations(raw: Any, languages: tuple[str, ...], asks_comment: bool,
                  questions: list[dict[str, Any]], problem: Any) -> dict[str, dict[str, Any]]:
    """The texts typed in each language but the first, checked like the first's."""
    if raw is None:
        return {}
    others = languages[1:]
    if not isinstance(raw, Mapping):
        problem("translations", N_("Translations are a mapping from a language code to its "
                                   "texts, e.g. cy: {title: …}."))
        return {}
    checked: dict[str, dict[str, Any]] = {}
    for code, texts in raw.items():
        where = f"translations.{code}"
        if code not in others:
            problem(where, N_("“%(code)s” is not one of the other languages this site offers "
                              "(%(languages)s)."),
                    code=code, languages=", ".join(others) or "none")
            continue
        if texts is None:
            continue
        if not isinstance(texts, Mapping):
            problem(where, N_("List the texts in this language: title, intro, "
                              "comment_question or demographics."))
            continue
        unknown = sorted(str(key) for key in texts if key not in (*TRANSLATABLE, GROUP_TEXTS))
        if unknown:
            problem(where, N_("Unknown field(s): %(fields)s."), fields=", ".join(unknown))
        typed: dict[str, Any] = {}
        for name in TRANSLATABLE:
            field_name = f"{where}.{name}"
            text = _text(texts.get(name), field_name, _LIMITS[name], problem)
            if text is None:
                continue
            if name == "title" and not _is_one_line(text):
                problem(field_name, N_(
                    "A title is one line: remove the line break or control character "
                    "(it goes into the subject of every invitation)."))
                continue
            if name == "comment_question" and not asks_comment:
                problem(field_name, N_(
                    "The survey asks no comment question: type it in the first language "
                    "too, or leave this out."))
                continue
            typed[name] = text
        groups = _group_translations(texts.get(GROUP_TEXTS), f"{where}.{GROUP_TEXTS}",
                                     questions, problem)
        if groups:
            typed[GROUP_TEXTS] = groups
        if typed:
            checked[code] = typed
    return checked


def _group_translations(raw: Any, where: str, questions: list[dict[str, Any]], problem: Any
                        ) -> dict[str, dict[str, Any]]:
    """A language's texts of the group questions, keyed by question and option id.

    Checked like the first language's (same limits); only the survey's own questions and
    options, so a translation can never add a choice. Answers keep the option's id.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(where, N_("List the group questions by id, e.g. team: {label: …, options: "
                          "{finance: …}}."))
        return {}
    asked = {q["id"]: q for q in questions}
    checked: dict[str, dict[str, Any]] = {}
    for qid, texts in raw.items():
        here = f"{where}.{qid}"
        question = asked.get(qid)
        if question is None:
            problem(here, N_("The survey asks no group question “%(id)s” (its questions: "
                             "%(ids)s)."), id=qid, ids=", ".join(asked) or "none")
            continue
        if texts is None:
            continue
        if not isinstance(texts, Mapping):
            problem(here, N_("List this question's texts: label, hint or options."))
            continue
        unknown = sorted(str(key) for key in texts if key not in {"label", "hint", "options"})
        if unknown:
            problem(here, N_("Unknown field(s): %(fields)s."), fields=", ".join(unknown))
        typed: dict[str, Any] = {}
        label = _text(texts.get("label"), f"{here}.label", MAX_LABEL, problem)
        if label:
            typed["label"] = label
        hint_field = f"{here}.hint"
        hint = _text(texts.get("hint"), hint_field, MAX_QUESTION, problem)
        if hint and not question.get("hint"):
            problem(hint_field, N_("The question has no hint in the first language: "
                                   "type it there too, or leave this out."))
        elif hint:
            typed["hint"] = hint
        options = _option_translations(texts.get("options"), f"{here}.options",
                                       question, problem)
        if options:
            typed["options"] = options
        if typed:
            checked[qid] = typed
    return checked


def _option_translations(raw: Any, where: str, question: dict[str, Any], problem: Any
                         ) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problem(where, N_("List the options by id, e.g. {finance: …}."))
        return {}
    ids = [o["id"] for o in question.get("options", [])]
    checked: dict[str, str] = {}
    for oid, label in raw.items():
        option_field = f"{where}.{oid}"
        if oid not in ids:
            problem(option_field, N_("The question “%(question)s” has no option "
                                     "“%(id)s” (its options: %(ids)s)."),
                    question=question["id"], id=oid, ids=", ".join(ids))
            continue
        text = _text(label, option_field, MAX_OPTION_LABEL, problem)
        if text:
            checked[oid] = " ".join(text.split())
    return checked


def _said(message: str | TranslatableError, **params: object) -> Translatable:
    """A problem's text: a catalogue message and its values, or a refusal's own."""
    if isinstance(message, TranslatableError):
        return Translatable.of(message)
    return Translatable(message, **params)


def _text(value: Any, name: str, limit: int, problem: Any, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problem(name, N_("This cannot be empty."))
        return None
    if not isinstance(value, str):
        problem(name, N_("This must be text."))
        return None
    value = value.strip().replace("\r\n", "\n")
    if len(value) > limit:
        problem(name, N_("This is %(length)s characters long; the limit is %(limit)s."),
                length=len(value), limit=limit)
        return None
    return value


def _is_one_line(text: str) -> bool:
    """No line break or other control character (Cc, Zl, Zp; a tab included)."""
    return not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in text)


def _whole(value: Any, name: str, low: int, high: int, problem: Any,
           below: str | None = None) -> int | None:
    if type(value) is not int:
        problem(name, N_("This must be a whole number."))
        return None
    if value < low:
        problem(name, below or N_("This must be at least %(low)s."), low=low)
        return None
    if value > high:
        problem(name, N_("This must be at most %(high)s."), high=high)
        return None
    return value


def _items(raw: Mapping[str, Any], bank: ItemBank, sector: str | None, problem: Any
           ) -> tuple[list[str], str]:
    """The chosen item ids, and the survey's sector.

    A definition without a sector predates sector tags and meant every item it
    names: it is healthcare if it asks a healthcare-only item, general otherwise.
    With a sector, whole instruments bring only the items offered there, and an
    item named by id that is not offered there is a problem.
    """
    from_instruments, named = _chosen(raw, bank, problem)
    if sector is None:
        everything = list(dict.fromkeys(from_instruments + named))
        healthcare = any(not bank.items[i].offered_in("general") for i in everything)
        sector = "healthcare" if healthcare else "general"
    else:
        from_instruments = [i for i in from_instruments if bank.items[i].offered_in(sector)]
        for item_id in named:
            item = bank.items[item_id]
            if not item.offered_in(sector):
                problem("items", N_("“%(item)s” is asked only in %(sectors)s surveys: mark the "
                                    "survey as such, or leave it out."),
                        item=item.text, sectors=" or ".join(item.sectors))
    unique = list(dict.fromkeys(from_instruments + named))
    if not unique:
        problem("items", N_("Choose at least one question from the item bank."))
    return unique, sector


def _chosen(raw: Mapping[str, Any], bank: ItemBank, problem: Any
            ) -> tuple[list[str], list[str]]:
    """Item ids brought by whole instruments, and item ids named one by one."""
    from_instruments: list[str] = []
    instruments = raw.get("instruments", [])
    if not isinstance(instruments, list):
        problem("instruments", N_("List instrument ids, e.g. [psafe, speak]."))
        instruments = []
    for instrument_id in instruments:
        if instrument_id not in bank.instruments:
            problem("instruments", N_("The item bank has no instrument “%(instrument)s”."),
                    instrument=instrument_id)
            continue
        from_instruments.extend(bank.instruments[instrument_id].item_ids)
    named: list[str] = []
    items = raw.get("items", [])
    if not isinstance(items, list):
        problem("items", N_("List item ids, e.g. [psafe_1, psafe_2]."))
        items = []
    for item_id in items:
        if not isinstance(item_id, str) or item_id not in bank.items:
            problem("items", N_("The item bank has no item “%(item)s”."), item=item_id)
            continue
        named.append(item_id)
    return from_instruments, named


def _demographics(raw: Any, problem: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problem("demographics", N_("Demographic questions must be a list."))
        return []
    if len(raw) > MAX_DEMOGRAPHICS:
        problem("demographics", N_("Ask at most %(most)s demographic questions."),
                most=MAX_DEMOGRAPHICS)
    questions: list[dict[str, Any]] = []
    seen_ids: set[str] = set()
    for index, question in enumerate(raw, start=1):
        where = f"demographics[{index}]"
        if not isinstance(question, Mapping):
            problem(where, N_("Each demographic question needs an id, a label and options."))
            continue
        unknown = sorted(str(k) for k in question
                         if k not in {"id", "label", "short_label", "hint", "options"})
        if unknown:
            problem(where, N_("Unknown field(s): %(fields)s."), fields=", ".join(unknown))
        qid = question.get("id")
        if not isinstance(qid, str) or not _ID_RE.fullmatch(qid):
            problem(where, N_("The id must be lower case letters, digits or _ (e.g. ethnicity)."))
            continue
        if qid in seen_ids:
            problem(where, N_("Two questions have the id “%(id)s”."), id=qid)
            continue
        seen_ids.add(qid)
        label = _text(question.get("label"), f"{where}.label", MAX_LABEL, problem, required=True)
        hint = _text(question.get("hint"), f"{where}.hint", MAX_QUESTION, problem)
        short = question.get("short_label")
        if short is None:
            short = default_short_label(qid)
        short_label = _text(short, f"{where}.short_label", MAX_SHORT_LABEL, problem,
                            required=True)
        options = _options(question.get("options"), where, problem)
        entry: dict[str, Any] = {"id": qid, "label": label, "short_label": short_label,
                                 "options": options}
        if hint:
            entry["hint"] = hint
        questions.append(entry)
    return questions


def _options(raw: Any, where: str, problem: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        problem(where, N_("List at least one option (prefer not to say is added for you)."))
        return []
    if len(raw) > MAX_OPTIONS:
        problem(where, N_("List at most %(most)s options."), most=MAX_OPTIONS)
    options: list[dict[str, str]] = []
    seen: set[str] = set()
    for option in raw:
        if isinstance(option, str):
            option = {"id": slug(option), "label": option}
        if not isinstance(option, Mapping) or set(option) - {"id", "label"}:
            problem(where, N_("Each option is a label, or a mapping with an id and a label."))
            continue
        label = option.get("label")
        oid = option.get("id") or (slug(label) if isinstance(label, str) else None)
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_OPTION_LABEL:
            problem(where, N_("Each option needs a label of 1 to %(most)s characters."),
                    most=MAX_OPTION_LABEL)
            continue
        if not isinstance(oid, str) or not _OPTION_ID_RE.fullmatch(oid) or oid == PREFER_NOT:
            problem(where, N_("“%(label)s” needs an id of lower case letters, digits or _ "
                              "(and not “%(kept)s”, which is kept for prefer not to say)."),
                    label=label, kept=PREFER_NOT)
            continue
        if oid in seen:
            problem(where, N_("The option “%(label)s” appears twice."), label=label)
            continue
        seen.add(oid)
        options.append({"id": oid, "label": " ".join(label.split())})
    return options


def _check_windows(
    schedule: Schedule, open_days: int, offsets: list[int], tz: str,
    now: dt.datetime | None, problem: Any,
) -> None:
    start = now or dt.datetime.now(dt.UTC)
    try:
        openings = []
        moment = start
        for _ in range(OVERLAP_CHECK_OPENINGS):
            moment = schedule.next_after(moment)
            openings.append(moment)
        windows = [round_window(o, open_days, offsets, tz) for o in openings]
    except ScheduleError as exc:
        name = "reminder_offsets_days" if "eminder" in str(exc) else "open_days"
        problem(name, exc)
        return
    for window, following in zip(windows, openings[1:], strict=False):
        if window.closes_at > following:
            problem("open_days", N_(
                "Each round must close before the next one opens, but a round opening on "
                "%(opens)s would still be open on %(following)s. Keep rounds open for fewer "
                "days, or schedule them less often."),
                opens=f"{window.opens_at:%d %B %Y}", following=f"{following:%d %B %Y}")
            return


# --- saving -------------------------------------------------------------------------


def spec_fields(spec: SurveySpec) -> dict[str, Any]:
    return {
        "title": spec.title, "intro": spec.intro, "item_ids": spec.item_ids,
        "demographics": spec.demographics, "comment_question": spec.comment_question,
        "schedule": spec.schedule, "timezone": spec.timezone, "open_days": spec.open_days,
        "reminder_offsets_days": spec.reminder_offsets_days,
        "min_group_size": spec.min_group_size, "active": spec.active, "sector": spec.sector,
        "protection": spec.protection, "texts_by_language": spec.texts_by_language or None,
    }


def create_survey(session: Session, clock: Clock, spec: SurveySpec, *, actor: str) -> Survey:
    """Store a new survey (rounds are planned by rounds.plan_survey_rounds)."""
    survey = Survey(created_on=clock.today(), **spec_fields(spec))
    session.add(survey)
    session.flush()
    audit.record(
        session, clock, actor=actor, action="survey.create", subject=f"survey {survey.id}",
        detail={"title": spec.title, "k": spec.min_group_size, "schedule": spec.schedule},
    )
    return survey


def open_round_of(session: Session, survey_id: int) -> Round | None:
    return session.scalars(
        select(Round).where(Round.survey_id == survey_id, Round.status == RoundStatus.OPEN.value)
    ).first()


def update_survey(
    session: Session, clock: Clock, survey: Survey, spec: SurveySpec, *, actor: str
) -> list[str]:
    """Save changes to a survey; return the names of what changed.

    Questions cannot change while a round is open (its answers would not match).
    When the schedule, window or reminders change, or the survey is paused, rounds
    not yet open are dropped so they are planned again from the new settings.
    """
    before = {name: getattr(survey, name) for name in spec_fields(spec)}
    after = spec_fields(spec)
    changed = [name for name in after if before[name] != after[name]]
    questions = {"item_ids", "demographics", "comment_question", "sector"}
    asked = set(changed)
    # A title or intro in another language may change at any time; a comment question
    # in another language is a question asked, like the first language's.
    if _comment_questions(before["texts_by_language"]) != _comment_questions(
            after["texts_by_language"]):
        asked.add("comment_question")
    # So is a group question or option in another language.
    group_texts_changed = _group_texts(before["texts_by_language"]) != _group_texts(
        after["texts_by_language"])
    # A short label names a question in reports only; respondents never see it, so it
    # may change while a round is open.
    if _without_short_labels(before["demographics"]) == _without_short_labels(
            after["demographics"]):
        asked.discard("demographics")
    if group_texts_changed:
        asked.add("demographics")
    if questions & asked and open_round_of(session, survey.id) is not None:
        raise SurveyLockedError(N_(
            "The questions cannot change while a round is open: the answers already given "
            "would not match. Change them after the round closes."
        ))
    for name in changed:
        setattr(survey, name, after[name])
    timing = {"schedule", "timezone", "open_days", "reminder_offsets_days", "active"}
    if timing & set(changed):
        session.execute(delete(Round).where(
            Round.survey_id == survey.id, Round.status == RoundStatus.SCHEDULED.value
        ))
    session.flush()
    if changed:
        detail: dict[str, Any] = {"changed": changed}
        if "min_group_size" in changed:
            detail["k"] = {"from": before["min_group_size"], "to": after["min_group_size"]}
        audit.record(session, clock, actor=actor, action="survey.update",
                     subject=f"survey {survey.id}", detail=detail)
    return changed


def _comment_questions(texts: dict[str, dict[str, Any]] | None) -> dict[str, str | None]:
    return {code: typed.get("comment_question") for code, typed in (texts or {}).items()}


def _group_texts(texts: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    return {code: typed.get(GROUP_TEXTS) for code, typed in (texts or {}).items()
            if typed.get(GROUP_TEXTS)}


def _without_short_labels(questions: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [{k: v for k, v in q.items() if k != "short_label"} for q in questions or []]


def export_spec(survey: Survey) -> dict[str, Any]:
    """Return the survey's definition in the form `check_spec` reads (no audience)."""
    spec: dict[str, Any] = {
        "title": survey.title,
        "intro": survey.intro or "",
        "items": list(survey.item_ids),
        "demographics": [dict(q) for q in survey.demographics or []],
        "comment_question": survey.comment_question,
        "schedule": survey.schedule,
        "timezone": survey.timezone,
        "open_days": survey.open_days,
        "reminder_offsets_days": list(survey.reminder_offsets_days or []),
        "min_group_size": survey.min_group_size,
        "active": survey.active,
        "sector": survey.sector,
        "protection": survey.protection,
    }
    if survey.texts_by_language:
        spec["translations"] = copy.deepcopy(dict(survey.texts_by_language))
    return spec


def list_surveys(session: Session) -> list[Survey]:
    return list(session.scalars(select(Survey).order_by(Survey.id)))


# --- the team list and default questions --------------------------------------------


def list_teams(session: Session) -> list[str]:
    return list(session.scalars(select(Team.name).order_by(Team.position, Team.id)))


def set_teams(session: Session, clock: Clock, names: Iterable[str], *, actor: str) -> list[str]:
    """Replace the team and directorate list (used for new surveys' team question)."""
    cleaned: list[str] = []
    problems: list[tuple[str, str]] = []
    for name in names:
        name = " ".join(name.split())
        if not name:
            continue
        if len(name) > MAX_OPTION_LABEL:
            problems.append(("teams", _said(N_("“%(name)s…” is longer than %(most)s characters."),
                                            name=name[:40], most=MAX_OPTION_LABEL)))
        elif name.lower() in {c.lower() for c in cleaned}:
            problems.append(("teams", _said(N_("“%(name)s” is listed twice."), name=name)))
        else:
            cleaned.append(name)
    if len(cleaned) > MAX_OPTIONS:
        problems.append(("teams", _said(N_("List at most %(most)s teams."), most=MAX_OPTIONS)))
    slugs = [slug(name) for name in cleaned]
    if len(set(slugs)) != len(slugs):
        problems.append(("teams", _said(N_(
            "Two names differ only in punctuation; make them distinct."))))
    if problems:
        raise SurveySpecError(problems)
    session.execute(delete(Team))
    if cleaned:
        session.execute(insert(Team), [{"name": n, "position": i} for i, n in enumerate(cleaned)])
    audit.record(session, clock, actor=actor, action="survey.teams.replace",
                 subject="team list", detail={"teams": len(cleaned)})
    return cleaned


def team_question(names: Iterable[str]) -> dict[str, Any]:
    return {
        "id": "team",
        "label": TEAM_QUESTION_LABEL,
        "short_label": DEFAULT_SHORT_LABELS["team"],
        "options": [{"id": slug(name), "label": name} for name in names],
    }


def default_demographics(session: Session) -> list[dict[str, Any]]:
    """Ethnicity group, and team or directorate if the admin keeps a team list."""
    questions = [dict(ETHNICITY_QUESTION)]
    teams = list_teams(session)
    if teams:
        questions.append(team_question(teams))
    return questions


def default_spec(session: Session, settings: Settings) -> dict[str, Any]:
    """The new-survey form's starting values: every item, default questions, k from settings."""
    bank = load_item_bank()
    return {
        "title": "",
        "intro": "",
        "sector": "general",
        "items": [i for i, item in bank.items.items() if item.offered_in("general")],
        "demographics": default_demographics(session),
        "comment_question": DEFAULT_COMMENT_QUESTION,
        "schedule": "quarterly, first Monday 09:00",
        "timezone": settings.timezone,
        "open_days": 14,
        "reminder_offsets_days": [4, 10],
        "min_group_size": settings.min_group_size,
        "protection": DEFAULT_PROTECTION,
        "active": True,
    }
