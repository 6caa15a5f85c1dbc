"""Forms of the goals and actions pages (the advisory group's side)."""

from __future__ import annotations

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

NOT_NEEDED = SelectChoice("", "Not needed for this measure")


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (works without JavaScript, unlike a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GoalForm(FlaskForm):
    label = StringField("Goal", validators=[InputRequired("Enter a name for the goal."),
                                            Length(max=MAX_LABEL)],
                        description="In plain words, e.g. “More staff feel safe to speak up”.")
    metric = SelectField(
        "Measure", choices=[SelectChoice(k, v) for k, v in METRIC_LABELS.items()],
        description="Only figures Speak Up publishes can be goals.",
    )
    row = SelectField("Scale or question (survey measures)", choices=[],
                      description="For a favourable % or a gap.")
    pair = SelectField("Two groups to compare (gap only)", choices=[],
                       description="The gap is the difference between the two groups’ "
                                   "favourable shares, whichever is higher.")
    direction = RadioField("The goal is met when the figure is",
                           choices=[SelectChoice(k, v) for k, v in DIRECTION_LABELS.items()],
                           default="at_least",
                           validators=[InputRequired("Choose at least or at most.")])
    target = AsciiIntegerField("Target (whole percent, or percentage points for a gap)",
                          validators=[InputRequired("Enter a whole number from 0 to 100."),
                                      NumberRange(0, 100, "Enter a whole number from 0 to 100.")])
    due_on = AsciiDateField("Due by", validators=[InputRequired("Enter the due date.")],
                       description="The latest round opened, or the quarter ending, by this "
                                   "date counts.")
    owner = StringField("Owner", validators=[InputRequired("Enter an owner (a role or team)."),
                                             Length(max=MAX_OWNER)],
                        description="A role or team, not a person’s name.")
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=MAX_NOTE)])


class ArchiveForm(FlaskForm):
    archived = HiddenField(default="1")


class ActionForm(FlaskForm):
    taken_on = AsciiDateField("Date", validators=[InputRequired("Enter the date of the action.")])
    title = StringField("Action", validators=[InputRequired("Enter a title."),
                                              Length(max=MAX_TITLE)],
                        description="What was done, in a line staff will understand.")
    description = TextAreaField("What was done and why (optional)",
                                validators=[Optional(), Length(max=MAX_DESCRIPTION)])
    goals = CheckboxesField("Goals this action serves (optional)", choices=[],
                            coerce=coerce_ascii_int)


class HeadlineSurveyForm(FlaskForm):
    survey = RadioField("Headline survey", choices=[], validate_choice=True,
                        validators=[Optional()])
