"""Demo data for the review pages: six published monthly rounds of one pulse survey.

The rounds are synthetic but shaped like a programme that is working: speaking-up
and inclusive-leadership scores rise, the gap between Global Majority and White
staff narrows, and one small team ("Estates") is always too small to be shown.
Everything goes through the surveys package's own services, back-dated with a
frozen clock: the survey is created and its audience uploaded, each round is
opened (k frozen, invitations queued), answered through single-use links exactly
as `/s/<token>` would save them, closed (unsent mail cancelled) and published,
which deletes the raw answers again: afterwards only published aggregates remain.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from review import goals, peers, progress_report, tables
from review.models import AT_MOST, FAVOURABLE, GAP
from speakup import publication_log
from speakup.clock import Clock, FrozenClock, as_utc
from speakup.settings import Settings
from speakup.web import Services
from surveys import admin_services, audience, invitations, responses, rounds
from surveys.itembank import NO, PREFER_NOT_TO_SAY, YES, Item, load_item_bank
from surveys.models import Survey
from surveys.published import PREFER_NOT, PublishedRound
from surveys.round_keys import RoundKeyFolder
from surveys.sealed_answers import Sealers

DEMO_TITLE = "Staff pulse survey (demo)"
DEMO_SEED = 2036
ETHNICITY = {
    "id": "ethnicity",
    "label": "Ethnicity group",
    "options": [
        {"id": "global_majority", "label": "Global Majority"},
        {"id": "white", "label": "White"},
    ],
}
TEAMS = (
    ("emergency", "Emergency department", 0.31),
    ("surgery", "Surgery", 0.25),
    ("community", "Community services", 0.24),
    ("corporate", "Corporate services", 0.17),
    ("estates", "Estates", 0.008),  # always fewer than k: shows how hiding looks
)
TEAM = {
    "id": "team",
    "label": "Team or directorate",
    "options": [{"id": t, "label": label} for t, label, _ in TEAMS],
}
ITEM_IDS = (
    *(f"speak_{i}" for i in range(1, 5)),
    *(f"psafe_{i}" for i in range(1, 8)),
    *(f"incl_{i}" for i in range(1, 10)),
    *(f"wres_{i}" for i in range(5, 9)),
)
COMMENTS = (
    "The new listening sessions with the board made a real difference this month.",
    "I still do not know what happened after I raised something last year.",
    "My manager now asks everyone in the huddle, not just the loudest voices.",
    "Rota changes are announced too late for people with caring responsibilities.",
    "Please keep the anonymous concern route: it is the only one some of us trust.",
    "Training on racism felt like a tick-box exercise; the follow-up workshop was better.",
    "Colleagues from overseas are still given the hardest shifts more often.",
    "It feels safer to challenge decisions than it did six months ago.",
    "More feedback on what changed because of these surveys, please.",
    "Team meetings are more open since the new lead arrived.",
)


@dataclass(frozen=True)
class GroupMood:
    """How a group answers in one round."""

    favourable: float  # chance a person's answers are favourable, before their own lean
    harassment: float  # chance of "yes" to the harassment and discrimination items
    fair: float  # chance of "yes" to fair career progression


def _moods(step: float, wobble: float) -> dict[str, GroupMood]:
    """Mood per ethnicity group at programme progress ``step`` (0 = first round, 1 = last)."""
    return {
        "white": GroupMood(0.66 + 0.04 * step + wobble, 0.17 - 0.02 * step, 0.72 + 0.03 * step),
        "global_majority": GroupMood(
            0.53 + 0.12 * step + wobble, 0.31 - 0.12 * step, 0.45 + 0.2 * step
        ),
        PREFER_NOT: GroupMood(0.55 + 0.04 * step, 0.25, 0.55),
        "": GroupMood(0.58, 0.22, 0.6),
    }


# Instruments differ a little, and so do teams (Estates is always too small to show).
INSTRUMENT_SHIFT = {"speak": 0.0, "psafe": 0.03, "incl": 0.06}
TEAM_SHIFT = {"emergency": -0.06, "surgery": 0.0, "community": 0.03, "corporate": 0.05,
              "estates": -0.08}
# Within the unfavourable and favourable answers, how answers spread (lowest first).
_SPREAD = {5: ((0.15, 0.35, 0.5), (0.6, 0.4)), 7: ((0.05, 0.1, 0.15, 0.3, 0.4), (0.6, 0.4))}


def _ordinal_answer(rng: random.Random, item: Item, lean: float) -> int:
    top = item.scale.max_value
    low, high = _SPREAD[top]
    if rng.random() < lean:
        scored = top - len(high) + 1 + rng.choices(range(len(high)), weights=high)[0]
    else:
        scored = 1 + rng.choices(range(len(low)), weights=low)[0]
    return top + 1 - scored if item.reverse else scored


def _yes_no_answer(rng: random.Random, item: Item, mood: GroupMood) -> int:
    if rng.random() < 0.04:
        return PREFER_NOT_TO_SAY
    chance = mood.fair if item.favourable == "yes" else mood.harassment
    return YES if rng.random() < chance else NO


@dataclass(frozen=True)
class Respondent:
    answers: dict[str, int]
    groups: dict[str, str]
    comment: str | None = None


def synthetic_respondents(
    rng: random.Random, count: int, step: float, item_ids: Sequence[str] = ITEM_IDS
) -> list[Respondent]:
    """Answers of ``count`` made-up people at programme progress ``step`` (0..1)."""
    bank = load_item_bank()
    items = [bank.item(i) for i in item_ids]
    moods = _moods(step, rng.uniform(-0.01, 0.01))
    people = []
    for _ in range(count):
        roll = rng.random()
        ethnicity = (
            "global_majority" if roll < 0.36 else "white" if roll < 0.9
            else PREFER_NOT if roll < 0.97 else ""
        )  # fmt: skip
        team = rng.choices([t for t, _, _ in TEAMS] + [PREFER_NOT, ""],
                           weights=[w for _, _, w in TEAMS] + [0.02, 0.01])[0]
        mood = moods[ethnicity]
        # People differ: each has their own lean around their group's mood.
        lean = mood.favourable + TEAM_SHIFT.get(team, 0.0) + rng.gauss(0, 0.15)
        answers = {}
        for item in items:
            if rng.random() < 0.04:
                continue  # skipped
            if item.scale.type == "yes_no":
                answers[item.id] = _yes_no_answer(rng, item, mood)
            else:
                shifted = lean + INSTRUMENT_SHIFT.get(item.instrument_id, 0.0)
                answers[item.id] = _ordinal_answer(rng, item, min(max(shifted, 0.02), 0.98))
        groups = {k: v for k, v in (("ethnicity", ethnicity), ("team", team)) if v}
        people.append(Respondent(answers, groups))
    # A few people leave a comment, each a different one.
    writers = rng.sample(range(count), min(len(COMMENTS) - 2, count))
    for text, index in zip(rng.sample(COMMENTS, len(writers)), writers, strict=True):
        people[index] = replace(people[index], comment=text)
    return people


DEMO_AUDIENCE = 420


def create_demo_survey(session: Session, settings: Settings, clock: Clock,
                       title: str = DEMO_TITLE, item_ids: Sequence[str] = ITEM_IDS,
                       audience_size: int = DEMO_AUDIENCE) -> Survey:
    """Create the demo survey (inactive: its rounds are all in the past) and its audience.

    These two steps are audited, at today's date: the log's order stays true.
    """
    first_opening = dt.datetime.combine(clock.today() - dt.timedelta(days=220), dt.time(8),
                                        dt.UTC)
    spec = admin_services.check_spec({
        "title": title,
        "intro": "A short monthly survey on speaking up, psychological safety and inclusion.",
        "items": list(item_ids),
        "demographics": [ETHNICITY, TEAM],
        "comment_question": "Is there anything else you would like to tell the advisory group?",
        "schedule": "monthly, first Monday 09:00",
        "timezone": settings.timezone,
        "open_days": 14,
        "reminder_offsets_days": [7, 12],
        "min_group_size": settings.min_group_size,
        "active": False,
    }, settings, now=first_opening)  # fmt: skip
    survey = admin_services.create_survey(session, clock, spec, actor="demo")
    addresses = [f"demo-staff-{i:03d}@demo.speakup.local" for i in range(1, audience_size + 1)]
    audience.replace_audience(session, clock, survey, addresses, actor="demo")
    return survey


def _first_monday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def _months_before(today: dt.date, count: int) -> list[tuple[int, int]]:
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        months.append((year, month))
    return list(reversed(months))


def _at(moment: dt.datetime) -> FrozenClock:
    return FrozenClock(as_utc(moment))


def publish_synthetic_rounds(
    session: Session,
    settings: Settings,
    survey: Survey,
    today: dt.date,
    sizes: Sequence[int],
    rng: random.Random,
    people: Callable[[random.Random, int, float], list[Respondent]] = synthetic_respondents,
) -> list[PublishedRound]:
    """Open, answer, close and publish one monthly round per size, the last one last month."""
    zone = ZoneInfo(survey.timezone)
    key = invitations.token_key(settings)
    publish_settings = replace(settings, raw_retention_days=0)
    published = []
    sealers = Sealers()
    for index, ((year, month), size) in enumerate(
        zip(_months_before(today, len(sizes)), sizes, strict=True)
    ):
        opens = dt.datetime.combine(_first_monday(year, month), dt.time(9), zone)
        round_ = rounds.add_round(session, survey, opens)
        rounds.open_round(session, round_, _at(opens), keys=RoundKeyFolder.of(settings))
        tokens = invitations.issue_tokens(session, round_.id, size, key)
        step = index / max(len(sizes) - 1, 1)
        for token, person in zip(tokens, people(rng, size, step), strict=True):
            responses.submit_response(session, key, token, responses.Submission(
                dict(person.answers), dict(person.groups), person.comment), sealers=sealers)
        # The demo never sends its invitations: forget them before closing, or closing
        # warns of unsent mail once per round (six lines on every `make run`).
        invitations.forget_round_mail(session, round_.id, settings)
        rounds.close_round(session, round_, _at(round_.closes_at))
        published_day = min(as_utc(round_.closes_at).date() + dt.timedelta(days=1), today)
        clock = FrozenClock(dt.datetime.combine(published_day, dt.time(6), dt.UTC))
        published.append(rounds.publish(session, round_, publish_settings, clock))
    # The invitations were never sent; forget the addresses queued for these rounds.
    rounds.purge_mail_jobs(session)
    return published


def seed(session: Session, services: Services, say: Callable[[str], None]) -> None:
    """Publish six synthetic monthly rounds of a demo survey (once)."""
    if any(s.title == DEMO_TITLE for s in admin_services.list_surveys(session)):
        say("Demo survey results already exist.")
        return
    today = services.clock.today()
    rng = random.Random(DEMO_SEED)  # noqa: S311 - made-up survey answers, not secrets
    survey = create_demo_survey(session, services.settings, services.clock)
    sizes = [rng.randint(180, 300) for _ in range(6)]
    rounds = publish_synthetic_rounds(session, services.settings, survey, today, sizes, rng)
    say(f"Demo survey: published {len(rounds)} rounds ({', '.join(r.label for r in rounds)}).")
    seed_goals(session, services.clock, survey.id)
    say("Demo goals: speaking-up favourable at least 75% by March 2027; gap at most 5 points.")
    entry = progress_report.publish_report(session, services.settings.min_group_size, today)
    if entry is not None:
        say(f"Demo progress report: signed as entry {entry.seq} of the publication log.")
        for name, shift in PEERS:
            text = json.dumps(peer_file(json.loads(entry.payload), shift))
            peers.import_report(session, services.clock, organisation=name, text=text,
                                actor="demo")
        say(f"Demo peers: {' and '.join(n for n, _ in PEERS)}, imported from their signed "
            "reports.")


# Two made-up organisations whose reports differ from the demo's by a fixed shift.
PEERS = (("Northfield Community Trust (demo)", -0.06), ("Riverside Health (demo)", 0.04))


def peer_file(report: dict[str, Any], shift: float) -> dict[str, Any]:
    """A synthetic peer's signed progress report: the demo's headlines moved by `shift`.

    Signed with a fresh key as a two-entry log of its own (the key, then the report),
    exactly as that organisation's /results/report.json would be.
    """
    survey = dict(report["survey"], headlines=[], survey_title="Staff survey")
    for line in report["survey"]["headlines"]:
        value = line["favourable"]["value"]
        moved = None if value is None else min(1.0, max(0.0, value + shift))
        shown = tables.display(moved, tables.PERCENT)
        survey["headlines"].append(dict(line, favourable_shown=shown, gap=None, favourable=dict(
            line["favourable"], value=moved, shown=shown)))
    payload = dict(report, survey=survey, goals=[], actions=[], concerns=None, sources=[])
    key = Ed25519PrivateKey.generate()
    first = publication_log.key_change_payload(key, None)
    day = dt.date.fromisoformat(report["published_on"])
    key_entry = publication_log.signed_entry(
        seq=1, prev=publication_log.GENESIS, kind=publication_log.KEY_KIND,
        ref=first["fingerprint"], payload=first, published_on=day, replaces=None,
        signer_fingerprint=first["fingerprint"], private=key)
    entry = publication_log.signed_entry(
        seq=2, prev=key_entry["entry_hash"], kind=publication_log.PROGRESS_REPORT,
        ref=day.isoformat(), payload=payload, published_on=day, replaces=None,
        signer_fingerprint=first["fingerprint"], private=key)
    strip = ("header", "signature", "payload")
    return {"format": publication_log.FILE_FORMAT, **{k: entry[k] for k in strip},
            "keys": [{k: key_entry[k] for k in strip}]}


def seed_goals(session: Session, clock: Clock, survey_id: int) -> None:
    """Two goals on the demo survey and one action linked to both ("you said, we did")."""
    due = dt.date(2027, 3, 31)
    owner = "Advisory group with the Freedom to Speak Up guardian"
    favourable = goals.create_goal(session, clock, goals.GoalSpec(
        label="More staff feel safe to speak up", metric=FAVOURABLE, target=75,
        direction="at_least", due_on=due, owner=owner, survey_id=survey_id, row_id="speak",
        note="Speaking-up favourable at least 75% by March 2027.",
    ), actor="demo")  # fmt: skip
    gap = goals.create_goal(session, clock, goals.GoalSpec(
        label="Close the speaking-up gap", metric=GAP, target=5, direction=AT_MOST, due_on=due,
        owner="Race equality network and HR", survey_id=survey_id, row_id="speak",
        dimension_id="ethnicity", first_group="global_majority", second_group="white",
        note="Global Majority and White staff within 5 points of each other.",
    ), actor="demo")  # fmt: skip
    goals.create_action(session, clock, goals.ActionSpec(
        taken_on=clock.today() - dt.timedelta(days=75),
        title="Board listening sessions with staff networks",
        description="Monthly sessions where the board hears directly from the race equality "
                    "network; every concern raised gets a written answer within a month.",
        goal_ids=(favourable.id, gap.id),
    ), actor="demo")  # fmt: skip
