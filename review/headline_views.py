"""The headline survey: which survey the overview and the staff results page show first.

An admin's choice, stored as a site setting (`speakup.site_settings`); without one,
the survey whose round was published last comes first. Registered on the review
blueprint.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response
from wtforms import SelectChoice

from review import reports
from review.forms import HeadlineSurveyForm
from review.views import bp
from speakup import site_settings
from speakup.translatable import N_
from speakup.web import clock, db, role_required
from surveys.published import surveys_with_results

PUBLISHED_LAST = N_("The survey whose round was published last (the default)")


@bp.route("/headline-survey", methods=["GET", "POST"])
@role_required("admin")
def headline_survey() -> str | Response | tuple[str, int]:
    titles = dict(surveys_with_results(db()))
    chosen = site_settings.headline_survey_id(db())
    form = HeadlineSurveyForm(data={"survey": str(chosen) if chosen in titles else ""})
    form.survey.choices = [SelectChoice("", _(PUBLISHED_LAST)), *(
        SelectChoice(str(i), titles[i]) for i in reports.publication_order(db()))]
    if form.validate_on_submit():
        wanted = int(form.survey.data) if form.survey.data else None
        site_settings.set_headline_survey(db(), clock(), current_user.email, wanted)
        db().commit()
        flash(_("Headline survey: %(title)s.", title=titles[wanted]) if wanted else
              _("Headline survey: the survey whose round was published last (the default)."),
              "info")
        return redirect(url_for("review.headline_survey"))
    status = 400 if form.errors else 200
    return render_template("review/headline.html", form=form, titles=titles,
                           chosen=chosen), status
