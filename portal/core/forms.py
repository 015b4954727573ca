"""Forms of the core pages (sign-in, two-factor, password reset, user administration)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from portal.core.models import STAFF_ROLES, Role
from portal.core.security import password_problems

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class EmailAddress:
    """A syntactically valid e-mail address. Unlike WTForms' `Email()`, special-use domains such
    as `.local` (the demo sign-ins, intranet mail) are accepted, and deliverability is not checked
    (the portal may run on an intranet without DNS)."""

    def __init__(self, message=None):
        self.message = message

    def __call__(self, form, field):
        value = (field.data or "").strip()
        if len(value) > 254 or not EMAIL_RE.match(value):
            raise ValidationError(self.message or _l("Enter a valid e-mail address."))
        field.data = value.lower()


ROLE_LABELS = {
    Role.AGENCY_OWNER: _l("Agency owner"),
    Role.AGENCY_SALES: _l("Agency sales"),
    Role.CHANNEL_MANAGER: _l("Channel manager"),
    Role.ACCOUNT_MANAGER: _l("Account manager"),
    Role.FINANCE: _l("Finance"),
    Role.ADMIN: _l("Administrator"),
}


class SignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class TotpForm(FlaskForm):
    code = StringField(_l("Six-digit code"), validators=[DataRequired(), Length(min=6, max=7)])


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress()])


class NewPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )

    def __init__(self, *args, email: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._email = email

    def validate_password(self, field):
        problems = password_problems(field.data or "", self._email)
        if problems:
            raise ValidationError(str(problems[0]))


class StaffUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), EmailAddress()])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=128)])
    role = SelectField(_l("Role"), choices=[])
    regions = SelectMultipleField(_l("Regions"), coerce=int, choices=[])
    password = PasswordField(_l("Initial password"), validators=[DataRequired()])

    def __init__(self, *args, region_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = [(r.value, ROLE_LABELS[r]) for r in Role if r in STAFF_ROLES]
        self.regions.choices = list(region_choices)

    def validate_password(self, field):
        problems = password_problems(field.data or "", self.email.data)
        if problems:
            raise ValidationError(str(problems[0]))


class EditUserForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[])
    regions = SelectMultipleField(_l("Regions"), coerce=int, choices=[])
    enabled = BooleanField(_l("May sign in"))

    def __init__(self, *args, region_choices=(), agency_user=False, **kwargs):
        super().__init__(*args, **kwargs)
        roles = [r for r in Role if (r not in STAFF_ROLES) == agency_user]
        self.role.choices = [(r.value, ROLE_LABELS[r]) for r in roles]
        self.regions.choices = list(region_choices)


class RegionForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(min=2, max=8)])
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=64)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=64)])


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that post."""
