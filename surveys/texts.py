"""A survey's admin-typed texts in each language: its title, intro, comment question and
its group (demographic) questions.

The first configured language's texts are the survey's own columns; the others are kept
in `Survey.texts_by_language` ({"cy": {"title": …, "demographics": {"team": {"label": …,
"options": {"finance": …}}}}}), typed by an admin under `translations:` in the
definition. A text not typed in a language falls back to the first language's, so a
respondent always sees something. Answers are stored by option id, never by label, so
a group's figures count everyone whatever language they answered in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from surveys.models import Survey

# The fields an admin may type once per language.
TRANSLATABLE = ("title", "intro", "comment_question")
# Under it, a group question's texts a respondent reads (its short label is for reports,
# which stay in the first language).
GROUP_TEXTS = "demographics"


@dataclass(frozen=True)
class SurveyTexts:
    """What a respondent reads of one survey, in one language."""

    title: str
    intro: str
    comment_question: str | None


def survey_text(survey: Survey, name: str, language: str) -> str | None:
    """`name` ("title", "intro" or "comment_question") in `language`, else the first one's.

    A survey that asks no comment asks none in any language.
    """
    if name not in TRANSLATABLE:
        raise KeyError(name)
    own = getattr(survey, name)
    typed = (survey.texts_by_language or {}).get(language, {}).get(name)
    if name == "comment_question" and not own:
        return None
    return typed or own


def survey_texts(survey: Survey, language: str) -> SurveyTexts:
    return SurveyTexts(
        title=survey_text(survey, "title", language) or "",
        intro=survey_text(survey, "intro", language) or "",
        comment_question=survey_text(survey, "comment_question", language),
    )


def languages_with_texts(survey: Survey) -> list[str]:
    """The languages (other than the first) in which an admin typed any of the texts."""
    return sorted(code for code, texts in (survey.texts_by_language or {}).items()
                  if any(texts.get(name) for name in TRANSLATABLE))


@dataclass(frozen=True)
class GroupQuestion:
    """A group question as a respondent reads it in one language; options as (id, label)."""

    id: str
    label: str
    hint: str | None
    options: tuple[tuple[str, str], ...]


def group_questions(survey: Survey, language: str, catalogue: Callable[[str], str]
                    ) -> tuple[GroupQuestion, ...]:
    """The survey's group questions in `language`.

    Each text is the one typed in that language, else the catalogue's translation
    (`catalogue`, e.g. gettext: the default questions are in it), else as typed.
    """
    typed_questions: dict[str, Any] = (
        (survey.texts_by_language or {}).get(language, {}).get(GROUP_TEXTS) or {})

    def text(own: str, typed: str | None) -> str:
        return typed or catalogue(own)

    questions = []
    for question in survey.demographics or []:
        typed = typed_questions.get(question["id"]) or {}
        typed_options = typed.get("options") or {}
        hint = question.get("hint")
        questions.append(GroupQuestion(
            id=question["id"],
            label=text(question["label"], typed.get("label")),
            hint=text(hint, typed.get("hint")) if hint else None,
            options=tuple((o["id"], text(o["label"], typed_options.get(o["id"])))
                          for o in question.get("options", [])),
        ))
    return tuple(questions)
