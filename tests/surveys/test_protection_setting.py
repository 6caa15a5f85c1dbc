"""The per-survey protection: chosen by the admin, frozen at opening, applied at publication."""

from __future__ import annotations

import random

from conftest import post_form
from publish_factory import ITEMS, add_responses, make_round, random_respondents, stored_round
from publish_factory import make_survey as make_bare_survey
from surveys_testlib import make_survey, open_round_now

from surveys import admin_services, rounds
from surveys.itembank import load_item_bank
from surveys.models import Round, Survey
from surveys.protection import MAX_NOISE, describe
from surveys.publish import publish_round

FORM = {
    "title": "Spring pulse",
    "sector": "general",
    "items": ["psafe_1", "psafe_2", "wres_5"],
    "ask_ethnicity": "y",
    "ethnicity_options": "Global Majority\nWhite",
    "comment_question": "Anything else?",
    "schedule": "monthly, first Monday 09:00",
    "timezone": "Europe/London",
    "open_days": "14",
    "reminder_offsets": "4, 10",
    "min_group_size": "5",
    "active": "y",
}


def test_a_round_keeps_the_protection_it_opened_with(session, clock, settings):
    survey = make_survey(session, clock, settings, protection="perturb")
    assert survey.protection == "perturb"
    first = open_round_now(session, clock, survey, settings)
    session.refresh(first)
    assert first.protection == "perturb"

    spec = admin_services.check_spec({**admin_services.export_spec(survey),
                                      "protection": "suppress"}, settings, now=clock.now())
    changed = admin_services.update_survey(session, clock, survey, spec, actor="test")
    assert changed == ["protection"]
    session.refresh(first)
    assert first.protection == "perturb"  # changing the survey does not reach an open round
    rounds.close_round(session, first, clock)
    clock.advance(days=1)
    second = open_round_now(session, clock, survey, settings)
    session.refresh(second)
    assert second.protection == "suppress"


def test_a_survey_defined_without_a_protection_suppresses(session, clock, settings):
    survey = make_survey(session, clock, settings)
    session.refresh(survey)
    assert survey.protection == "suppress"
    assert admin_services.export_spec(survey)["protection"] == "suppress"


def test_the_admin_form_refuses_an_unknown_protection_and_keeps_the_text(
    client, session, login_as
):
    login_as("admin")
    page = client.get("/admin/surveys/new").get_data(as_text=True)
    assert "Protection of small groups" in page and 'value="perturb"' in page
    refused = post_form(client, "/admin/surveys/new", {**FORM, "protection": "coarsen",
                                                       "save": "1"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "The protection must be one of: suppress, perturb" in html
    assert 'value="Spring pulse"' in html and "Anything else?" in html
    assert session.query(Survey).count() == 0

    saved = post_form(client, "/admin/surveys/new", {**FORM, "protection": "perturb",
                                                     "save": "1"})
    assert saved.status_code == 302
    survey = session.query(Survey).one()
    assert survey.protection == "perturb"
    detail = client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert "Suppression and small deliberate noise" in detail


def _publish(session, settings, clock, protection: str | None, people):
    survey = make_bare_survey(session)
    round_ = make_round(session, survey, keys=settings)
    round_.protection = protection
    add_responses(session, round_, people)
    publish_round(session, round_, settings, clock)
    return stored_round(session, round_.id)


def test_publication_applies_the_rounds_frozen_protection(session, settings, clock):
    bank = load_item_bank()
    people = random_respondents(random.Random(17), bank, ITEMS, 120,
                                [{"id": "ethnicity", "options": [{"id": "global_majority"},
                                                                 {"id": "white"}]}])
    exact = _publish(session, settings, clock, None, people)
    noisy = _publish(session, settings, clock, "perturb", people)
    assert exact.protection == "suppress" and noisy.protection == "perturb"
    assert abs(noisy.responses - exact.responses) <= MAX_NOISE
    moved = 0
    for shown, true in zip(noisy.items, exact.items, strict=True):
        assert shown.overall is not None and true.overall is not None
        for value, count in shown.overall.distribution.items():
            true_count = true.overall.distribution[value]
            assert count not in (1, 2) and abs(count - true_count) <= MAX_NOISE
            moved += count != true_count
        assert shown.overall.n == sum(shown.overall.distribution.values())
        for group, cell in shown.by_group["ethnicity"].items():
            # Perturbation adds to suppression, never replaces it: hidden stays hidden.
            if true.by_group["ethnicity"][group] is None:
                assert cell is None
    assert moved > 0
    # The secret is drawn afresh for each publication and not kept in what is stored.
    again = _publish(session, settings, clock, "perturb", people)
    assert [r.overall for r in again.items] != [r.overall for r in noisy.items]
    assert set(again.to_payload()) == set(exact.to_payload())
    # The true figures equal the respondents' own counts: suppress publishes them exactly.
    for row in exact.items:
        answered = [p.answers.get(row.id) for p in people if p.answers.get(row.id) is not None]
        for value, count in row.overall.distribution.items():
            assert count == sum(1 for a in answered if str(a) == value)


def test_the_round_page_says_what_the_protection_did(client, session, settings, clock, login_as):
    bank = load_item_bank()
    people = random_respondents(random.Random(3), bank, ITEMS, 60, [])
    exact = _publish(session, settings, clock, None, people)
    noisy = _publish(session, settings, clock, "perturb", people)
    session.commit()
    login_as("reviewer")
    exact_page = client.get(f"/review/rounds/{exact.round_id}").get_data(as_text=True)
    noisy_page = client.get(f"/review/rounds/{noisy.round_id}").get_data(as_text=True)
    assert describe("suppress") in exact_page and describe("perturb") not in exact_page
    assert describe("perturb") in noisy_page


def test_rounds_list_shows_each_rounds_frozen_k_and_protection(
    client, session, clock, settings, login_as
):
    survey = make_survey(session, clock, settings, protection="perturb")
    round_ = open_round_now(session, clock, survey, settings)
    session.commit()
    login_as("admin")
    page = client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert session.get(Round, round_.id).protection == "perturb"
    assert "k 3, suppression and noise" in page
