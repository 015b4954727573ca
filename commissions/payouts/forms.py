"""Forms of the payout pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Regexp


class BankDetailsForm(FlaskForm):
    account_name = StringField(_l("Account name"), validators=[DataRequired(), Length(max=200)])
    bank_name = StringField(_l("Bank and branch"), validators=[DataRequired(), Length(max=200)])
    account_number = StringField(_l("Account number"), validators=[
        DataRequired(), Length(max=64),
        Regexp(r"^[0-9 ]{8,40}$", message=_l("Enter the account number: 8 to 40 digits."))])


class BankReferenceForm(FlaskForm):
    reference = StringField(_l("Bank reference"), validators=[DataRequired(), Length(max=128)])


class CarryForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class ConfirmationForm(FlaskForm):
    file = FileField(_l("Bank confirmation file (CSV)"), validators=[FileRequired()])
