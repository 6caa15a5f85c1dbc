"""Admin pages and commands: define a survey, upload its audience, run its rounds."""

from __future__ import annotations

import io
import json

import yaml
from conftest import csrf_token_from, post_form
from sqlalchemy import select
from surveys_testlib import SPEC, make_survey, open_round_now, publish_as_admin, tokens_for

from speakup.models import AuditEntry
from speakup.settings import Settings
from surveys import admin_services, audience, rounds
from surveys.invitations import token_key
from surveys.models import Round, RoundStatus, Survey
from surveys.responses import Submission, submit_response

FORM = {
    "title": "Spring pulse",
    "sector": "healthcare",
    "intro": "Five minutes, anonymous.",
    "items": ["psafe_1", "psafe_2", "psafe_3", "psafe_4", "speak_1", "wres_5"],
    "ask_ethnicity": "y",
    "ethnicity_options": "Global Majority\nWhite",
    "ask_team": "y",
    "team_options": "Nursing\nEstates & Facilities",
    "comment_question": "Anything else?",
    "schedule": "monthly, first Monday 09:00",
    "timezone": "Europe/London",
    "open_days": "14",
    "reminder_offsets": "4, 10",
    "min_group_size": "5",
    "active": "y",
}
SPEC_ITEMS = admin_services.check_spec(SPEC, Settings(secret_key="x" * 40)).item_ids


def actions(session, name: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == name)))


def test_only_admins_reach_survey_pages(client, login_as):
    assert client.get("/admin/surveys/").status_code == 302  # to sign-in
    login_as("reviewer")
    assert client.get("/admin/surveys/").status_code == 403
    assert client.get("/admin/surveys/new").status_code == 403


def test_create_a_survey_with_a_schedule_preview(client, session, login_as):
    login_as("admin")
    page = client.get("/admin/surveys/new").get_data(as_text=True)
    assert 'value="psafe_1" id="item-psafe_1" checked' in page  # every item offered, chosen
    assert "Global Majority\nWhite" in page

    preview = post_form(client, "/admin/surveys/new", {**FORM, "preview": "1"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "The first Monday of every month at 09:00, Europe/London time." in html
    assert "opens Mon 6 Apr 2026, 09:00, closes Mon 20 Apr 2026, 09:00" in html
    assert session.scalars(select(Survey)).first() is None  # nothing saved by a preview

    saved = post_form(client, "/admin/surveys/new", {**FORM, "save": "1"})
    assert saved.status_code == 302
    survey = session.scalars(select(Survey)).one()
    assert survey.item_ids == FORM["items"] and survey.min_group_size == 5
    assert survey.reminder_offsets_days == [4, 10]
    assert [q["id"] for q in survey.demographics] == ["ethnicity", "team"]
    assert survey.demographics[1]["options"][1] == {
        "id": "estates_facilities", "label": "Estates & Facilities"}
    assert len(session.scalars(select(Round)).all()) == 2  # planned straight away
    assert actions(session, "survey.create")
    detail = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Spring pulse" in detail and "scheduled" in detail


BAD_DEFINITIONS = [
    ({"min_group_size": "2"}, "can never be below 3"),
    ({"schedule": "every now and then"}, "schedule"),
    ({"timezone": "Mars/Olympus"}, "not a time zone"),
    ({"items": []}, "Choose at least one question"),
    ({"reminder_offsets": "20"}, "does not fall inside"),
    ({"reminder_offsets": "soon"}, "whole numbers of days"),
    ({"schedule": "weekly, Monday 09:00"}, "must close before the next one opens"),
    ({"items": ["psafe_1", "forged_9"]}, "is not a valid choice"),
]


def test_bad_definitions_are_refused(client, session, login_as):
    login_as("admin")
    for change, message in BAD_DEFINITIONS:
        response = post_form(client, "/admin/surveys/new", {**FORM, **change, "save": "1"})
        assert response.status_code == 400, change
        assert message in response.get_data(as_text=True), change
    assert session.scalars(select(Survey)).first() is None


def test_changing_k_is_audited_and_questions_are_locked_while_a_round_is_open(
    client, session, clock, settings, login_as
):
    login_as("admin")
    survey = make_survey(session, clock, settings, ["a@example.org"])
    session.commit()
    form = {**FORM, "items": SPEC_ITEMS, "schedule": SPEC["schedule"], "open_days": "3",
            "reminder_offsets": "1, 2", "min_group_size": "4", "save": "1"}
    response = post_form(client, f"/admin/surveys/{survey.id}/edit", form)
    assert response.status_code == 302
    [entry] = actions(session, "survey.update")
    assert json.loads(entry.detail)["k"] == {"from": 3, "to": 4}

    open_round_now(session, clock, survey, settings)
    session.commit()
    locked = post_form(client, f"/admin/surveys/{survey.id}/edit",
                       {**form, "items": ["psafe_1"]})
    assert locked.status_code == 400
    assert "cannot change while a round is open" in locked.get_data(as_text=True)


def upload(client, survey_id: int, content: bytes):
    url = f"/admin/surveys/{survey_id}/audience"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token,
                                  "file": (io.BytesIO(content), "staff.csv")},
                       content_type="multipart/form-data")


def test_audience_upload_merges_duplicates_and_reports_them(client, session, clock, settings,
                                                            login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings)
    session.commit()
    csv_bytes = ("\ufeffName,Email\nAna,ana@example.org\nBo,BO@Example.org\n\n"
                 "Ana again,Ana@example.org\nBo,bo@example.org\n").encode()
    response = upload(client, survey.id, csv_bytes)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved 2 e-mail addresses. 2 repeated rows were merged" in page
    assert "(lines 5, 6)" in page and "1 empty line held" in page
    assert audience.audience_size(session, survey.id) == 2


def test_a_bad_audience_file_is_refused_with_line_numbers_and_saves_nothing(
    client, session, clock, settings, login_as
):
    login_as("admin")
    survey = make_survey(session, clock, settings, ["kept@example.org"])
    session.commit()
    csv_bytes = (b"ok1@example.org\nnot an address\nok2@example.org\nfoo@@bar.org\n"
                 b"x@localhost\nok3@example.org\n")
    response = upload(client, survey.id, csv_bytes)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The file was not saved" in html
    for line, text in ((2, "contains a space"), (4, "exactly one @"), (5, "not a valid")):
        assert f'<td class="num">{line}</td><td>' in html and text in html
    assert audience.audience_size(session, survey.id) == 1  # the old audience is untouched

    assert "3 rows have problems: lines 2, 4 and 5." in html


def test_csv_parsing_details():
    parsed = audience.parse_audience_file(b"a@example.org\n\"b@example.org\"\n")
    assert parsed.ok and parsed.addresses == ["a@example.org", "b@example.org"]
    assert parsed.header_line is None
    empty = audience.parse_audience_file(b"email\n\n")
    assert not empty.ok and "no e-mail addresses" in empty.problems[0].message
    missing = audience.parse_audience_file(b"name,email\nAna\n")
    assert missing.problems[0].line == 2


def test_live_rate_is_shown_only_once_k_have_answered(client, session, clock, settings,
                                                      login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, [f"p{i}@example.org" for i in range(8)])
    round_ = open_round_now(session, clock, survey, settings)
    tokens = tokens_for(session, settings, round_, 3)
    key = token_key(settings)
    for token in tokens[:2]:
        submit_response(session, key, token, Submission(answers={"psafe_1": 4}))
    session.commit()
    page = client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert "fewer than 3 so far" in page
    assert rounds.live_responses(session, round_).responses is None

    submit_response(session, key, tokens[2], Submission(answers={"psafe_1": 4}))
    session.commit()
    page = client.get(f"/admin/surveys/{survey.id}").get_data(as_text=True)
    assert "3 (38% of 8 invited)" in page
    assert "invitation: 0 sent, 8 waiting" in page


def test_round_buttons_open_close_and_publish_and_are_audited(client, app, session, clock,
                                                              settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings, ["a@example.org", "b@example.org"])
    round_ = rounds.add_round(session, survey, clock.now())
    session.commit()
    detail = f"/admin/surveys/{survey.id}"
    for action, status in (("open", "open"), ("close", "closed"), ("publish", "published")):
        if action == "publish":
            response = publish_as_admin(client, app, round_.id)
            assert response.status_code == 200
        else:
            response = post_form(client, f"/admin/surveys/rounds/{round_.id}/{action}",
                                 {"confirmed": "yes", "understood": "y"})
            assert response.status_code == 302
        session.expire_all()
        assert session.get(Round, round_.id).status == status
        assert actions(session, f"survey.round.{action}")
    again = client.get(f"/admin/surveys/rounds/{round_.id}/close")
    assert "only an open round closes" in again.get_data(as_text=True)
    assert post_form(client, f"/admin/surveys/rounds/{round_.id}/delete", {},
                     page=detail).status_code == 404


def test_team_list_feeds_new_surveys(client, session, login_as):
    login_as("admin")
    response = post_form(client, "/admin/surveys/teams",
                         {"teams": "Nursing\n\nFinance & Estates\n"})
    assert response.status_code == 302
    assert admin_services.list_teams(session) == ["Nursing", "Finance & Estates"]
    page = client.get("/admin/surveys/new").get_data(as_text=True)
    assert "Nursing\nFinance &amp; Estates" in page
    dup = post_form(client, "/admin/surveys/teams", {"teams": "Nursing\nnursing"})
    assert dup.status_code == 400 and "listed twice" in dup.get_data(as_text=True)


def test_export_download_round_trips(client, session, clock, settings, login_as):
    login_as("admin")
    survey = make_survey(session, clock, settings)
    session.commit()
    body = client.get(f"/admin/surveys/{survey.id}/export.yaml").get_data(as_text=True)
    spec = admin_services.check_spec(yaml.safe_load(body), settings, now=clock.now())
    assert admin_services.spec_fields(spec) == admin_services.spec_fields(
        admin_services.check_spec(admin_services.export_spec(survey), settings, now=clock.now()))


# --- commands ----------------------------------------------------------------------


def test_commands_create_export_and_run_a_round(runner, session, settings, clock, tmp_path):
    definition = tmp_path / "survey.yaml"
    definition.write_text(yaml.safe_dump(SPEC))
    staff = tmp_path / "staff.csv"
    staff.write_text("email\na@example.org\nb@example.org\na@example.org\n")
    result = runner.invoke(args=["surveys", "create", "--from", str(definition),
                                 "--audience", str(staff)])
    assert result.exit_code == 0, result.output
    assert "line 4: a@example.org repeats line 2; merged." in result.output
    assert "Audience: 2 address(es)." in result.output
    survey = session.scalars(select(Survey)).one()

    exported = runner.invoke(args=["surveys", "export", str(survey.id)])
    assert yaml.safe_load(exported.output)["items"] == survey.item_ids
    as_json = runner.invoke(args=["surveys", "export", str(survey.id), "--format", "json"])
    assert json.loads(as_json.output)["min_group_size"] == 3

    first = session.scalars(select(Round).order_by(Round.opens_at)).first()
    opened = runner.invoke(args=["rounds", "open", str(first.id), "--yes"])
    assert opened.exit_code == 0, opened.output
    assert "2 invitation(s) queued" in opened.output and "Sent 2 e-mail(s)" in opened.output
    assert len(list(settings.outbox_path.glob("*.eml"))) == 2
    listing = runner.invoke(args=["rounds", "list"])
    assert "fewer than 3 responses so far" in listing.output
    assert runner.invoke(args=["rounds", "close", str(first.id), "--yes"]).exit_code == 0
    published = runner.invoke(args=["rounds", "publish", str(first.id), "--yes"])
    assert published.exit_code == 0, published.output
    assert "fewer than 3 responses of 2 invited" in published.output
    session.expire_all()
    assert session.get(Round, first.id).status == RoundStatus.PUBLISHED
    assert [e.actor for e in actions(session, "survey.round.open")] == ["cli"]
    again = runner.invoke(args=["rounds", "close", str(first.id), "--yes"])
    assert again.exit_code == 1 and "only an open round closes" in again.output


def test_create_command_lists_every_problem(runner, session, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**SPEC, "min_group_size": 2, "items": ["nope"], "colour": 1}))
    result = runner.invoke(args=["surveys", "create", "--from", str(bad)])
    assert result.exit_code == 1
    for text in ("min_group_size", "no item “nope”", "Unknown field(s): colour", "not saved"):
        assert text in result.output
    assert session.scalars(select(Survey)).first() is None
