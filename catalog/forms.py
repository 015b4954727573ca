"""Forms of the catalog administration and of group customers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from catalog.customer_tiers import INDUSTRIES
from catalog.labels import INDUSTRY_LABELS

SCORE_CHOICES = [SelectChoice(str(n), str(n)) for n in range(1, 6)]


def _int_or_none(value):
    if value in (None, "", "None"):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ProductForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=128)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=128)])
    category = StringField(_l("Category"), validators=[DataRequired(), Length(max=32)])
    description_zh = TextAreaField(_l("Description (Chinese)"), validators=[Optional(), Length(max=4000)])
    description_en = TextAreaField(_l("Description (English)"), validators=[Optional(), Length(max=4000)])
    monthly_price = StringField(_l("Monthly list price (yuan)"), validators=[Optional(), Length(max=20)])
    one_time_price = StringField(_l("One-time list price (yuan)"), validators=[Optional(), Length(max=20)])
    module_complexity = SelectField(
        _l("Functional-module complexity"),
        choices=SCORE_CHOICES,
        coerce=_int_or_none,
        validators=[DataRequired()],
    )
    market_exclusivity = SelectField(
        _l("Market exclusivity"),
        choices=SCORE_CHOICES,
        coerce=_int_or_none,
        validators=[DataRequired()],
    )
    training_requirement = SelectField(
        _l("Service-training requirement"),
        choices=SCORE_CHOICES,
        coerce=_int_or_none,
        validators=[DataRequired()],
    )


class TierOverrideForm(FlaskForm):
    tier = SelectField(
        _l("Tier"),
        choices=[
            SelectChoice("", _l("As derived from the scores")),
            SelectChoice("low", _l("Low complexity")),
            SelectChoice("high", _l("High complexity")),
        ],
        validators=[Optional()],
    )
    reason = TextAreaField(_l("Reason (shown on the product)"), validators=[Optional(), Length(max=2000)])


class ImportForm(FlaskForm):
    """Step 1: upload a file; the portal shows its report and applies nothing."""

    file = FileField(_l("CSV file"), validators=[FileRequired()])


class ImportConfirmForm(FlaskForm):
    """Step 2: apply (or discard) the upload previewed and kept on the server under `upload`."""

    upload = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    discard = SubmitField(_l("Discard this file"))


class CustomerForm(FlaskForm):
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(), Length(max=18)])
    name = StringField(_l("Customer name"), validators=[DataRequired(), Length(max=200)])
    industry = SelectField(_l("Industry"), choices=[SelectChoice(i, INDUSTRY_LABELS[i]) for i in INDUSTRIES])
    region_id = SelectField(_l("Region"), coerce=_int_or_none, choices=[], validators=[DataRequired()])
    monthly_spend = StringField(_l("Monthly spend (yuan)"), validators=[Optional(), Length(max=20)])
    members = StringField(_l("Members"), validators=[Optional(), Length(max=9)])
    strategic = BooleanField(_l("Strategic customer"))
    account_manager_id = SelectField(
        _l("Owning account manager"), coerce=_int_or_none, choices=[], validators=[Optional()]
    )


class CustomerTierForm(FlaskForm):
    tier = SelectField(_l("Tier"), choices=[SelectChoice(t, t) for t in "ABCD"], validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])
