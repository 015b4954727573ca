"""Catalog pages: the catalog for agencies and staff, catalog administration, group customers."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from catalog import customer_tiers, importing
from catalog import operations as ops
from catalog.earnings import earnings_for
from catalog.forms import (
    CustomerForm,
    CustomerTierForm,
    ImportConfirmForm,
    ImportForm,
    ProductForm,
    TierOverrideForm,
)
from catalog.labels import (
    CATEGORY_LABELS,
    INDICATOR_LABELS,
    INDUSTRY_LABELS,
    SCORE_LABELS,
    STATUS_LABELS,
    TIER_LABELS,
    category_label,
    industry_label,
    label_of,
)
from catalog.models import HIGH_SCORE_THRESHOLD, Customer, CustomerTier, Product, ProductStatus, Tier
from catalog.rules import high_reasons, may_agency_sell
from portal.core.db import db
from portal.core.forms import EmptyForm
from portal.core.models import AGENCY_ROLES, Region, Role
from portal.core.money import MoneyError, format_fen, to_decimal, yuan_to_fen
from portal.core.nav import register_home_panel, register_nav
from portal.core.permissions import roles_required, signed_in
from portal.core.time import today_shanghai

bp = Blueprint("catalog", __name__)

CUSTOMER_VIEWERS = (Role.ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE, Role.ACCOUNT_MANAGER)
LIST_LIMIT = 500

register_nav("catalog.index", _l("Catalog"), list(Role), order=10, group="catalog")
register_nav("catalog.customers", _l("Customers"), CUSTOMER_VIEWERS, order=250, group="catalog")
register_nav("catalog.admin_products", _l("Products"), [Role.ADMIN], order=890, group="admin")


@bp.record_once
def _labels(state):
    state.app.jinja_env.globals.update(
        catalog_category_label=category_label,
        catalog_industry_label=industry_label,
        catalog_tier_labels=TIER_LABELS,
        catalog_status_labels=STATUS_LABELS,
        catalog_score_labels=SCORE_LABELS,
        catalog_label_of=label_of,
        catalog_tier_explanation=tier_explanation,
        catalog_may_agency_sell=may_agency_sell,
    )


def attempt(operation, *args, **kwargs):
    """Run an operation inside a savepoint: when it refuses (CatalogError), only its own writes
    are undone and the error propagates; the request's other work is untouched."""
    savepoint = db.session.begin_nested()
    try:
        result = operation(*args, **kwargs)
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return result


# --- the rules as text ----------------------------------------------------------------------------


def tier_explanation(product: Product) -> str:
    """Why the product has its tier, in the reader's language."""
    return tier_explainer()(product)


def tier_explainer():
    """`tier_explanation` for many products: the texts are translated once, not once per product."""
    override = _("Set by the administrator: %(reason)s")
    high = _("Complexity scores of %(n)s or more: %(scores)s")
    low = _("Every complexity score is below %(n)s.") % {"n": HIGH_SCORE_THRESHOLD}
    separator = "、" if _locale() == "zh" else ", "
    score_labels = {name: str(label) for name, label in SCORE_LABELS.items()}

    def explain(product: Product) -> str:
        if product.tier_override is not None:
            return override % {"reason": product.tier_override_reason or ""}
        reasons = high_reasons(product)
        if reasons:
            parts = separator.join(f"{score_labels[name]} {value}/5" for name, value in reasons)
            return high % {"n": HIGH_SCORE_THRESHOLD, "scores": parts}
        return low

    return explain


def _effective_high():
    """SQL: the product's effective tier is high (the override, else any score ≥ threshold)."""
    derived_high = sa.or_(
        Product.module_complexity >= HIGH_SCORE_THRESHOLD,
        Product.market_exclusivity >= HIGH_SCORE_THRESHOLD,
        Product.training_requirement >= HIGH_SCORE_THRESHOLD,
    )
    return sa.or_(Product.tier_override == Tier.HIGH, sa.and_(Product.tier_override.is_(None), derived_high))


def _effective_low():
    """SQL: the product's effective tier is low (null-safe complement of `_effective_high`)."""
    derived_low = sa.and_(
        Product.module_complexity < HIGH_SCORE_THRESHOLD,
        Product.market_exclusivity < HIGH_SCORE_THRESHOLD,
        Product.training_requirement < HIGH_SCORE_THRESHOLD,
    )
    return sa.or_(Product.tier_override == Tier.LOW, sa.and_(Product.tier_override.is_(None), derived_low))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def catalog_query(user, q: str = "", category: str = "", tier: str = "", status: str = ""):
    """The products `user` may see, filtered. Agencies never see retired products."""
    stmt = sa.select(Product)
    if user.role in AGENCY_ROLES:
        stmt = stmt.where(Product.status == ProductStatus.ACTIVE)
    elif status in {s.value for s in ProductStatus}:
        stmt = stmt.where(Product.status == ProductStatus(status))
    q = (q or "").strip()
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            sa.or_(
                *[
                    column.ilike(pattern, escape="\\")
                    for column in (
                        Product.code,
                        Product.name_zh,
                        Product.name_en,
                        Product.description_zh,
                        Product.description_en,
                    )
                ]
            )
        )
    if category:
        stmt = stmt.where(Product.category == category)
    if tier == Tier.HIGH.value:
        stmt = stmt.where(_effective_high())
    elif tier == Tier.LOW.value:
        stmt = stmt.where(_effective_low())
    return stmt.order_by(Product.category, Product.code)


def _visible_product_or_404(code: str) -> Product:
    product = ops.get_product_by_code(code)
    if product is None or (current_user.role in AGENCY_ROLES and not product.is_active):
        abort(404)
    return product


# --- home panel -------------------------------------------------------------------------------------


def _agency_panel(user) -> dict:
    products = db.session.scalars(sa.select(Product).where(Product.status == ProductStatus.ACTIVE)).all()
    low = sum(1 for p in products if may_agency_sell(p))
    return {"low": low, "high": len(products) - low}


register_home_panel("catalog/_panel_agency.html", AGENCY_ROLES, _agency_panel, order=5)


# --- the catalog ------------------------------------------------------------------------------------


def _categories(user, products: list[Product], filtered: bool) -> list[str]:
    """The categories of the filter: those of the products the user may see. An unfiltered list
    that is not cut off by LIST_LIMIT holds all of them already (no second query)."""
    if not filtered and len(products) < LIST_LIMIT:
        return sorted({p.category for p in products})
    stmt = sa.select(Product.category).distinct().order_by(Product.category)
    if user.role in AGENCY_ROLES:
        stmt = stmt.where(Product.status == ProductStatus.ACTIVE)
    return list(db.session.scalars(stmt))


@bp.route("/catalog")
@signed_in
def index():
    q = request.args.get("q", "")[:100]
    category = request.args.get("category", "")[:32]
    tier = request.args.get("tier", "")
    status = request.args.get("status", "")
    products = db.session.scalars(
        catalog_query(current_user, q, category, tier, status).limit(LIST_LIMIT)
    ).all()
    categories = _categories(current_user, products, filtered=bool(q or category or tier or status))
    explain = tier_explainer()
    # Labels once per request, not once per product card.
    category_labels = {c: category_label(c) for c in {*categories, *(p.category for p in products)}}
    return render_template(
        "catalog/index.html",
        products=products,
        explanations={p.id: explain(p) for p in products},
        category_labels=category_labels,
        lang=_locale(),
        q=q,
        category=category,
        tier=tier,
        status=status,
        categories=categories,
        is_agency=current_user.role in AGENCY_ROLES,
    )


def _earnings_rows(earnings: dict) -> list[tuple[str, str]]:
    rows = []
    if earnings.get("one_off_fen") is not None:
        rows.append((_("One-off per unit"), format_fen(earnings["one_off_fen"])))
    if earnings.get("revenue_share_rate") is not None:
        rate = Decimal(str(earnings["revenue_share_rate"])) * 100
        text = f"{rate.quantize(Decimal('0.01')).normalize():f}%"
        if earnings.get("revenue_share_months"):
            text = _(
                "%(rate)s of the billed revenue for %(months)s months",
                rate=text,
                months=earnings["revenue_share_months"],
            )
        rows.append((_("Revenue share"), text))
    if earnings.get("referral_bounty_fen") is not None:
        rows.append((_("Referral bounty"), format_fen(earnings["referral_bounty_fen"])))
    for label, text in earnings.get("lines") or []:
        rows.append((str(label), str(text)))
    return rows


@bp.route("/catalog/<code>")
@signed_in
def product(code: str):
    item = _visible_product_or_404(code)
    is_agency = current_user.role in AGENCY_ROLES
    earnings = earnings_for(item, current_user.agency, today_shanghai()) if is_agency else None
    return render_template(
        "catalog/product.html",
        product=item,
        is_agency=is_agency,
        may_sell=may_agency_sell(item),
        explanation=tier_explanation(item),
        earnings=earnings,
        earnings_rows=_earnings_rows(earnings) if earnings else [],
        show_prices=current_user.role != Role.AGENCY_SALES,
        is_admin=current_user.role == Role.ADMIN,
        high_score_threshold=HIGH_SCORE_THRESHOLD,
    )


# --- catalog administration -------------------------------------------------------------------------


@bp.route("/admin/products")
@roles_required(Role.ADMIN)
def admin_products():
    status = request.args.get("status", "")
    products = db.session.scalars(
        catalog_query(current_user, request.args.get("q", "")[:100], "", "", status).limit(LIST_LIMIT)
    ).all()
    return render_template(
        "catalog/admin_products.html", products=products, status=status, q=request.args.get("q", "")
    )


def _form_error(form, exc: ops.CatalogError) -> None:
    name = {"monthly_price_fen": "monthly_price", "one_time_price_fen": "one_time_price"}.get(
        exc.field, exc.field
    )
    target = getattr(form, name or "", None)
    if target is None or not hasattr(target, "errors"):
        flash(str(exc), "danger")
        return
    target.errors = [*target.errors, str(exc)]


def _product_data(form: ProductForm) -> dict:
    data = {
        name: getattr(form, name).data
        for name in (
            "code",
            "name_zh",
            "name_en",
            "category",
            "description_zh",
            "description_en",
            "module_complexity",
            "market_exclusivity",
            "training_requirement",
        )
    }
    data["monthly_price_fen"] = ops.parse_price_fen(form.monthly_price.data, "monthly_price")
    data["one_time_price_fen"] = ops.parse_price_fen(form.one_time_price.data, "one_time_price")
    return data


@bp.route("/admin/products/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_product():
    form = ProductForm()
    if form.validate_on_submit():
        try:
            item = attempt(lambda: ops.create_product(_product_data(form)))
        except ops.CatalogError as exc:
            _form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Product %(code)s created.", code=item.code), "success")
            return redirect(url_for("catalog.product", code=item.code))
    return render_template("catalog/product_form.html", form=form, product=None)


@bp.route("/admin/products/<code>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_product(code: str):
    item = ops.get_product_by_code(code) or abort(404)
    form = ProductForm(obj=item)
    if request.method == "GET":
        form.monthly_price.data = f"{Decimal(item.monthly_price_fen) / 100:.2f}"
        form.one_time_price.data = f"{Decimal(item.one_time_price_fen) / 100:.2f}"
    form.code.data = item.code  # the code never changes
    if form.validate_on_submit():
        try:
            changes = attempt(lambda: ops.update_product(item, _product_data(form)))
        except ops.CatalogError as exc:
            _form_error(form, exc)
        else:
            db.session.commit()
            flash(
                _("Product %(code)s saved.", code=item.code) if changes else _("Nothing changed."),
                "success" if changes else "info",
            )
            return redirect(url_for("catalog.product", code=item.code))
    tier_form = TierOverrideForm(
        tier=item.tier_override.value if item.tier_override else "", reason=item.tier_override_reason or ""
    )
    return render_template(
        "catalog/product_form.html",
        form=form,
        product=item,
        tier_form=tier_form,
        post_form=EmptyForm(),
        explanation=tier_explanation(item),
    )


@bp.route("/admin/products/<code>/tier", methods=["POST"])
@roles_required(Role.ADMIN)
def override_tier(code: str):
    item = ops.get_product_by_code(code) or abort(404)
    tier_form = TierOverrideForm()
    if tier_form.validate_on_submit():
        try:
            changed = attempt(ops.set_tier_override, item, tier_form.tier.data or None, tier_form.reason.data)
        except ops.CatalogError as exc:
            tier_form.reason.errors = [*tier_form.reason.errors, str(exc)]
        else:
            db.session.commit()
            flash(
                _("Tier of %(code)s saved.", code=item.code) if changed else _("Nothing changed."),
                "success" if changed else "info",
            )
            return redirect(url_for("catalog.edit_product", code=item.code))
    form = ProductForm(obj=item, formdata=None)
    form.monthly_price.data = f"{Decimal(item.monthly_price_fen) / 100:.2f}"
    form.one_time_price.data = f"{Decimal(item.one_time_price_fen) / 100:.2f}"
    return render_template(
        "catalog/product_form.html",
        form=form,
        product=item,
        tier_form=tier_form,
        post_form=EmptyForm(),
        explanation=tier_explanation(item),
    ), 422


@bp.route("/admin/products/<code>/retire", methods=["POST"])
@roles_required(Role.ADMIN)
def retire_product(code: str):
    item = ops.get_product_by_code(code) or abort(404)
    if EmptyForm().validate_on_submit() and ops.retire_product(item):
        db.session.commit()
        flash(_("%(code)s is retired: agencies no longer see it.", code=item.code), "success")
    return redirect(url_for("catalog.edit_product", code=item.code))


@bp.route("/admin/products/<code>/reactivate", methods=["POST"])
@roles_required(Role.ADMIN)
def reactivate_product(code: str):
    item = ops.get_product_by_code(code) or abort(404)
    if EmptyForm().validate_on_submit() and ops.reactivate_product(item):
        db.session.commit()
        flash(_("%(code)s is active again.", code=item.code), "success")
    return redirect(url_for("catalog.edit_product", code=item.code))


IMPORT_ENDPOINTS = {"products": "catalog.import_products", "customers": "catalog.import_customers"}


def _import_page(kind: str, form: ImportForm, *, report=None, confirm=None, filename=None, status: int = 200):
    columns = (
        (importing.PRODUCT_COLUMNS, importing.PRODUCT_OPTIONAL_COLUMNS)
        if kind == "products"
        else (importing.CUSTOMER_COLUMNS, importing.CUSTOMER_OPTIONAL_COLUMNS)
    )
    return render_template(
        "catalog/import.html", form=form, report=report, kind=kind, columns=columns, confirm=confirm,
        filename=filename, apply_url=url_for(f"{IMPORT_ENDPOINTS[kind]}_apply"),
    ), status


def _preview_page(kind: str, raw: bytes, filename: str, report, status: int = 200):
    """Show the report of an upload; keep the file for the confirmation when it would change anything."""
    confirm = None
    if report.changes:
        confirm = ImportConfirmForm(formdata=None)
        confirm.upload.data = importing.store_pending(kind, raw, report, current_user.id, filename)
    return _import_page(kind, ImportForm(formdata=None), report=report, confirm=confirm, filename=filename,
                        status=status)


def _run_import(kind: str):
    """Step 1: upload → the report (inserted, updated, unchanged, rejected), nothing applied."""
    form = ImportForm()
    if not form.validate_on_submit():
        return _import_page(kind, form, status=422 if request.method == "POST" else 200)
    raw = form.file.data.read()
    try:
        report = importing.preview(kind, raw)
    except importing.ImportFileError as exc:
        form.file.errors = [*form.file.errors, str(exc)]
        return _import_page(kind, form, status=422)
    return _preview_page(kind, raw, (form.file.data.filename or "")[:200], report)


def _apply_import(kind: str):
    """Step 2: the confirmation applies the stored upload's good rows, exactly as previewed."""
    confirm = ImportConfirmForm()
    back = redirect(url_for(IMPORT_ENDPOINTS[kind]))
    if not confirm.validate_on_submit():
        flash(_("This upload is no longer available: upload the file again."), "warning")
        return back
    token = confirm.upload.data
    if confirm.discard.data:
        importing.discard_pending(token)
        flash(_("The file was discarded: nothing was applied."), "info")
        return back
    try:
        raw, meta = importing.load_pending(token, kind, current_user.id)
        report = importing.apply_pending(token, kind, current_user.id)
    except importing.PendingImportMissing:
        flash(_("This upload is no longer available: upload the file again."), "warning")
        return back
    except importing.PlanChanged as exc:
        importing.discard_pending(token)
        flash(_("The data changed since your preview, so nothing was applied. "
                "Check this new report and confirm again."), "warning")
        return _preview_page(kind, raw, meta.get("filename") or "", exc.report, status=409)
    except (ops.CatalogError, importing.ImportFileError) as exc:  # a rule found only while applying
        db.session.rollback()
        importing.discard_pending(token)
        flash(str(exc), "danger")
        return back
    db.session.commit()
    importing.discard_pending(token)
    flash(
        _("Import applied: %(inserted)s inserted, %(updated)s updated.",
          inserted=len(report.inserted), updated=len(report.updated)),
        "success",
    )
    return _import_page(kind, ImportForm(formdata=None), report=report, filename=meta.get("filename") or "")


@bp.route("/admin/products/import", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def import_products():
    return _run_import("products")


@bp.route("/admin/products/import/apply", methods=["POST"])
@roles_required(Role.ADMIN)
def import_products_apply():
    return _apply_import("products")


# --- group customers --------------------------------------------------------------------------------


def _customer_query(user, q: str = "", tier: str = "", region: str = ""):
    stmt = sa.select(Customer)
    if user.role == Role.ACCOUNT_MANAGER:
        stmt = stmt.where(Customer.account_manager_id == user.id)
    q = (q or "").strip()
    if q:
        pattern = _like(q)
        stmt = stmt.where(
            sa.or_(Customer.name.ilike(pattern, escape="\\"), Customer.uscc.ilike(pattern, escape="\\"))
        )
    if tier in {t.value for t in CustomerTier}:
        stmt = stmt.where(Customer.tier == CustomerTier(tier))
    if region:
        stmt = stmt.join(Region, Customer.region_id == Region.id).where(Region.code == region)
    return stmt.order_by(Customer.tier, Customer.name)


@bp.route("/customers")
@roles_required(*CUSTOMER_VIEWERS)
def customers():
    q = request.args.get("q", "")[:100]
    tier = request.args.get("tier", "")
    region = request.args.get("region", "")[:8]
    rows = db.session.scalars(_customer_query(current_user, q, tier, region).limit(LIST_LIMIT)).all()
    regions = db.session.scalars(sa.select(Region).order_by(Region.code)).all()
    return render_template(
        "catalog/customers.html",
        customers=rows,
        q=q,
        tier=tier,
        region=region,
        regions=regions,
        mine=current_user.role == Role.ACCOUNT_MANAGER,
        is_admin=current_user.role == Role.ADMIN,
    )


def _customer_or_404(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or (
        current_user.role == Role.ACCOUNT_MANAGER and customer.account_manager_id != current_user.id
    ):
        abort(404)
    return customer


@bp.route("/customers/<int:customer_id>")
@roles_required(*CUSTOMER_VIEWERS)
def customer(customer_id: int):
    item = _customer_or_404(customer_id)
    assessment = customer_tiers.assess_customer(item)
    return render_template(
        "catalog/customer.html",
        customer=item,
        assessment=assessment,
        weights=customer_tiers.WEIGHTS,
        thresholds=customer_tiers.THRESHOLDS,
        indicator_labels=INDICATOR_LABELS,
        tier_form=CustomerTierForm(tier=item.tier.value),
        is_admin=current_user.role == Role.ADMIN,
        post_form=EmptyForm(),
    )


def _customer_form(form: CustomerForm) -> CustomerForm:
    form.region_id.choices = [
        SelectChoice(str(r.id), f"{r.code} · {r.name(_locale())}")
        for r in db.session.scalars(sa.select(Region).order_by(Region.code))
    ]
    form.account_manager_id.choices = [SelectChoice("", _("— none —"))] + [
        SelectChoice(str(u.id), f"{u.name} <{u.email}>") for u in ops.account_managers()
    ]
    return form


def _locale() -> str:
    from portal.core.i18n import current_lang

    return current_lang()


def _customer_data(form: CustomerForm) -> ops.CustomerData:
    try:
        spend = to_decimal(form.monthly_spend.data or "0")
    except MoneyError:
        raise ops.CatalogError(
            ops.Message(_l("%(value)s is not an amount in yuan."), value=form.monthly_spend.data),
            "monthly_spend",
        ) from None
    if spend < 0:
        raise ops.CatalogError(ops.Message(_l("The monthly spend cannot be negative.")), "monthly_spend")
    members = (form.members.data or "0").strip()
    if not members.isdigit():
        raise ops.CatalogError(ops.Message(_l("The number of members is a whole number.")), "members")
    return ops.CustomerData(
        uscc=form.uscc.data or "",
        name=form.name.data or "",
        industry=form.industry.data,
        region_id=form.region_id.data,
        monthly_spend_fen=yuan_to_fen(spend),
        members=int(members),
        strategic=bool(form.strategic.data),
        account_manager_id=form.account_manager_id.data,
    )


def _save_customer(item: Customer | None):
    form = _customer_form(CustomerForm(obj=item))
    if request.method == "GET" and item is not None:
        form.monthly_spend.data = f"{Decimal(item.monthly_spend_fen) / 100:.2f}"
        form.members.data = str(item.members)
    if form.validate_on_submit():
        try:
            saved, changed = attempt(lambda: ops.save_customer(item, _customer_data(form)))
        except ops.CatalogError as exc:
            _form_error(form, exc)
        else:
            db.session.commit()
            flash(
                _("Customer %(name)s saved: tier %(tier)s.", name=saved.name, tier=saved.tier.value)
                if changed
                else _("Nothing changed."),
                "success" if changed else "info",
            )
            return redirect(url_for("catalog.customer", customer_id=saved.id))
    return render_template(
        "catalog/customer_form.html", form=form, customer=item, industry_labels=INDUSTRY_LABELS
    )


@bp.route("/admin/customers/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_customer():
    return _save_customer(None)


@bp.route("/admin/customers/<int:customer_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_customer(customer_id: int):
    return _save_customer(db.session.get(Customer, customer_id) or abort(404))


@bp.route("/admin/customers/<int:customer_id>/tier", methods=["POST"])
@roles_required(Role.ADMIN)
def set_customer_tier(customer_id: int):
    item = db.session.get(Customer, customer_id) or abort(404)
    form = CustomerTierForm()
    if form.validate_on_submit():
        try:
            changed = attempt(ops.set_customer_tier, item, form.tier.data, form.reason.data)
        except ops.CatalogError as exc:
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(
                _("Tier set by hand: %(tier)s.", tier=item.tier.value) if changed else _("Nothing changed."),
                "success" if changed else "info",
            )
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(f"{error}", "danger")
    return redirect(url_for("catalog.customer", customer_id=item.id))


@bp.route("/admin/customers/<int:customer_id>/assessed-tier", methods=["POST"])
@roles_required(Role.ADMIN)
def restore_customer_tier(customer_id: int):
    item = db.session.get(Customer, customer_id) or abort(404)
    if EmptyForm().validate_on_submit():
        try:
            changed = attempt(ops.restore_assessed_tier, item)
        except ops.CatalogError as exc:
            flash(str(exc), "danger")
        else:
            db.session.commit()
            if changed:
                flash(
                    _("The tier follows the value assessment again: %(tier)s.", tier=item.tier.value),
                    "success",
                )
    return redirect(url_for("catalog.customer", customer_id=item.id))


@bp.route("/admin/customers/import", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def import_customers():
    return _run_import("customers")


@bp.route("/admin/customers/import/apply", methods=["POST"])
@roles_required(Role.ADMIN)
def import_customers_apply():
    return _apply_import("customers")


__all__ = ["CATEGORY_LABELS", "bp", "catalog_query", "tier_explanation"]
