"""Admin forms for surveys: the survey definition, the audience upload, the team list."""

from __future__ import annotations

import functools
import re
from typing import Any

from babel import Locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, InputRequired, Length, Optional

from speakup.forms import AsciiIntegerField
from surveys.admin_services import (
    ETHNICITY_QUESTION,
    MAX_INTRO,
    MAX_QUESTION,
    MAX_SHORT_LABEL,
    MAX_TITLE,
    TEAM_QUESTION_LABEL,
    default_short_label,
    slug,
)
from surveys.itembank import ItemBank
from surveys.protection import DEFAULT_PROTECTION, PROTECTIONS
from surveys.texts import GROUP_TEXTS, TRANSLATABLE

# Which spec field's problems show next to which form field.
SPEC_TO_FORM = {
    "title": "title",
    "intro": "intro",
    "items": "items",
    "instruments": "items",
    "sector": "sector",
    "comment_question": "comment_question",
    "schedule": "schedule",
    "timezone": "timezone",
    "open_days": "open_days",
    "reminder_offsets_days": "reminder_offsets",
    "min_group_size": "min_group_size",
    "protection": "protection",
    "active": "active",
}


class SurveyForm(FlaskForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=MAX_TITLE)],
                        description=_l("Shown to staff in the invitation and on the survey page."))
    intro = TextAreaField(_l("Introduction (optional)"),
                          validators=[Optional(), Length(max=MAX_INTRO)],
                          description=_l("A few sentences at the top of the survey page."))
    sector = SelectField(
        _l("Sector"), choices=[SelectChoice("general", _l("General")),
                           SelectChoice("healthcare",
                                        _l("Healthcare (hospitals, care and health services)"))],
        default="general",
        description=_l("Some questions are asked only in one sector, such as raising concerns "
                    "about unsafe clinical practice in healthcare."),
    )
    items = SelectMultipleField(_l("Questions from the item bank"), choices=[])
    ask_ethnicity = BooleanField(_l("Ask which ethnicity group people identify with"))
    ethnicity_options = TextAreaField(
        _l("Ethnicity groups, one per line"), validators=[Optional(), Length(max=2000)],
        description=_l("“Prefer not to say” is always added. To rename a group and keep its "
                    "results over time joined up, write “New name (was Old name)”."),
    )
    ethnicity_short_label = StringField(
        _l("Short label for ethnicity group in reports"), validators=[Optional(),
                                                                  Length(max=MAX_SHORT_LABEL)],
        description=_l("Used in headings, charts and downloads, e.g. “Ethnicity group”."),
    )
    ask_team = BooleanField(_l("Ask which team or directorate people work in"))
    team_options = TextAreaField(
        _l("Teams or directorates, one per line"), validators=[Optional(), Length(max=6000)],
        description=_l("Starts from the team list kept under Surveys › Teams. "
                    "“Prefer not to say” is always added. To rename a group and keep its "
                    "results over time joined up, write “New name (was Old name)”."),
    )
    team_short_label = StringField(
        _l("Short label for team in reports"), validators=[Optional(), Length(max=MAX_SHORT_LABEL)],
        description=_l("Used in headings, charts and downloads, e.g. “Team” or “Directorate”."),
    )
    comment_question = StringField(
        _l("Comment question (optional)"), validators=[Optional(), Length(max=MAX_QUESTION)],
        description=_l("Leave empty to ask for no comment. Comments are published only for the "
                    "whole organisation, only if a round has enough responses, in random order."),
    )
    schedule = StringField(
        _l("Schedule"), validators=[InputRequired(), Length(max=200)],
        description=_l("For example “monthly, first Monday 09:00”, “quarterly, first Monday "
                    "09:00”, “weekly, Monday 09:00”, or a cron expression such as "
                    "“0 9 1-7 * mon”."),
    )
    timezone = StringField(_l("Time zone"), validators=[InputRequired(), Length(max=64)],
                           description=_l("The schedule is read on this clock, e.g. "
                                          "Europe/London."))
    open_days = AsciiIntegerField(_l("Days each round stays open"), validators=[InputRequired()])
    reminder_offsets = StringField(
        _l("Reminders, in days after opening (optional)"), validators=[Optional(), Length(max=100)],
        description=_l("Separate with commas, e.g. “4, 10”. Reminders go to everyone invited."),
    )
    min_group_size = AsciiIntegerField(
        _l("Minimum group size (k)"), validators=[InputRequired()],
        description=_l("No result for fewer than this many people is ever shown. At least 3; "
                    "each round keeps the value it had when it opened."),
    )
    protection = SelectField(
        _l("Protection of small groups"),
        choices=[SelectChoice(name, label) for name, label in PROTECTIONS.items()],
        default=DEFAULT_PROTECTION,
        # The choice is checked by check_spec, whose message says what the choices are.
        validate_choice=False,
        description=_l("Suppression hides groups too small to protect and shows exact figures. "
                    "Adding noise also changes every count shown by at most 3, so that a "
                    "figure that changed by one person between rounds tells nobody's answer. "
                    "Each round keeps the protection it had when it opened."),
    )
    active = BooleanField(_l("Active: plan and open rounds on this schedule"))
    # The languages, other than the first, whose texts this form offers (survey_form).
    other_languages: tuple[str, ...] = ()

    def translation_fields(self) -> list[tuple[str, list[Any]]]:
        """(language name, its title, intro and comment question fields) for each."""
        return [(_language_name(code), [self[_field_name(name, code)] for name in TRANSLATABLE])
                for code in self.other_languages]

    def set_item_choices(self, bank: ItemBank) -> None:
        self.items.choices = [(item.id, item.text) for item in bank.items.values()]

    def load(self, spec: dict[str, Any]) -> None:
        """Fill the form from a survey definition (for GET)."""
        self.title.data = spec.get("title", "")
        self.intro.data = spec.get("intro", "")
        self.items.data = list(spec.get("items", []))
        self.sector.data = spec.get("sector", "general")
        questions = {q["id"]: q for q in spec.get("demographics", [])}
        ethnicity = questions.get("ethnicity")
        self.ask_ethnicity.data = ethnicity is not None
        self.ethnicity_options.data = "\n".join(
            o["label"] for o in (ethnicity or ETHNICITY_QUESTION)["options"]
        )
        self.ethnicity_short_label.data = (ethnicity or ETHNICITY_QUESTION).get(
            "short_label") or default_short_label("ethnicity")
        team = questions.get("team")
        self.team_short_label.data = (team or {}).get("short_label") or default_short_label("team")
        self.ask_team.data = team is not None
        self.team_options.data = "\n".join(o["label"] for o in (team or {}).get("options", []))
        self.comment_question.data = spec.get("comment_question") or ""
        self.schedule.data = spec.get("schedule", "")
        self.timezone.data = spec.get("timezone", "")
        self.open_days.data = spec.get("open_days")
        offsets = spec.get("reminder_offsets_days", [])
        self.reminder_offsets.data = ", ".join(str(d) for d in offsets)
        self.min_group_size.data = spec.get("min_group_size")
        self.protection.data = spec.get("protection", DEFAULT_PROTECTION)
        self.active.data = spec.get("active", True)
        translations = spec.get("translations") or {}
        for code in self.other_languages:
            for name in TRANSLATABLE:
                self[_field_name(name, code)].data = (translations.get(code) or {}).get(
                    name) or ""

    def to_spec(self, existing_demographics: list[dict[str, Any]],
                existing_translations: dict[str, dict[str, Any]] | None = None
                ) -> dict[str, Any]:
        """Build a survey definition from the posted form (checked later by check_spec).

        The group questions' texts in other languages have no place on the form (they are
        typed in a definition file): they are kept, less any question or option removed.
        """
        demographics: list[dict[str, Any]] = []
        existing = {q["id"]: q for q in existing_demographics}
        if self.ask_ethnicity.data:
            base = existing.get("ethnicity", ETHNICITY_QUESTION)
            question = {**base, "options": _options(self.ethnicity_options.data, base),
                        "short_label": self.ethnicity_short_label.data
                        or default_short_label("ethnicity")}
            demographics.append(question)
        if self.ask_team.data:
            base = existing.get("team", {"id": "team", "label": TEAM_QUESTION_LABEL})
            demographics.append({**base, "options": _options(self.team_options.data, base),
                                 "short_label": self.team_short_label.data
                                 or default_short_label("team")})
        # Questions defined in a file (other ids) are kept as they are.
        demographics.extend(q for qid, q in existing.items() if qid not in {"ethnicity", "team"})
        offsets: list[Any] = []
        for part in (self.reminder_offsets.data or "").replace(";", ",").split(","):
            part = part.strip()
            if part:
                offsets.append(int(part) if part.isascii() and part.isdigit() else part)
        translations = {
            code: {name: self[_field_name(name, code)].data for name in TRANSLATABLE
                   if (self[_field_name(name, code)].data or "").strip()}
            for code in self.other_languages}
        for code, texts in translations.items():
            kept = _kept_group_texts((existing_translations or {}).get(code), demographics)
            if kept:
                texts[GROUP_TEXTS] = kept
        spec: dict[str, Any] = {
            "title": self.title.data,
            "sector": self.sector.data,
            "intro": self.intro.data or "",
            "items": list(self.items.data or []),
            "demographics": demographics,
            "comment_question": self.comment_question.data or None,
            "schedule": self.schedule.data,
            "timezone": self.timezone.data,
            "open_days": self.open_days.data,
            "reminder_offsets_days": offsets,
            "min_group_size": self.min_group_size.data,
            "protection": self.protection.data,
            "active": bool(self.active.data),
        }
        if any(translations.values()):
            spec["translations"] = {code: texts for code, texts in translations.items()
                                    if texts}
        return spec


def _kept_group_texts(typed: dict[str, Any] | None, questions: list[dict[str, Any]]
                      ) -> dict[str, Any]:
    """A language's typed group texts for the questions and options still asked."""
    options = {q["id"]: {o["id"] for o in q.get("options", [])} for q in questions}
    kept: dict[str, Any] = {}
    for qid, texts in ((typed or {}).get(GROUP_TEXTS) or {}).items():
        if qid not in options:
            continue
        entry = {k: v for k, v in texts.items() if k != "options"}
        still = {oid: label for oid, label in (texts.get("options") or {}).items()
                 if oid in options[qid]}
        if still:
            entry["options"] = still
        if entry:
            kept[qid] = entry
    return kept


def _field_name(name: str, code: str) -> str:
    return f"{name}_{code}"


def _language_name(code: str) -> str:
    return Locale.parse(code).get_display_name("en") or code


@functools.lru_cache(maxsize=8)
def survey_form(languages: tuple[str, ...]) -> type[SurveyForm]:
    """The survey form with a title, intro and comment question for each other language."""
    fields: dict[str, Any] = {"other_languages": languages[1:]}
    for code in languages[1:]:
        name = _language_name(code)
        fields[_field_name("title", code)] = StringField(
            _l("Title in %(language)s (optional)", language=name),
            validators=[Optional(), Length(max=MAX_TITLE)],
            description=_l("Shown to people reading in %(language)s; left empty, they see the "
                           "title above.", language=name))
        fields[_field_name("intro", code)] = TextAreaField(
            _l("Introduction in %(language)s (optional)", language=name),
            validators=[Optional(), Length(max=MAX_INTRO)])
        fields[_field_name("comment_question", code)] = StringField(
            _l("Comment question in %(language)s (optional)", language=name),
            validators=[Optional(), Length(max=MAX_QUESTION)])
    return type("SurveyFormInLanguages", (SurveyForm,), fields)


def form_field(form: SurveyForm, spec_field: str) -> str:
    """The form field a problem with `spec_field` shows next to."""
    if spec_field.startswith("translations."):
        _, code, *rest = spec_field.split(".")
        name = _field_name(rest[0], code) if rest else None
        return name if name is not None and name in form else "title"
    return SPEC_TO_FORM.get(spec_field, "title")


_RENAMED = re.compile(r"(?P<new>.+?)\s*\(was (?P<old>[^()]+)\)\s*$", re.IGNORECASE)


def _options(text: str | None, base: dict[str, Any]) -> list[dict[str, str]]:
    """One option per line; an unchanged label keeps its id so trends stay joined up.

    "New name (was Old name)" renames a group: it keeps the old group's id, so its
    trend line carries on under the new name.
    """
    ids_by_label = {o["label"].lower(): o["id"] for o in base.get("options", [])}
    options = []
    for line in (text or "").splitlines():
        label = " ".join(line.split())
        if not label:
            continue
        renamed = _RENAMED.fullmatch(label)
        if renamed and renamed["old"].strip().lower() in ids_by_label:
            label = renamed["new"].strip()
            options.append({"id": ids_by_label[renamed["old"].strip().lower()], "label": label})
        else:
            options.append({"id": ids_by_label.get(label.lower(), slug(label)), "label": label})
    return options


class AudienceForm(FlaskForm):
    file = FileField(
        _l("Spreadsheet of staff e-mail addresses (CSV or Excel .xlsx)"),
        validators=[FileRequired(_l("Choose a CSV or Excel file to upload."))],
        description=_l("One address per row, or a header row with a column called “email”, "
                    "“E-mail” or “Email address”. Comma, semicolon and tab separated files "
                    "all work. It replaces the current audience for rounds that open from "
                    "now on."),
    )


class TeamsForm(FlaskForm):
    teams = TextAreaField(
        _l("Teams and directorates, one per line"), validators=[Optional(), Length(max=12000)],
        description=_l("New surveys offer these as answers to “which team or directorate”."),
    )


class ActionForm(FlaskForm):
    """A bare form for POST buttons (CSRF only)."""


class TestInvitationForm(FlaskForm):
    """"Send me a test invitation": in which of the offered languages (set by the view)."""

    # Optional: a form from before the choice existed sends the first language's.
    language = SelectField(_l("Language of the test invitation"), choices=[],
                           validators=[Optional()])


class ConfirmRoundForm(FlaskForm):
    """The confirmation step of open, close and publish: nothing moves without it."""

    confirmed = HiddenField(validators=[AnyOf(["yes"])])
    understood = BooleanField(
        _l("I understand that the raw answers will be deleted for good and cannot be recovered")
    )
