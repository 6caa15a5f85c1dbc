"""Forms of the goals and actions pages (the advisory group's side)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from review.goals import (
    DIRECTION_LABELS,
    MAX_DESCRIPTION,
    MAX_LABEL,
    MAX_NOTE,
    MAX_OWNER,
    MAX_TITLE,
    METRIC_LABELS,
)
from speakup.digits import coerce_ascii_int
from speakup.forms import AsciiDateField, AsciiIntegerField

NOT_NEEDED = SelectChoice("", _l("Not needed for this measure"))


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (works without JavaScript, unlike a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GoalForm(FlaskForm):
    label = StringField(_l("Goal"), validators=[InputRequired(_l("Enter a name for the goal.")),
                                                Length(max=MAX_LABEL)],
                        description=_l("In plain words, e.g. “More staff feel safe to speak "
                                       "up”."))
    metric = SelectField(
        _l("Measure"), choices=[SelectChoice(k, v) for k, v in METRIC_LABELS.items()],
        description=_l("Only figures Speak Up publishes can be goals."),
    )
    row = SelectField(_l("Scale or question (survey measures)"), choices=[],
                      description=_l("For a favourable % or a gap."))
    pair = SelectField(_l("Two groups to compare (gap only)"), choices=[],
                       description=_l("The gap is the difference between the two groups’ "
                                      "favourable shares, whichever is higher."))
    direction = RadioField(_l("The goal is met when the figure is"),
                           choices=[SelectChoice(k, v) for k, v in DIRECTION_LABELS.items()],
                           default="at_least",
                           validators=[InputRequired(_l("Choose at least or at most."))])
    target = AsciiIntegerField(
        _l("Target (whole percent, or percentage points for a gap)"),
        validators=[InputRequired(_l("Enter a whole number from 0 to 100.")),
                    NumberRange(0, 100, _l("Enter a whole number from 0 to 100."))])
    due_on = AsciiDateField(_l("Due by"), validators=[InputRequired(_l("Enter the due date."))],
                            description=_l("The latest round opened, or the quarter ending, by "
                                           "this date counts."))
    owner = StringField(_l("Owner"),
                        validators=[InputRequired(_l("Enter an owner (a role or team).")),
                                    Length(max=MAX_OWNER)],
                        description=_l("A role or team, not a person’s name."))
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=MAX_NOTE)])


class ArchiveForm(FlaskForm):
    archived = HiddenField(default="1")


class ActionForm(FlaskForm):
    taken_on = AsciiDateField(_l("Date"),
                              validators=[InputRequired(_l("Enter the date of the action."))])
    title = StringField(_l("Action"), validators=[InputRequired(_l("Enter a title.")),
                                                  Length(max=MAX_TITLE)],
                        description=_l("What was done, in a line staff will understand."))
    description = TextAreaField(_l("What was done and why (optional)"),
                                validators=[Optional(), Length(max=MAX_DESCRIPTION)])
    goals = CheckboxesField(_l("Goals this action serves (optional)"), choices=[],
                            coerce=coerce_ascii_int)


class HeadlineSurveyForm(FlaskForm):
    survey = RadioField(_l("Headline survey"), choices=[], validate_choice=True,
                        validators=[Optional()])
