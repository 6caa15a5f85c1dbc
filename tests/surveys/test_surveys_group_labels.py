"""Group questions carry a short label for reports; renaming a group keeps its id (trends)."""

from __future__ import annotations

import pytest
from conftest import post_form
from sqlalchemy import select
from surveys_testlib import SPEC, make_survey, open_round_now, tokens_for
from test_surveys_admin import FORM

from speakup.settings import Settings
from surveys import admin_services, rounds
from surveys.invitations import token_key
from surveys.models import Survey
from surveys.responses import Submission, submit_response


def _check(demographics):
    return admin_services.check_spec({**SPEC, "demographics": demographics},
                                     Settings(secret_key="x" * 40))


def test_short_labels_are_kept_defaulted_and_checked():
    spec = _check([{**SPEC["demographics"][0], "short_label": "Ethnicity"},
                   SPEC["demographics"][1],
                   {"id": "work_pattern", "label": "Do you work shifts?", "options": ["Yes"]}])
    assert [q["short_label"] for q in spec.demographics] == ["Ethnicity", "Team",
                                                            "Work pattern"]
    for bad, message in (("x" * 41, "the limit is 40"), ("  ", "cannot be empty"),
                         (7, "must be text")):
        with pytest.raises(admin_services.SurveySpecError) as caught:
            _check([{**SPEC["demographics"][0], "short_label": bad}])
        [(where, text)] = caught.value.problems
        assert where == "demographics[1].short_label" and message in text


def test_form_sets_short_labels_and_renames_keep_ids(client, session, login_as):
    login_as("admin")
    page = client.get("/admin/surveys/new").get_data(as_text=True)
    assert 'value="Ethnicity group"' in page and 'value="Team"' in page
    saved = post_form(client, "/admin/surveys/new", {**FORM, "save": "1",
                                                     "team_short_label": "Directorate"})
    assert saved.status_code == 302
    survey = session.scalars(select(Survey)).one()
    assert [q["short_label"] for q in survey.demographics] == ["Ethnicity group", "Directorate"]
    edit = f"/admin/surveys/{survey.id}/edit"
    assert 'value="Directorate"' in client.get(edit).get_data(as_text=True)
    # Rename "Estates & Facilities" to "Estates and Facilities": same id, new name.
    renamed = post_form(client, edit, {
        **FORM, "save": "1", "team_short_label": "Directorate",
        "team_options": "Nursing\nEstates and Facilities (was Estates & Facilities)\nPharmacy"})
    assert renamed.status_code == 302
    session.expire_all()
    team = session.get(Survey, survey.id).demographics[1]
    assert team["options"] == [
        {"id": "nursing", "label": "Nursing"},
        {"id": "estates_facilities", "label": "Estates and Facilities"},
        {"id": "pharmacy", "label": "Pharmacy"},
    ]
    assert "in reports: “Directorate”" in client.get(f"/admin/surveys/{survey.id}").get_data(
        as_text=True)


def test_short_label_reaches_the_publication_and_may_change_during_a_round(
        session, clock, settings):
    survey = make_survey(session, clock, settings, ["a@example.org"])
    round_ = open_round_now(session, clock, survey, settings)
    # A short label is for reports only, so it may change while the round is open.
    relabelled = admin_services.export_spec(survey)
    relabelled["demographics"][1]["short_label"] = "Ward"
    spec = admin_services.check_spec(relabelled, settings, now=clock.now())
    assert admin_services.update_survey(session, clock, survey, spec, actor="test") == [
        "demographics"]
    key = token_key(settings)
    for token in tokens_for(session, settings, round_, 3):
        submit_response(session, key, token, Submission(answers={"psafe_1": 4}))
    rounds.close_round(session, round_, clock)
    published = rounds.publish(session, round_, settings, clock)
    assert [(d.id, d.short_label, d.name) for d in published.dimensions] == [
        ("ethnicity", "Ethnicity group", "Ethnicity group"), ("team", "Ward", "Ward")]
