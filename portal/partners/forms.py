"""Forms of the agency pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional, ValidationError

from portal.core.db import db
from portal.core.forms import EmailAddress
from portal.core.i18n import localized
from portal.core.models import Region
from portal.core.security import password_problems
from portal.core.validators import is_valid_mobile, uscc_problem
from portal.partners.licences import LicenceProblem, check_licence
from portal.partners.models import Grade

GRADE_LABELS = {Grade.GOLD: _l("Gold"), Grade.SILVER: _l("Silver"), Grade.BRONZE: _l("Bronze")}

USCC_MESSAGES = {
    "length": _l("The unified social credit code has 18 characters."),
    "characters": _l(
        "The unified social credit code uses only digits and the letters A–H, J–N, P–R, T–U, W–Y."
    ),
    "check": _l(
        "This unified social credit code is not valid: its check character does not match. "
        "Copy it again from the business licence."
    ),
}


def region_choices():
    return [
        (r.id, f"{r.code} · {localized(r, 'name')}")
        for r in db.session.scalars(sa.select(Region).order_by(Region.code))
    ]


def grade_choices():
    return [(g.value, GRADE_LABELS[g]) for g in Grade]


class _CompanyFields(FlaskForm):
    name = StringField(_l("Company name"), validators=[DataRequired(), Length(max=200)])
    uscc = StringField(_l("Unified social credit code"), validators=[DataRequired(), Length(max=40)])
    legal_representative = StringField(
        _l("Legal representative"), validators=[DataRequired(), Length(max=64)]
    )
    contact_name = StringField(_l("Contact name"), validators=[DataRequired(), Length(max=64)])
    mobile = StringField(_l("Mobile phone"), validators=[DataRequired(), Length(max=20)])
    region_id = SelectField(_l("Region"), coerce=int, validators=[InputRequired()], choices=[])
    address = StringField(_l("Business address"), validators=[DataRequired(), Length(max=300)])
    business_scope = TextAreaField(_l("Business scope"), validators=[DataRequired(), Length(max=4000)])
    licence = FileField(_l("Business licence (PDF, JPEG or PNG, at most 5 MB)"))

    licence_required = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.region_id.choices = region_choices()
        self.checked_licence = None

    def validate_uscc(self, field):
        problem = uscc_problem(field.data or "")
        if problem:
            raise ValidationError(USCC_MESSAGES[problem])

    def validate_mobile(self, field):
        if not is_valid_mobile(field.data or ""):
            raise ValidationError(_l("Enter a mainland mobile number: 11 digits starting with 13–19."))

    def validate_licence(self, field):
        upload = field.data
        if upload is None or not getattr(upload, "filename", None):
            if self.licence_required:
                raise ValidationError(_l("Attach the business licence (PDF, JPEG or PNG)."))
            return
        try:
            self.checked_licence = check_licence(upload.stream, upload.filename)
        except LicenceProblem as exc:
            raise ValidationError(str(exc)) from exc


class ApplicationForm(_CompanyFields):
    email = EmailField(_l("E-mail (your sign-in)"), validators=[DataRequired(), EmailAddress()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )
    accept_agreement = BooleanField(_l("I have read and accept the agency agreement"))

    def validate_password(self, field):
        problems = password_problems(field.data or "", self.email.data)
        if problems:
            raise ValidationError(str(problems[0]))

    def validate_accept_agreement(self, field):
        if not field.data:
            raise ValidationError(_l("Accept the agency agreement to apply."))


class ResubmitForm(_CompanyFields):
    """The applicant completes an application after a request for more information."""

    licence_required = False


class ApproveForm(FlaskForm):
    grade = SelectField(_l("Grade"), choices=[], validators=[InputRequired()])
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grade.choices = grade_choices()


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=2000)])


class InfoRequestForm(FlaskForm):
    note = TextAreaField(_l("What is missing"), validators=[DataRequired(), Length(max=2000)])


class GradeForm(FlaskForm):
    grade = SelectField(_l("New grade"), choices=[], validators=[InputRequired()])
    effective_from = DateField(_l("Effective from"), validators=[InputRequired()])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.grade.choices = grade_choices()


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=128)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress()])


class TransferForm(FlaskForm):
    new_owner = SelectField(_l("New owner"), coerce=int, choices=[], validators=[InputRequired()])
