"""Services' own messages go through the catalogue where pages show them (issue 20).

Services import no Flask, so they cannot translate: their errors keep a catalogue message
marked with `N_` and its values (`speakup.translatable.TranslatableError`), and the view
says it in the reader's language (`speakup.i18n.said`). Three checks prove it:

- every message a service raises is extracted into the catalogue (an f-string would
  give English the catalogue cannot look up), and no service builds one from bare text;
- each view that shows a service's error shows what gettext returned: the active
  translations are replaced by one that writes every message as ⟦message⟧, so a view
  that printed `str(exc)` would show the bare English and fail;
- the shared notices (a publication already under way, a key sign-in with nothing
  waiting) go through gettext too.
"""

from __future__ import annotations

import ast
import html
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, REPO, post_form
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from test_languages_catalogue import extract

from concerns import categories, professional_groups, themes
from speakup import accounts, passkey_views, passkeys
from speakup.clock import FrozenClock
from speakup.i18n import said
from speakup.settings import Settings
from speakup.translatable import Translatable, TranslatableError
from surveys import admin_services, audience, confirm, protection, publication_jobs, rounds
from surveys.round_keys import RoundKeyFolder
from surveys.schedule import load_zone, parse_schedule, round_window

PACKAGES = ("speakup", "surveys", "concerns")
# concerns.crypto has a MalformedReceiptError of its own (not a message for a page).
NOT_SCANNED = {"concerns/crypto.py"}
# Calls in admin_services that note a problem of a survey definition.
PROBLEM_CALLS = {"problem", "_said", "Translatable"}
SPEC = {
    "title": "Pulse check",
    "instruments": ["psafe"],
    "schedule": "weekly, Monday 09:00",
    "timezone": "Europe/London",
    "open_days": 3,
    "reminder_offsets_days": [1],
    "min_group_size": 3,
}
FORM = {"title": "Spring pulse", "sector": "general", "items": ["psafe_1", "psafe_2"],
        "schedule": "monthly, first Monday 09:00", "timezone": "Europe/London",
        "open_days": "14", "reminder_offsets": "4", "min_group_size": "5", "active": "y"}


def page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def refusal(call: Callable[[], object]) -> TranslatableError:
    with pytest.raises(TranslatableError) as caught:
        call()
    return caught.value


def said_marked(english: object) -> str:
    """How a message with plain values reads through the marking catalogue."""
    return f"⟦{english}⟧"


# --- the catalogue ----------------------------------------------------------------------


def _service_errors() -> set[str]:
    for package in PACKAGES:
        for module in pkgutil.iter_modules([str(REPO / package)]):
            importlib.import_module(f"{package}.{module.name}")

    def below(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    return {cls.__name__ for cls in below(TranslatableError)}


def unmarked(source: str, names: set[str]) -> list[str]:
    """Text handed to a translatable error (or problem) as bare English or an f-string."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if name not in names:
            continue
        for arg in node.args:
            if isinstance(arg, ast.JoinedStr) or (
                    isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    and " " in arg.value):
                found.append(f"{node.lineno}: {ast.unparse(arg)[:60]}")
    return found


def test_no_service_raises_text_the_catalogue_cannot_find():
    names = _service_errors() | PROBLEM_CALLS
    assert {"AccountError", "PasskeyError", "ScheduleError", "RoundError", "ThemeError",
            "DisplayNameError", "PublicationError", "PublicationBusy"} <= names
    problems = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).glob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            if relative not in NOT_SCANNED and (found := unmarked(path.read_text(), names)):
                problems[relative] = found
    assert problems == {}


def test_the_check_catches_an_unmarked_message():
    names = {"RoundError", "problem"}
    assert unmarked('raise RoundError(f"Round {n} is open.")', names)
    assert unmarked('problem("title", "This must be text.")', names)
    assert not unmarked('raise RoundError(N_("Round %(n)s is open."), n=n)', names)


def _examples(settings: Settings) -> list[TranslatableError | Translatable]:
    """One refusal from each service module, made without a database."""
    with pytest.raises(admin_services.SurveySpecError) as spec:
        admin_services.check_spec(
            {**SPEC, "sector": "space", "schedule": "fortnightly", "open_days": 0,
             "protection": "blur", "demographics": [{"id": "X"}]}, settings)
    assert len(spec.value.problems) == 5
    return [
        refusal(lambda: accounts.normalise_email("not an address")),
        refusal(lambda: accounts.check_password_strength("short")),
        refusal(lambda: passkeys.clean_name("x" * (passkeys.MAX_NAME_LENGTH + 1))),
        refusal(lambda: parse_schedule("weekly, Someday 09:00")),
        refusal(lambda: parse_schedule("61 * * * *")),
        refusal(lambda: load_zone("Mars/Olympus")),
        refusal(lambda: round_window(FrozenClock().now(), 2, [5])),
        refusal(lambda: protection.check_protection("blur")),
        themes.THEMES.missing(),
        categories.CATEGORIES.missing(),
        professional_groups.GROUPS.missing(),
        *(message for _field, message in spec.value.problems),
    ]


def test_every_service_message_is_in_the_extracted_catalogue(tmp_path: Path,
                                                             settings: Settings):
    extracted = {m.id for m in extract(tmp_path) if m.id}
    examples = _examples(settings)
    for example in examples:
        assert isinstance(example, TranslatableError | Translatable), example
        assert example.message in extracted, str(example)
    # Each is the English it always was: the message with its values filled in.
    assert str(examples[1]) == "Use a password of at least 12 characters."
    for notice in (publication_jobs.BUSY_MESSAGE, passkey_views.NOTHING_WAITING,
                   passkeys.KEY_REFUSED, accounts.LOGIN_REFUSED):
        assert notice in extracted


def test_a_problem_keeps_the_english_of_the_error_it_came_from(settings: Settings):
    exc = refusal(lambda: parse_schedule("fortnightly"))
    kept = Translatable.of(exc)
    assert str(kept) == str(exc) and kept.message == exc.message
    assert kept.message.startswith("'%(schedule)s' is not a schedule")


# --- the pages --------------------------------------------------------------------------


def test_a_refused_sign_in_is_said_through_the_catalogue(client: FlaskClient, make_user,
                                                         marked: None):
    account = make_user("reviewer")
    response = post_form(client, "/login", {"email": account.user.email,
                                            "password": "not the password at all"})
    assert response.status_code == 401
    assert said_marked(accounts.LOGIN_REFUSED) in page(response)


def test_a_refused_password_change_is_said_through_the_catalogue(client: FlaskClient, login_as,
                                                                 marked: None):
    login_as("reviewer")
    response = post_form(client, "/account/password",
                         {"current": PASSWORD, "new": PASSWORD})
    assert response.status_code == 400
    assert said_marked("Choose a password different from the current one.") in page(response)


def test_the_keys_page_says_a_refused_key_through_the_catalogue(client: FlaskClient, login_as,
                                                                marked: None):
    login_as("reviewer")
    added = post_form(client, "/account/security/keys",
                      {"name": "work laptop", "response": "not a key's answer"},
                      page="/account/security")
    assert added.status_code == 400
    assert said_marked(passkeys.KEY_REFUSED) in page(added)
    removed = post_form(client, "/account/security/keys/999999/remove",
                        {"password": PASSWORD}, page="/account/security")
    assert removed.status_code == 404
    assert said_marked("That key is not one of yours.") in page(removed)


def test_a_key_sign_in_with_nothing_waiting_is_said_through_the_catalogue(
        client: FlaskClient, marked: None):
    response = client.get("/login/key")
    assert response.status_code == 400
    assert said_marked(passkey_views.NOTHING_WAITING) in page(response)


def test_the_accounts_page_says_a_refusal_through_the_catalogue(client: FlaskClient, login_as,
                                                                marked: None):
    admin = login_as("admin")
    response = post_form(client, "/admin/accounts/new", {
        "email": admin.user.email, "role": "reviewer", "password": PASSWORD})
    assert response.status_code == 400
    assert said_marked("An account with that e-mail address already exists.") in page(response)


def test_a_survey_definition_problem_is_said_through_the_catalogue(client: FlaskClient,
                                                                   login_as, marked: None):
    login_as("admin")
    response = post_form(client, "/admin/surveys/new",
                         {**FORM, "schedule": "every now and then", "save": "1"})
    assert response.status_code == 400
    english = str(refusal(lambda: parse_schedule("every now and then")))
    assert said_marked(english) in page(response)


def _survey(session: Session, clock: FrozenClock, settings: Settings, people: int = 1):
    spec = admin_services.check_spec(SPEC, settings, now=clock.now())
    survey = admin_services.create_survey(session, clock, spec, actor="test")
    if people:
        audience.replace_audience(session, clock, survey,
                                  [f"p{i}@example.org" for i in range(people)], actor="test")
    round_ = rounds.add_round(session, survey, clock.now())
    session.flush()
    return survey, round_


def test_questions_locked_by_an_open_round_are_said_through_the_catalogue(
        client: FlaskClient, session: Session, clock: FrozenClock, settings: Settings,
        login_as, marked: None):
    login_as("admin")
    survey, round_ = _survey(session, clock, settings)
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    session.commit()
    response = post_form(client, f"/admin/surveys/{survey.id}/edit",
                         {**FORM, "items": ["psafe_1"], "schedule": SPEC["schedule"],
                          "open_days": "3", "reminder_offsets": "1", "save": "1"})
    assert response.status_code == 400
    assert said_marked("The questions cannot change while a round is open: the answers "
                       "already given would not match. Change them after the round "
                       "closes.") in page(response)


def test_a_blocked_round_action_is_said_through_the_catalogue(
        client: FlaskClient, session: Session, clock: FrozenClock, settings: Settings,
        login_as, marked: None):
    login_as("admin")
    _survey_, round_ = _survey(session, clock, settings, people=0)
    session.commit()
    response = client.get(f"/admin/surveys/rounds/{round_.id}/open")
    assert said_marked("This survey has no audience yet, so nobody would be invited. Upload "
                       "the staff addresses first.") in page(response)
    closing = client.get(f"/admin/surveys/rounds/{round_.id}/close")
    assert said_marked("This round is scheduled; only an open round closes.") in page(closing)


def test_a_publication_under_way_is_said_through_the_catalogue(
        client: FlaskClient, session: Session, clock: FrozenClock, settings: Settings,
        login_as, marked: None):
    login_as("admin")
    _survey_, round_ = _survey(session, clock, settings)
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    assert rounds.close_round(session, round_, clock)
    publication_jobs.request_publication(session, round_, clock, actor="test")
    session.commit()
    response = post_form(client, f"/admin/surveys/rounds/{round_.id}/publish",
                         {"confirmed": "yes", "understood": "y"}, page="/admin/surveys/new",
                         follow_redirects=True)
    assert said_marked(publication_jobs.BUSY_MESSAGE) in page(response)


def test_a_publication_problem_on_the_preview_is_said_through_the_catalogue(
        app, session: Session, clock: FrozenClock, settings: Settings, marked: None):
    survey, round_ = _survey(session, clock, settings)
    assert rounds.open_round(session, round_, clock, keys=RoundKeyFolder.of(settings))
    assert rounds.close_round(session, round_, clock)
    survey.item_ids = ["no_such_item"]  # the survey can no longer be read: a problem
    session.flush()
    preview = confirm.preview_round_action(session, round_, "publish", settings, clock)
    problem = preview.suppression_problem
    assert isinstance(problem, Translatable)
    assert str(problem).startswith(f"Survey {survey.id}: ")  # the English, for the CLI
    with app.test_request_context():
        assert said(problem) == said_marked(problem)


def test_the_label_lists_say_a_refusal_through_the_catalogue(
        client: FlaskClient, session: Session, clock: FrozenClock, login_as, marked: None):
    login_as("admin")
    categories.add_category(session, clock, label="Rota fairness", actor="test")
    themes.add_theme(session, clock, label="Rota fairness", actor="test")
    session.commit()
    category = post_form(client, "/admin/concern-categories/", {"label": "rota fairness"})
    assert category.status_code == 400
    # The noun is a phrase of its own, said in the reader's language too.
    assert said_marked(f"Name: {said_marked('a category')} with that name already "
                       "exists.") in page(category)
    theme = post_form(client, "/admin/concern-themes/", {"label": "Rota Fairness"})
    assert theme.status_code == 400
    assert said_marked("Name: a theme with that name already exists.") in page(theme)


def test_a_handler_name_refusal_is_said_through_the_catalogue(client: FlaskClient, login_as,
                                                             make_user, marked: None):
    login_as("admin")
    handler = make_user("handler").user
    response = post_form(client, f"/admin/concern-handlers/{handler.id}",
                         {f"u{handler.id}-display_name": "Sam\u200bJones"},
                         page="/admin/concern-handlers/")
    assert response.status_code == 400
    assert said_marked("Use letters, spaces and punctuation only.") in page(response)


def test_the_theme_return_says_a_bad_quarter_through_the_catalogue(client: FlaskClient,
                                                                   login_as, marked: None):
    login_as("handler")
    response = client.get("/handle/themes?quarter=nonsense")
    assert response.status_code == 400
    assert said_marked("Choose a quarter like 2026-Q3.") in page(response)
