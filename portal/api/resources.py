"""/api/v1 endpoints of the agency API: products and leads (SPEC §7).

Lists use keyset pagination: `{"items": [...], "next": CURSOR|null}`; pass `?cursor=CURSOR` for the
next page. Cursors are opaque. Errors are `{"error": {"code", "message"}}`."""

from __future__ import annotations

import base64
import binascii

import sqlalchemy as sa
from flask import g, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import orm as so

from catalog.models import Product, ProductStatus
from portal.api.auth import json_error, require_token
from portal.api.schemas import (
    ApiErrorSchema,
    ConflictSchema,
    LeadCreateSchema,
    LeadListArgs,
    LeadPageSchema,
    LeadSchema,
    PageArgs,
    ProductPageSchema,
    RegistrationSchema,
)
from portal.core.db import db
from portal.core.permissions import token_auth
from portal.leads import operations as ops
from portal.leads.models import Lead, LeadStatus

blp = Blueprint(
    "api_v1",
    __name__,
    url_prefix="/api/v1",
    description="Agency API: the catalog and lead registration (商机报备). "
    "Authenticate with `Authorization: Bearer <token>` (an agency token).",
)

SECURITY = [{"bearerAuth": []}]


@blp.record
def _security_scheme(state) -> None:
    """Declare the bearer scheme in this app's OpenAPI document (once)."""
    from portal.api import api

    spec = getattr(api, "spec", None)
    if spec is not None and "bearerAuth" not in spec.components.security_schemes:
        spec.components.security_scheme(
            "bearerAuth",
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token created in the portal or with `portal tokens create`.",
            },
        )


class BadCursor(ValueError):
    pass


def encode_cursor(kind: str, value) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode("ascii").rstrip("=")


def decode_cursor(kind: str, cursor: str) -> str:
    """The value of a cursor made by `encode_cursor(kind, value)`; BadCursor for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    prefix, sep, value = text.partition(":")
    if prefix != kind or not sep or not value:
        raise BadCursor(cursor)
    return value


def _bad_cursor():
    return json_error(400, "bad_cursor", "The cursor is not valid; start again without one.")


@blp.route("/products")
@token_auth
class Products(MethodView):
    @require_token("agency")
    @blp.doc(security=SECURITY, summary="Active products of the catalog")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ProductPageSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Bad cursor")
    @blp.alt_response(401, schema=ApiErrorSchema, description="No valid token")
    @blp.alt_response(403, schema=ApiErrorSchema, description="Not an agency token")
    def get(self, args):
        """Products an agency may register leads for, ordered by code."""
        stmt = sa.select(Product).where(Product.status == ProductStatus.ACTIVE).order_by(Product.code)
        if args["cursor"]:
            try:
                stmt = stmt.where(Product.code > decode_cursor("p", args["cursor"]))
            except BadCursor:
                return _bad_cursor()
        rows = db.session.scalars(stmt.limit(args["limit"] + 1)).all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        return {"items": rows, "next": encode_cursor("p", rows[-1].code) if more and rows else None}


# What LeadSchema shows: the lead, its customer and its product (not their own relationships; the
# agency is the token's, already loaded).
LEAD_LOADING = (
    so.lazyload(Lead.agency),
    so.joinedload(Lead.customer).lazyload("*"),
    so.joinedload(Lead.product).lazyload("*"),
)


def _lead_or_none(lead_id: int) -> Lead | None:
    return db.session.scalar(
        sa.select(Lead).options(*LEAD_LOADING).where(Lead.id == lead_id, Lead.agency_id == g.api_agency.id)
    )


@blp.route("/leads")
@token_auth
class Leads(MethodView):
    @require_token("agency")
    @blp.doc(security=SECURITY, summary="The agency's leads, newest first")
    @blp.arguments(LeadListArgs, location="query")
    @blp.response(200, LeadPageSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Bad cursor")
    @blp.alt_response(401, schema=ApiErrorSchema, description="No valid token")
    @blp.alt_response(403, schema=ApiErrorSchema, description="Not an agency token")
    def get(self, args):
        """The token's agency's leads; filter by `status` and `product` (code)."""
        stmt = (
            sa.select(Lead).options(*LEAD_LOADING).where(Lead.agency_id == g.api_agency.id).order_by(Lead.id.desc())
        )
        if args["status"]:
            stmt = stmt.where(Lead.status == LeadStatus(args["status"]))
        if args["product"]:
            stmt = stmt.where(
                Lead.product_id.in_(
                    sa.select(Product.id).where(Product.code == args["product"].strip().upper())
                )
            )
        if args["cursor"]:
            try:
                last_id = int(decode_cursor("l", args["cursor"]))
                if not 0 < last_id < 2**31:
                    raise BadCursor(args["cursor"])
            except (BadCursor, ValueError):
                return _bad_cursor()
            stmt = stmt.where(Lead.id < last_id)
        rows = db.session.scalars(stmt.limit(args["limit"] + 1)).all()
        more = len(rows) > args["limit"]
        rows = rows[: args["limit"]]
        return {"items": rows, "next": encode_cursor("l", rows[-1].id) if more and rows else None}

    @require_token("agency")
    @blp.doc(security=SECURITY, summary="Register a lead: one lead per product (SPEC §4 rules)")
    @blp.arguments(LeadCreateSchema)
    @blp.response(201, RegistrationSchema, description="At least one lead was created")
    @blp.alt_response(
        200, schema=RegistrationSchema, description="Every product returned the agency's existing live lead"
    )
    @blp.alt_response(
        409,
        schema=ConflictSchema,
        description="Every product conflicts with another partner's live registration "
        "(error code `conflict`)",
    )
    @blp.alt_response(401, schema=ApiErrorSchema, description="No valid token")
    @blp.alt_response(
        403,
        schema=ApiErrorSchema,
        description="Not an agency token, or the agency is not active (`agency_inactive`)",
    )
    @blp.alt_response(422, schema=ApiErrorSchema, description="The request is not valid")
    def post(self, data):
        """Register the customer and products for the token's agency.

        201 when a lead was created, 200 when every product returned the agency's existing lead,
        409 when every product conflicts with another partner's live registration; products
        refused for another reason are listed in `rejected` (code `not_allowed`)."""
        try:
            result = ops.register_leads(
                g.api_agency,
                None,
                data["customer"]["uscc"],
                data["customer"].get("name", ""),
                data["contact"]["name"],
                data["contact"]["mobile"],
                data["products"],
                data["expected_lines"],
                data["expected_monthly_revenue"],
                data["notes"],
            )
        except ops.AgencyNotActive as exc:
            db.session.rollback()
            return json_error(403, exc.code, exc.message)
        except ops.LeadError as exc:
            db.session.rollback()
            return json_error(422, exc.code, exc.message)
        # Serialised before the commit, which expires every object (and would read each lead back).
        body = RegistrationSchema().dump({"leads": result.leads, "rejected": result.rejected})
        db.session.commit()
        if result.created:
            status = 201
        elif result.existing:
            status = 200
        elif result.all_conflicts:
            status = 409
            body["error"] = {
                "code": "conflict",
                "message": "Already registered by another partner: "
                + "; ".join(f"{r.product}: {r.message}" for r in result.rejected),
            }
        else:
            status = 422
            body["error"] = {
                "code": "not_allowed",
                "message": "; ".join(f"{r.product}: {r.message}" for r in result.rejected),
            }
        response = jsonify(body)
        response.status_code = status
        return response


@blp.route("/leads/<int(max=2147483647):lead_id>")
@token_auth
class LeadItem(MethodView):
    @require_token("agency")
    @blp.doc(security=SECURITY, summary="One lead of the agency")
    @blp.response(200, LeadSchema)
    @blp.alt_response(401, schema=ApiErrorSchema, description="No valid token")
    @blp.alt_response(403, schema=ApiErrorSchema, description="Not an agency token")
    @blp.alt_response(404, schema=ApiErrorSchema, description="No such lead of this agency")
    def get(self, lead_id: int):
        lead = _lead_or_none(lead_id)
        if lead is None:
            return json_error(404, "not_found", "No such lead.")
        return lead
