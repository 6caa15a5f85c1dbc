"""A survey's admin-typed texts in each language: its title, intro and comment question.

The first configured language's texts are the survey's own columns; the others are kept
in `Survey.texts_by_language` ({"cy": {"title": …}}), typed by an admin under
`translations:` in the definition. A text not typed in a language falls back to the
first language's, so a respondent always sees something.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveys.models import Survey

# The fields an admin may type once per language.
TRANSLATABLE = ("title", "intro", "comment_question")


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
