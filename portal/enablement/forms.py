"""Forms of enablement pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from portal.enablement.models import (
    SURVEY_DIMENSIONS,
    ComplaintCategory,
    ComplaintSeverity,
    MaterialKind,
    MaterialLanguage,
)


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms 3.3 select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def choice_values(field) -> set:
    return {c.value for c in field.choices}


KIND_LABELS = {
    MaterialKind.BROCHURE: _l("Product brochure"),
    MaterialKind.PRICE_SHEET: _l("Price sheet"),
    MaterialKind.PROMOTION: _l("Promotional material"),
}
LANGUAGE_LABELS = {
    MaterialLanguage.ZH: _l("Chinese"),
    MaterialLanguage.EN: _l("English"),
    MaterialLanguage.BOTH: _l("Chinese and English"),
}
CATEGORY_LABELS = {
    ComplaintCategory.SERVICE: _l("Service attitude"),
    ComplaintCategory.MISSELLING: _l("Mis-selling or false promises"),
    ComplaintCategory.BILLING: _l("Billing or charges"),
    ComplaintCategory.DELAY: _l("Delay in activation or repair"),
    ComplaintCategory.OTHER: _l("Other"),
}
SEVERITY_LABELS = {
    ComplaintSeverity.LOW: _l("Low"),
    ComplaintSeverity.MEDIUM: _l("Medium"),
    ComplaintSeverity.HIGH: _l("High"),
}
DIMENSION_LABELS = {
    "product": _l("The product (quality, fit for your needs)"),
    "agent": _l("Your account manager or agent (knowledge, attitude, responsiveness)"),
    "channel": _l("The service channel (ordering, activation, hotline)"),
    "promotion": _l("Promotion (clear and honest offers and materials)"),
    "relationship": _l("Relationship upkeep (follow-up, visits, care)"),
}
DIMENSION_SHORT_LABELS = {
    "product": _l("Product"),
    "agent": _l("Account manager / agent"),
    "channel": _l("Service channel"),
    "promotion": _l("Promotion"),
    "relationship": _l("Relationship upkeep"),
}
SCORE_CHOICES = [
    (5, _l("5 – very satisfied")),
    (4, _l("4 – satisfied")),
    (3, _l("3 – neutral")),
    (2, _l("2 – dissatisfied")),
    (1, _l("1 – very dissatisfied")),
]
GRADE_CHOICES = [
    ("", _l("Every grade")),
    ("gold", _l("Gold")),
    ("silver", _l("Silver")),
    ("bronze", _l("Bronze")),
]


class _MaterialFields(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=4000)])
    kind = SelectField(_l("Kind"), choices=choices((k.value, label) for k, label in KIND_LABELS.items()))
    product_id = SelectField(_l("Product"), coerce=int, choices=[])
    language = SelectField(
        _l("Language"), choices=choices((k.value, label) for k, label in LANGUAGE_LABELS.items())
    )
    valid_from = DateField(_l("Valid from"), validators=[InputRequired()])
    valid_until = DateField(_l("Valid until (inclusive, empty: no end)"), validators=[Optional()])
    approved = BooleanField(_l("Approved for agencies"))

    def __init__(self, *args, product_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.product_id.choices = choices([(0, _l("All products / general")), *product_choices])

    def validate_valid_until(self, field):
        if field.data and self.valid_from.data and field.data < self.valid_from.data:
            raise ValidationError(_l("The end date is before the start date."))


class MaterialForm(_MaterialFields):
    file = FileField(_l("File (PDF, PNG or JPEG, at most 20 MB)"), validators=[FileRequired()])


class MaterialEditForm(_MaterialFields):
    pass


class ProductTrainingForm(FlaskForm):
    requires_certification = BooleanField(_l("Requires a certified user to sell"))
    validity_months = IntegerField(
        _l("Certification valid for (months)"),
        default=12,
        validators=[InputRequired(), NumberRange(min=1, max=60)],
    )


class CourseForm(FlaskForm):
    product_id = SelectField(_l("Product"), coerce=int, choices=[], validators=[InputRequired()])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=4000)])
    pass_mark = IntegerField(
        _l("Pass mark (percent)"), default=80, validators=[InputRequired(), NumberRange(min=1, max=100)]
    )
    published = BooleanField(_l("Published (agencies can take it)"))

    def __init__(self, *args, product_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.product_id.choices = choices(product_choices)

    def validate_product_id(self, field):
        if field.data not in choice_values(self.product_id):
            raise ValidationError(_l("Choose a product."))


class PageForm(FlaskForm):
    title = StringField(_l("Page title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[Optional(), Length(max=20000)])
    file = FileField(_l("Attachment (optional: PDF, PNG or JPEG, at most 20 MB)"))


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Question"), validators=[DataRequired(), Length(max=1000)])
    option1 = StringField(_l("Answer 1"), validators=[DataRequired(), Length(max=300)])
    option2 = StringField(_l("Answer 2"), validators=[DataRequired(), Length(max=300)])
    option3 = StringField(_l("Answer 3"), validators=[Optional(), Length(max=300)])
    option4 = StringField(_l("Answer 4"), validators=[Optional(), Length(max=300)])
    correct = SelectField(
        _l("Right answer"),
        coerce=int,
        choices=choices([(0, _l("Answer 1")), (1, _l("Answer 2")), (2, _l("Answer 3")), (3, _l("Answer 4"))]),
    )

    def options(self) -> list[str]:
        return [f.data or "" for f in (self.option1, self.option2, self.option3, self.option4)]

    def validate_correct(self, field):
        options = self.options()
        if field.data is None or field.data >= len(options) or not options[field.data].strip():
            raise ValidationError(_l("The right answer must be one of the answers filled in."))


def quiz_form(course, formdata=None):
    """A form with one required radio group per question of `course`."""

    class QuizForm(FlaskForm):
        pass

    for question in course.questions:
        setattr(
            QuizForm,
            f"q{question.id}",
            RadioField(
                question.text,
                coerce=int,
                choices=choices(enumerate(question.options)),
                validators=[InputRequired(message=_l("Choose an answer."))],
            ),
        )
    return QuizForm(formdata=formdata) if formdata is not None else QuizForm()


class SurveyForm(FlaskForm):
    comment = TextAreaField(
        _l("Anything else you would like to tell us? (optional)"), validators=[Optional(), Length(max=4000)]
    )


for _dim in SURVEY_DIMENSIONS:
    setattr(
        SurveyForm,
        f"score_{_dim}",
        RadioField(
            DIMENSION_LABELS[_dim],
            coerce=int,
            choices=choices(SCORE_CHOICES),
            validators=[InputRequired(message=_l("Please choose a score from 1 to 5."))],
        ),
    )


class ComplaintForm(FlaskForm):
    agency_id = SelectField(_l("Agency"), coerce=int, choices=[], validators=[InputRequired()])
    category = SelectField(_l("Category"), choices=choices((k.value, v) for k, v in CATEGORY_LABELS.items()))
    severity = SelectField(_l("Severity"), choices=choices((k.value, v) for k, v in SEVERITY_LABELS.items()))
    customer_uscc = StringField(
        _l("Customer's unified social credit code (optional)"), validators=[Optional(), Length(max=18)]
    )
    lead_id = IntegerField(_l("Lead number (optional)"), validators=[Optional(), NumberRange(min=1)])
    description = TextAreaField(
        _l("What the customer complained about"), validators=[DataRequired(), Length(max=4000)]
    )

    def __init__(self, *args, agency_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.agency_id.choices = choices(agency_choices)

    def validate_agency_id(self, field):
        if field.data not in choice_values(self.agency_id):
            raise ValidationError(_l("Choose an agency."))


class ComplaintResponseForm(FlaskForm):
    response = TextAreaField(_l("Your answer"), validators=[DataRequired(), Length(max=4000)])


class ComplaintResolveForm(FlaskForm):
    resolution = TextAreaField(_l("Resolution"), validators=[DataRequired(), Length(max=4000)])


class AnnouncementForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Notice"), validators=[DataRequired(), Length(max=20000)])
    region_id = SelectField(_l("Region"), coerce=int, choices=[])
    grade = SelectField(_l("Grade"), choices=choices(GRADE_CHOICES))

    def __init__(self, *args, region_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.region_id.choices = choices(region_choices)
