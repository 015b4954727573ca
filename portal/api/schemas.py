"""Marshmallow schemas of /api/v1: the same classes validate requests and describe the OpenAPI
document. Amounts are strings in yuan with 2 decimals; dates are ISO 8601 (Asia/Shanghai)."""

from __future__ import annotations

from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, validate, validates

from portal.core.validators import is_valid_mobile, uscc_problem


def _yuan(fen: int | None) -> str:
    return str((Decimal(int(fen or 0)) / 100).quantize(Decimal("0.01")))


class ApiErrorBody(Schema):
    code = fields.String(required=True, metadata={"example": "conflict"})
    message = fields.String(required=True)
    details = fields.Dict(metadata={"description": "Field errors, when the request did not validate."})


class ApiErrorSchema(Schema):
    error = fields.Nested(ApiErrorBody, required=True)


class PageArgs(Schema):
    cursor = fields.String(
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "The `next` value of the previous page."},
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ProductSchema(Schema):
    code = fields.String(required=True, metadata={"example": "GRP-SMS"})
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)
    category = fields.String(required=True)
    tier = fields.Function(
        lambda p: p.tier.value,
        required=True,
        metadata={
            "enum": ["low", "high"],
            "description": "`high` products may only be referred (routed to an account manager).",
        },
    )
    monthly_price = fields.Function(
        lambda p: _yuan(p.monthly_price_fen), required=True, metadata={"example": "120.00"}
    )
    one_time_price = fields.Function(lambda p: _yuan(p.one_time_price_fen), required=True)


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema), required=True)
    next = fields.String(required=True, allow_none=True)


class CustomerRefSchema(Schema):
    uscc = fields.String(required=True)
    name = fields.String(required=True)


LEAD_STATUSES = ["submitted", "approved", "rejected", "routed", "accepted", "won", "lost", "expired"]


class LeadSchema(Schema):
    id = fields.Integer(required=True)
    product = fields.Function(lambda lead: lead.product.code, required=True)
    kind = fields.Function(
        lambda lead: lead.kind.value, required=True, metadata={"enum": ["sale", "referral"]}
    )
    status = fields.Function(lambda lead: lead.status.value, required=True, metadata={"enum": LEAD_STATUSES})
    customer = fields.Function(
        lambda lead: {"uscc": lead.customer.uscc, "name": lead.customer.name},
        required=True,
        metadata={"type": "object", "properties": {"uscc": {"type": "string"}, "name": {"type": "string"}}},
    )
    protected_until = fields.Date(
        required=True,
        allow_none=True,
        metadata={"description": "Last protected day (inclusive), Asia/Shanghai."},
    )
    contact_name = fields.String(required=True)
    contact_mobile = fields.String(required=True)
    expected_lines = fields.Integer(required=True)
    expected_monthly_revenue = fields.Function(
        lambda lead: _yuan(lead.expected_monthly_revenue_fen), required=True, metadata={"example": "3000.00"}
    )
    notes = fields.String(required=True)
    submitted_at = fields.AwareDateTime(required=True)
    reason = fields.String(required=True, allow_none=True)


class LeadPageSchema(Schema):
    items = fields.List(fields.Nested(LeadSchema), required=True)
    next = fields.String(required=True, allow_none=True)


class LeadListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(LEAD_STATUSES))
    product = fields.String(load_default=None, validate=validate.Length(max=32))


class CustomerInSchema(Schema):
    uscc = fields.String(
        required=True,
        validate=validate.Length(max=32),
        metadata={"description": "Unified social credit code (GB 32100-2015)."},
    )
    name = fields.String(
        load_default="",
        validate=validate.Length(max=200),
        metadata={"description": "Required when the customer is not known yet."},
    )

    @validates("uscc")
    def _uscc(self, value, **_kw):
        if uscc_problem(value):
            raise ValidationError("Not a valid unified social credit code.")


class ContactInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    mobile = fields.String(
        required=True, validate=validate.Length(max=20), metadata={"example": "13800138000"}
    )

    @validates("mobile")
    def _mobile(self, value, **_kw):
        if not is_valid_mobile(value):
            raise ValidationError("Not a mainland mobile number (11 digits starting with 13-19).")


class LeadCreateSchema(Schema):
    customer = fields.Nested(CustomerInSchema, required=True)
    contact = fields.Nested(ContactInSchema, required=True)
    products = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"example": ["GRP-SMS"]},
    )
    expected_lines = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))
    expected_monthly_revenue = fields.Decimal(
        load_default=Decimal("0"),
        as_string=True,
        metadata={
            "type": "string",
            "example": "3000.00",
            "description": "Yuan, at most 2 decimals (a JSON number is accepted too).",
        },
    )
    notes = fields.String(load_default="", validate=validate.Length(max=4000))

    @validates("expected_monthly_revenue")
    def _revenue(self, value, **_kw):
        if value < 0 or value > Decimal("1000000000") or value != value.quantize(Decimal("0.01")):
            raise ValidationError(
                "Enter an amount in yuan between 0 and 1,000,000,000 with at most 2 decimals."
            )


class LeadBriefSchema(Schema):
    id = fields.Integer(required=True)
    product = fields.Function(lambda lead: lead.product.code, required=True)
    kind = fields.Function(
        lambda lead: lead.kind.value, required=True, metadata={"enum": ["sale", "referral"]}
    )
    status = fields.Function(lambda lead: lead.status.value, required=True, metadata={"enum": LEAD_STATUSES})
    protected_until = fields.Date(required=True, allow_none=True)


class RejectionSchema(Schema):
    product = fields.String(required=True)
    code = fields.String(required=True, metadata={"enum": ["conflict", "not_allowed"]})
    message = fields.String(required=True)
    protected_until = fields.Date(
        required=True,
        allow_none=True,
        metadata={
            "description": "End of the other registration's protection; null while it is under review."
        },
    )


class RegistrationSchema(Schema):
    leads = fields.List(fields.Nested(LeadBriefSchema), required=True)
    rejected = fields.List(fields.Nested(RejectionSchema), required=True)


class ConflictSchema(RegistrationSchema):
    error = fields.Nested(ApiErrorBody, required=True)
