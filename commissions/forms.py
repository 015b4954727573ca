"""Forms of the commission pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class RuleForm(FlaskForm):
    product = SelectField(_l("Product"), validators=[DataRequired()])
    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=16)])
    effective_from = DateField(_l("Effective from"), validators=[InputRequired()])
    effective_to = DateField(_l("Effective to (inclusive, optional)"), validators=[Optional()])
    one_off_per_unit = DecimalField(_l("One-off per unit (¥)"), places=2, default=0,
                                    validators=[InputRequired(), NumberRange(min=0)])
    one_off_rate = DecimalField(_l("One-off rate on the one-time fee (0–1)"), places=6, default=0,
                                validators=[InputRequired(), NumberRange(min=0, max=1)])
    share_rate = DecimalField(_l("Revenue share rate (0–1)"), places=6, default=0,
                              validators=[InputRequired(), NumberRange(min=0, max=1)])
    share_months = IntegerField(_l("Revenue share months"), default=12,
                                validators=[InputRequired(), NumberRange(min=0)])
    clawback_days = IntegerField(_l("Clawback days"), default=180, validators=[InputRequired(), NumberRange(min=0)])
    referral_bounty = DecimalField(_l("Referral bounty per order (¥)"), places=2, default=0,
                                   validators=[InputRequired(), NumberRange(min=0)])


class MultiplierForm(FlaskForm):
    grade = SelectField(_l("Grade"), choices=[SelectChoice("gold", _l("gold")), SelectChoice("silver", _l("silver")),
                                              SelectChoice("bronze", _l("bronze"))], validators=[DataRequired()])
    effective_from = DateField(_l("Effective from"), validators=[InputRequired()])
    multiplier = DecimalField(_l("Multiplier"), places=4, validators=[InputRequired(), NumberRange(min=0, max=10)])


class SettingsForm(FlaskForm):
    min_payout = DecimalField(_l("Minimum payout (¥)"), places=2, validators=[InputRequired(), NumberRange(min=0)])


class PeriodForm(FlaskForm):
    period = StringField(_l("Period (YYYY-MM)"), validators=[DataRequired(), Length(min=7, max=7)])


class DisputeForm(FlaskForm):
    comment = TextAreaField(_l("What is wrong with this line?"), validators=[DataRequired(), Length(max=2000)])


class AcceptDisputeForm(FlaskForm):
    amount = DecimalField(_l("Adjustment (¥, negative to deduct)"), places=2, validators=[InputRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class RejectDisputeForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class ResolveConflictForm(FlaskForm):
    agency = SelectField(_l("Attribute the sale to"), coerce=int, validators=[DataRequired()])
