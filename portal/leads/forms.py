"""Forms of the lead pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.core.validators import is_valid_mobile, normalise_uscc, uscc_problem


def valid_uscc(form, field):
    field.data = normalise_uscc(field.data)
    problem = uscc_problem(field.data)
    if problem == "length":
        raise ValidationError(_l("A unified social credit code has 18 characters."))
    if problem == "characters":
        raise ValidationError(_l("Use digits and the letters A–H, J–N, P–R, T–U, W–Y only."))
    if problem == "check":
        raise ValidationError(_l("The check character does not match: please check the code."))


def valid_mobile(form, field):
    if not is_valid_mobile(field.data or ""):
        raise ValidationError(_l("Enter a mainland mobile number (11 digits starting with 13–19)."))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LeadForm(FlaskForm):
    customer_uscc = StringField(
        _l("Customer's unified social credit code"),
        validators=[DataRequired(), valid_uscc],
        render_kw={"autocomplete": "off", "maxlength": 18, "spellcheck": "false"},
    )
    customer_name = StringField(_l("Customer name"), validators=[Optional(), Length(max=200)])
    contact_name = StringField(_l("Contact person"), validators=[DataRequired(), Length(max=64)])
    contact_mobile = StringField(
        _l("Contact mobile"),
        validators=[DataRequired(), valid_mobile],
        render_kw={"inputmode": "tel", "maxlength": 20},
    )
    products = MultiCheckboxField(
        _l("Products"), validators=[DataRequired(_l("Choose at least one product."))], choices=[]
    )
    expected_lines = IntegerField(
        _l("Expected number of lines"),
        default=1,
        validators=[InputRequired(), NumberRange(min=0, max=1_000_000)],
    )
    expected_monthly_revenue = DecimalField(
        _l("Expected monthly revenue (yuan)"),
        places=2,
        default=0,
        validators=[InputRequired(), NumberRange(min=0, max=1_000_000_000)],
    )
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)], render_kw={"rows": 3})


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2})


class OptionalReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})


class ExtensionDecisionForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice("grant", _l("Grant the extension")),
            SelectChoice("deny", _l("Refuse the extension")),
        ],
        validators=[DataRequired()],
    )
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})


class RouteForm(FlaskForm):
    account_manager = SelectField(_l("Account manager"), coerce=int, choices=[], validate_choice=True)


class WonForm(FlaskForm):
    order_id = StringField(_l("Order number (optional)"), validators=[Optional(), Length(max=64)])


class BulkApproveForm(FlaskForm):
    lead_ids = SelectMultipleField(_l("Leads"), coerce=int, choices=[], validate_choice=False)


class TokenForm(FlaskForm):
    name = StringField(
        _l("Token name"),
        validators=[DataRequired(), Length(max=100)],
        render_kw={"placeholder": _l("e.g. CRM integration")},
    )
