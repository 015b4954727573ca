"""`POST /api/v1/activations` and `POST /api/v1/billing` (SPEC §7): integration tokens only.

The body is a JSON array of at most 1,000 records with the columns of the files (amounts as
strings or numbers in yuan — parsed exactly as decimals, never floats). Same checks and
idempotency as a file import; whole-or-nothing: if any record is rejected nothing is stored and
the answer is 422 with the report, unless `?skip_bad=true`. `line` in the report is the record's
1-based position in the array."""

from __future__ import annotations

import json
from decimal import Decimal

from flask import g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from commissions.ingest import operations as ops
from commissions.ingest.models import ImportKind, ImportSource, ImportStatus
from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS
from portal.api.auth import json_error, require_token
from portal.core.db import db
from portal.core.permissions import token_auth

blp = Blueprint("ingest_api", __name__, url_prefix="/api/v1",
                description="Ingest of activations and billing from the billing system (integration tokens).")

SECURITY = [{"bearerAuth": []}]


# OpenAPI 3.0 has no type arrays: "a string or a number, or null" is anyOf + nullable.
_SCALAR = {"anyOf": [{"type": "string"}, {"type": "number"}], "nullable": True}


def _record_schema(columns) -> dict:
    return {"type": "object", "properties": {c: _SCALAR if c not in (
        "order_id", "period") else {"type": "string"} for c in columns}, "required": [
        c for c in columns if c not in ("agent_code", "terminated_at")]}


def _doc(kind: str, columns) -> dict:
    report = {"type": "object", "properties": {
        "id": {"type": "integer"}, "status": {"type": "string"}, "applied": {"type": "boolean"},
        "read": {"type": "integer"}, "inserted": {"type": "integer"}, "updated": {"type": "integer"},
        "unchanged": {"type": "integer"}, "rejected": {"type": "integer"},
        "rejections": {"type": "array", "items": {"type": "object", "properties": {
            "line": {"type": "integer"}, "order_id": {"type": "string"}, "code": {"type": "string"},
            "reason": {"type": "string"}}}}}}
    error = {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}}}}
    return {
        "security": SECURITY,
        "summary": f"Import {kind} (a batch of at most {ops.API_MAX_RECORDS:,} records)",
        "parameters": [{"name": "skip_bad", "in": "query", "required": False, "schema": {"type": "boolean"},
                        "description": "Store the good records even if some are rejected."}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "array", "maxItems": ops.API_MAX_RECORDS, "items": _record_schema(columns)}}}},
        "responses": {
            "200": {"description": "Applied; the report", "content": {"application/json": {"schema": report}}},
            "400": {"description": "Not a JSON array", "content": {"application/json": {"schema": error}}},
            "401": {"description": "No valid token", "content": {"application/json": {"schema": error}}},
            "403": {"description": "Not an integration token", "content": {"application/json": {"schema": error}}},
            "422": {"description": "Too many records, or rejected records (nothing stored; `report` lists them)",
                    "content": {"application/json": {"schema": error}}},
        },
    }


def _ingest(kind: ImportKind):
    try:
        records = json.loads(request.get_data(cache=False) or b"null", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "bad_request", "The body must be a JSON array of records.")
    if not isinstance(records, list):
        return json_error(400, "bad_request", "The body must be a JSON array of records.")
    if len(records) > ops.API_MAX_RECORDS:
        return json_error(422, "batch_too_large",
                          f"A batch holds at most {ops.API_MAX_RECORDS:,} records (got {len(records):,}).")
    if not records:
        return json_error(422, "empty_batch", "The batch holds no record.")
    skip_bad = request.args.get("skip_bad", "").lower() in ("1", "true", "yes")
    token = g.api_token
    run = ops.new_run(kind, ImportSource.API, filename=f"api:{token.name}"[:255])
    ops.import_records(run, records, skip_bad=skip_bad)
    db.session.commit()
    report = ops.report_dict(run, english=True, limit=ops.API_MAX_RECORDS)
    if run.status != ImportStatus.APPLIED:
        response = jsonify({"error": {"code": "rejected_records",
                                      "message": f"{run.rejected} record(s) rejected; nothing was stored "
                                                 "(pass ?skip_bad=true to store the good ones)."},
                            "report": report})
        response.status_code = 422
        return response
    return jsonify(report)


@blp.route("/activations")
@token_auth
class Activations(MethodView):
    @require_token("integration")
    @blp.doc(**_doc("activations", ACTIVATION_COLUMNS))
    def post(self):
        return _ingest(ImportKind.ACTIVATIONS)


@blp.route("/billing")
@token_auth
class Billing(MethodView):
    @require_token("integration")
    @blp.doc(**_doc("billing", BILLING_COLUMNS))
    def post(self):
        return _ingest(ImportKind.BILLING)
