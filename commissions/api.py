"""/api/v1/statements (SPEC §7): the token's agency's published statements, keyset pages of
`{"items": [...], "next": CURSOR|null}` newest period first, and one period with its lines."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal

import sqlalchemy as sa
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from commissions.calculation import PlanValueError, parse_period, u_to_mult, u_to_rate
from commissions.models import Line, Statement, StatementStatus
from commissions.statements import LineExplainer
from portal.api.auth import json_error, require_token
from portal.api.schemas import ApiErrorSchema as ErrorSchema
from portal.core.db import db
from portal.core.permissions import token_auth

blp = Blueprint("commissions_api", __name__, url_prefix="/api/v1",
                description="Commission statements (结算单) of the token's agency.")

SECURITY = [{"bearerAuth": []}]
VISIBLE = (StatementStatus.PUBLISHED, StatementStatus.APPROVED, StatementStatus.PAID)
MAX_LINES = 5000


def _yuan(fen) -> str | None:
    return None if fen is None else str((Decimal(int(fen)) / 100).quantize(Decimal("0.01")))


class StatementPageArgs(Schema):
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class StatementItemSchema(Schema):
    period = fields.String(required=True, metadata={"example": "2026-10"})
    status = fields.Function(lambda s: s.status.value, required=True,
                             metadata={"enum": ["published", "approved", "paid"]})
    opening = fields.Function(lambda s: _yuan(s.opening_fen), required=True, metadata={"example": "0.00"})
    earned = fields.Function(lambda s: _yuan(s.earned_fen), required=True)
    available = fields.Function(lambda s: _yuan(s.available_fen), required=True)
    payable = fields.Function(lambda s: _yuan(s.payable_fen), required=True)
    carried = fields.Function(lambda s: _yuan(s.carried_fen), required=True)
    hold_reason = fields.Function(lambda s: s.hold_reason.value if s.hold_reason else None, allow_none=True,
                                  metadata={"enum": ["below_minimum", "negative_balance", "agency_suspended",
                                                     "no_payout_account", None]})
    line_count = fields.Integer(required=True)


class StatementPageSchema(Schema):
    items = fields.List(fields.Nested(StatementItemSchema), required=True)
    next = fields.String(required=True, allow_none=True)


class LineSchema(Schema):
    order_id = fields.String(allow_none=True)
    component = fields.Function(lambda ln: ln.component.value, required=True)
    source_period = fields.String(required=True)
    accrual_date = fields.Date(required=True)
    basis_amount = fields.Function(lambda ln: _yuan(ln.basis_fen), allow_none=True)
    rate = fields.Function(lambda ln: None if ln.rate_u is None else f"{u_to_rate(ln.rate_u).normalize():f}",
                           allow_none=True)
    multiplier = fields.Function(lambda ln: None if ln.multiplier_u is None
                                 else f"{u_to_mult(ln.multiplier_u).normalize():f}", allow_none=True)
    amount = fields.Function(lambda ln: _yuan(ln.amount_fen), required=True)
    rule_version = fields.String(allow_none=True)
    explanation = fields.Function(lambda ln: _explain(ln), required=True)


def _explain(line: Line) -> str:
    """One LineExplainer per request: a statement's lines share its translated texts."""
    explainer = g.get("line_explainer")
    if explainer is None:
        explainer = g.line_explainer = LineExplainer()
    return explainer(line)


class StatementDetailSchema(StatementItemSchema):
    lines = fields.List(fields.Nested(LineSchema), required=True)


def _encode(period: str) -> str:
    return base64.urlsafe_b64encode(f"s:{period}".encode()).decode("ascii").rstrip("=")


def _decode(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValueError(cursor) from exc
    prefix, _sep, value = text.partition(":")
    if prefix != "s":
        raise ValueError(cursor)
    try:
        return parse_period(value)
    except PlanValueError as exc:
        raise ValueError(cursor) from exc


@blp.route("/statements")
@token_auth
class Statements(MethodView):
    @require_token("agency")
    @blp.doc(security=SECURITY, summary="The agency's published statements, newest period first")
    @blp.arguments(StatementPageArgs, location="query")
    @blp.response(200, StatementPageSchema)
    @blp.alt_response(400, schema=ErrorSchema, description="Bad cursor")
    @blp.alt_response(401, schema=ErrorSchema, description="No valid token")
    @blp.alt_response(403, schema=ErrorSchema, description="Not an agency token")
    def get(self, args):
        stmt = (sa.select(Statement).where(Statement.agency_id == g.api_agency.id, Statement.status.in_(VISIBLE))
                .order_by(Statement.period.desc()))
        if args["cursor"]:
            try:
                stmt = stmt.where(Statement.period < _decode(args["cursor"]))
            except ValueError:
                return json_error(400, "bad_cursor", "The cursor is not valid; start again without one.")
        rows = db.session.scalars(stmt.limit(args["limit"] + 1)).all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        return {"items": rows, "next": _encode(rows[-1].period) if more and rows else None}


@blp.route("/statements/<period>")
@token_auth
class StatementDetail(MethodView):
    @require_token("agency")
    @blp.doc(security=SECURITY, summary="One published statement of the agency with its lines")
    @blp.response(200, StatementDetailSchema)
    @blp.alt_response(401, schema=ErrorSchema, description="No valid token")
    @blp.alt_response(403, schema=ErrorSchema, description="Not an agency token")
    @blp.alt_response(404, schema=ErrorSchema, description="No published statement of this agency for the period")
    def get(self, period: str):
        try:
            period = parse_period(period)
        except PlanValueError:
            return json_error(404, "not_found", "No statement for this period.")
        row = db.session.scalar(sa.select(Statement).where(
            Statement.agency_id == g.api_agency.id, Statement.period == period, Statement.status.in_(VISIBLE)))
        if row is None:
            return json_error(404, "not_found", "No statement for this period.")
        lines = db.session.scalars(sa.select(Line).where(Line.period == period, Line.agency_id == row.agency_id)
                                   .order_by(Line.order_id, Line.component, Line.id).limit(MAX_LINES)).all()
        row.lines = lines
        return row
