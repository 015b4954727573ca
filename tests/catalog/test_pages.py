"""Catalog pages over HTTP: what agencies see (and never see), search in both languages,
the product page, catalog administration with audit, group customers."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from catalog import earnings
from catalog.models import Customer, CustomerTier, Product, ProductStatus, Tier
from portal.core.db import db
from portal.core.models import AuditLog, Role

ADMIN_PAGES = [
    ("GET", "/admin/products"),
    ("GET", "/admin/products/new"),
    ("POST", "/admin/products/new"),
    ("GET", "/admin/products/{code}/edit"),
    ("POST", "/admin/products/{code}/edit"),
    ("POST", "/admin/products/{code}/tier"),
    ("POST", "/admin/products/{code}/retire"),
    ("POST", "/admin/products/{code}/reactivate"),
    ("GET", "/admin/products/import"),
    ("POST", "/admin/products/import"),
    ("GET", "/admin/customers/new"),
    ("GET", "/admin/customers/import"),
]


@pytest.fixture
def catalog(make):
    return {
        "sms": make.product(
            "T-SMS",
            scores=(1, 1, 1),
            name_zh="集团短信",
            name_en="Group SMS",
            description_en="Bulk text messages to members",
            description_zh="向成员批量发送短信",
        ),
        "pbx": make.product(
            "T-PBX",
            scores=(3, 3, 3),
            name_zh="集团总机",
            name_en="Group Switchboard",
            category="voice",
            description_en="One published number",
        ),
        "line": make.product(
            "T-LINE",
            scores=(5, 4, 2),
            name_zh="数字数据专线",
            name_en="Data Line",
            category="access",
            description_en="Dedicated data circuit",
        ),
        "card": make.product(
            "T-CARD",
            scores=(1, 1, 1),
            name_zh="企业名片",
            name_en="Enterprise Card",
            category="media",
            tier_override=Tier.HIGH,
            tier_override_reason="Needs the operator's number-display platform",
        ),
        "old": make.product(
            "T-OLD", scores=(1, 1, 1), name_zh="旧彩信", name_en="Old MMS", status=ProductStatus.RETIRED
        ),
    }


def _codes(html: str) -> set[str]:
    import re

    return set(re.findall(r'data-code="([A-Z0-9-]+)"', html))


@pytest.mark.parametrize("role", [Role.AGENCY_SALES, Role.AGENCY_OWNER])
def test_agency_never_sees_retired_products(client, make, login, catalog, role, en):
    login(make.user(role))
    html = client.get("/catalog", headers=en).get_data(as_text=True)
    assert {"T-SMS", "T-PBX", "T-LINE", "T-CARD"} <= _codes(html)
    assert "T-OLD" not in _codes(html) and "Old MMS" not in html
    assert client.get("/catalog?status=retired", headers=en).get_data(as_text=True).count("T-OLD") == 0
    assert client.get("/catalog/T-OLD", headers=en).status_code == 404
    assert client.get("/catalog/T-SMS", headers=en).status_code == 200


def test_staff_see_retired_products(client, make, login, catalog, en):
    login(make.user(Role.CHANNEL_MANAGER))
    assert "T-OLD" in _codes(client.get("/catalog", headers=en).get_data(as_text=True))
    assert _codes(client.get("/catalog?status=retired", headers=en).get_data(as_text=True)) >= {"T-OLD"}
    assert "T-SMS" not in _codes(client.get("/catalog?status=retired", headers=en).get_data(as_text=True))
    assert client.get("/catalog/T-OLD", headers=en).status_code == 200


@pytest.mark.parametrize(
    "role", [Role.AGENCY_SALES, Role.AGENCY_OWNER, Role.CHANNEL_MANAGER, Role.FINANCE, Role.ACCOUNT_MANAGER]
)
def test_only_admins_reach_the_catalog_administration(client, make, login, catalog, role):
    login(make.user(role))
    for method, url in ADMIN_PAGES:
        response = client.open(url.format(code="T-SMS"), method=method, data={})
        assert response.status_code == 403, f"{method} {url} as {role}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("短信", {"T-SMS"}),  # Chinese name
        ("总机", {"T-PBX"}),
        ("批量", {"T-SMS"}),  # Chinese description
        ("switchboard", {"T-PBX"}),  # English name, case-insensitive
        ("DATA", {"T-LINE"}),  # English name and description
        ("members", {"T-SMS"}),  # English description
        ("t-card", {"T-CARD"}),  # code
        ("50%", set()),  # LIKE wildcards are literal
        ("旧彩信", set()),  # retired: invisible to agencies
    ],
)
def test_search_in_chinese_and_english(client, make, login, catalog, query, expected, en):
    login(make.user(Role.AGENCY_SALES))
    html = client.get("/catalog", query_string={"q": query}, headers=en).get_data(as_text=True)
    assert _codes(html) == expected


def test_category_and_tier_filters(client, make, login, catalog, en):
    login(make.user(Role.AGENCY_SALES))
    low = _codes(client.get("/catalog?tier=low", headers=en).get_data(as_text=True))
    high = _codes(client.get("/catalog?tier=high", headers=en).get_data(as_text=True))
    assert {"T-SMS", "T-PBX"} <= low and not low & {"T-LINE", "T-CARD", "T-OLD"}
    assert {"T-LINE", "T-CARD"} <= high and not high & {"T-SMS", "T-PBX"}
    assert _codes(client.get("/catalog?category=voice", headers=en).get_data(as_text=True)) == {"T-PBX"}


def test_the_category_filter_offers_the_categories_the_user_may_see(client, make, login, catalog, en):
    """Agencies are offered the categories of active products only, whether the list is filtered
    or not (unfiltered, they come from the list itself); staff also those of retired products."""
    import re

    make.product("T-GONE", category="archive", status=ProductStatus.RETIRED)

    def offered(url):
        html = client.get(url, headers=en).get_data(as_text=True)
        select = html.split('id="category"', 1)[1].split("</select>", 1)[0]
        return [value for value in re.findall(r'<option value="([^"]*)"', select) if value]

    login(make.user(Role.AGENCY_OWNER))
    agency = offered("/catalog")
    assert agency == sorted(agency) and {"voice", "media", "messaging"} <= set(agency) and "archive" not in agency
    assert offered("/catalog?tier=high") == agency == offered("/catalog?q=zzz")
    login(make.user(Role.CHANNEL_MANAGER))
    staff = offered("/catalog")
    assert "archive" in staff and staff == offered("/catalog?status=retired") == sorted(staff)


def test_agency_sees_what_it_may_sell_and_why_in_english(client, make, login, catalog, en):
    login(make.user(Role.AGENCY_SALES))
    low = client.get("/catalog/T-PBX", headers=en).get_data(as_text=True)
    assert "You can sell" in low and "Every complexity score is below 4." in low
    high = client.get("/catalog/T-LINE", headers=en).get_data(as_text=True)
    assert "Account manager product — refer a lead" in high
    assert "Functional-module complexity 5/5, Market exclusivity 4/5" in high
    assert "Service-training requirement 2/5" not in high.split('data-testid="why"')[1].split("</p>")[0]
    override = client.get("/catalog/T-CARD", headers=en).get_data(as_text=True)
    assert "Set by the administrator: Needs the operator&#39;s number-display platform" in override


def test_agency_sees_it_in_chinese(client, make, login, catalog, zh):
    login(make.user(Role.AGENCY_SALES))
    html = client.get("/catalog", headers=zh).get_data(as_text=True)
    assert "集团短信" in html and "您可以销售" in html and "You can sell" not in html
    page = client.get("/catalog/T-LINE", headers=zh).get_data(as_text=True)
    assert "数字数据专线" in page and "客户经理产品" in page and "功能模块复杂性 5/5、市场排他性 4/5" in page


def test_call_to_action_links_to_lead_registration(client, make, login, catalog, en, app):
    login(make.user(Role.AGENCY_SALES))
    has_leads = "leads.new" in {rule.endpoint for rule in app.url_map.iter_rules()}
    low = client.get("/catalog/T-SMS", headers=en).get_data(as_text=True)
    high = client.get("/catalog/T-LINE", headers=en).get_data(as_text=True)
    if has_leads:
        assert 'href="/leads/new?product=T-SMS"' in low and ">Register a lead<" in low
        assert 'href="/leads/new?product=T-LINE"' in high and ">Refer a lead<" in high
    else:
        assert 'data-testid="cta"' not in low


def test_sales_users_see_no_list_prices_owners_and_staff_do(client, make, login, catalog, en):
    agency = make.agency()
    login(make.user(Role.AGENCY_SALES, agency=agency))
    assert "¥100.00" not in client.get("/catalog/T-SMS", headers=en).get_data(as_text=True)
    login(make.user(Role.AGENCY_OWNER, agency=agency))
    assert "¥100.00" in client.get("/catalog/T-SMS", headers=en).get_data(as_text=True)


def test_what_you_earn_panel_without_and_with_a_provider(client, make, login, catalog, en):
    agency = make.agency()
    login(make.user(Role.AGENCY_SALES, agency=agency))
    html = client.get("/catalog/T-SMS", headers=en).get_data(as_text=True)
    assert "What you earn" in html and "No commission rule yet" in html
    seen = []

    def provider(product, for_agency, on_date):
        seen.append((product.code, for_agency.id, on_date))
        if product.code != "T-SMS":
            return None
        return {
            "one_off_fen": 5000,
            "revenue_share_rate": "0.08",
            "revenue_share_months": 12,
            "referral_bounty_fen": 20000,
        }

    earnings.register_earnings_provider(provider)
    try:
        html = client.get("/catalog/T-SMS", headers=en).get_data(as_text=True)
        assert "¥50.00" in html and "8% of the billed revenue for 12 months" in html and "¥200.00" in html
        assert "No commission rule yet" not in html
        assert "No commission rule yet" in client.get("/catalog/T-PBX", headers=en).get_data(as_text=True)
        assert seen[0][:2] == ("T-SMS", agency.id) and isinstance(seen[0][2], date)
    finally:
        earnings.unregister_earnings_provider(provider)


def test_agency_home_panel_summarises_what_it_can_sell(client, make, login, catalog, en):
    login(make.user(Role.AGENCY_SALES))
    html = client.get("/", headers=en).get_data(as_text=True)
    assert 'data-testid="catalog-panel"' in html and "What you can sell" in html


# --- administration ----------------------------------------------------------------------------


def _form(product: Product, **changes) -> dict:
    data = {
        "code": product.code,
        "name_zh": product.name_zh,
        "name_en": product.name_en,
        "category": product.category,
        "description_zh": product.description_zh,
        "description_en": product.description_en,
        "monthly_price": f"{product.monthly_price_fen / 100:.2f}",
        "one_time_price": f"{product.one_time_price_fen / 100:.2f}",
        "module_complexity": product.module_complexity,
        "market_exclusivity": product.market_exclusivity,
        "training_requirement": product.training_requirement,
    }
    data.update(changes)
    return data


def test_admin_edits_a_product_and_the_audit_log_shows_it(client, make, login, catalog, en):
    admin = make.user(Role.ADMIN)
    login(admin)
    sms = catalog["sms"]
    response = client.post(
        "/admin/products/T-SMS/edit",
        data=_form(sms, monthly_price="120.50", market_exclusivity="4"),
        headers=en,
    )
    assert response.status_code == 302
    assert (sms.monthly_price_fen, sms.market_exclusivity, sms.tier) == (12050, 4, Tier.HIGH)
    entry = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "product.update", AuditLog.object_id == str(sms.id))
    )
    assert entry.actor_id == admin.id
    assert entry.before == {
        "code": "T-SMS",
        "monthly_price_fen": 10000,
        "market_exclusivity": 1,
        "tier": "low",
    }
    assert entry.after["monthly_price_fen"] == 12050 and entry.after["tier"] == "high"
    audit_page = client.get("/admin/audit?object_type=products", headers=en).get_data(as_text=True)
    assert "product.update" in audit_page and "12050" in audit_page


def test_validation_errors_are_shown_on_the_form_in_the_users_language(client, make, login, catalog, en, zh):
    login(make.user(Role.ADMIN))
    data = _form(catalog["sms"], monthly_price="12.345")
    html = client.post("/admin/products/T-SMS/edit", data=data, headers=en).get_data(as_text=True)
    assert "A price has at most two decimals (fen)." in html and "is-invalid" in html
    html = client.post("/admin/products/T-SMS/edit", data=data, headers=zh).get_data(as_text=True)
    assert "A price has at most two decimals" not in html and "分" in html
    new = {**_form(catalog["sms"]), "code": "t sms!"}
    html = client.post("/admin/products/new", data=new, headers=en).get_data(as_text=True)
    assert "upper-case letters, digits and dashes" in html
    duplicate = {**_form(catalog["sms"])}
    html = client.post("/admin/products/new", data=duplicate, headers=en).get_data(as_text=True)
    assert "A product with the code T-SMS already exists." in html
    assert catalog["sms"].monthly_price_fen == 10000


def test_admin_creates_retires_and_reactivates(client, make, login, en):
    login(make.user(Role.ADMIN))
    data = {
        "code": "new-prod",
        "name_zh": "新产品",
        "name_en": "New product",
        "category": "messaging",
        "monthly_price": "9.90",
        "one_time_price": "",
        "module_complexity": "2",
        "market_exclusivity": "2",
        "training_requirement": "2",
    }
    assert client.post("/admin/products/new", data=data, headers=en).status_code == 302
    product = db.session.scalar(sa.select(Product).where(Product.code == "NEW-PROD"))
    assert product.monthly_price_fen == 990 and product.tier == Tier.LOW
    assert client.post("/admin/products/NEW-PROD/retire", headers=en).status_code == 302
    assert product.status == ProductStatus.RETIRED
    assert client.post("/admin/products/NEW-PROD/reactivate", headers=en).status_code == 302
    assert product.status == ProductStatus.ACTIVE
    actions = db.session.scalars(
        sa.select(AuditLog.action)
        .where(AuditLog.object_type == "products", AuditLog.object_id == str(product.id))
        .order_by(AuditLog.id)
    ).all()
    assert actions == ["product.create", "product.retire", "product.reactivate"]


def test_tier_override_needs_a_reason_and_is_audited(client, make, login, catalog, en):
    login(make.user(Role.ADMIN))
    pbx = catalog["pbx"]
    response = client.post("/admin/products/T-PBX/tier", data={"tier": "high", "reason": ""}, headers=en)
    assert response.status_code == 422
    assert "Give the reason for overriding the tier." in response.get_data(as_text=True)
    assert pbx.tier_override is None
    response = client.post(
        "/admin/products/T-PBX/tier", data={"tier": "high", "reason": "Needs on-site engineering"}, headers=en
    )
    assert response.status_code == 302
    assert (pbx.tier, pbx.derived_tier, pbx.tier_override_reason) == (
        Tier.HIGH,
        Tier.LOW,
        "Needs on-site engineering",
    )
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "product.tier_override"))
    assert entry.before["tier"] == "low" and entry.after == {
        "code": "T-PBX",
        "tier_override": "high",
        "tier_override_reason": "Needs on-site engineering",
        "tier": "high",
    }
    assert (
        client.post("/admin/products/T-PBX/tier", data={"tier": "", "reason": ""}, headers=en).status_code
        == 302
    )
    assert pbx.tier_override is None and pbx.tier_override_reason is None and pbx.tier == Tier.LOW


def test_admin_imports_through_the_page(client, make, login, en):
    """Upload → report, nothing applied → the confirmation applies the good row (SPEC §5.1)."""
    import io
    import re

    from tests.catalog.conftest import catalog_csv

    login(make.user(Role.ADMIN))
    bad = catalog_csv("UP-1,上,Up,messaging,1,1,1,1,0,x", "UP-2,上,Up,messaging,9,1,1,1,0,x")
    html = client.post(
        "/admin/products/import",
        data={"file": (io.BytesIO(bad), "c.csv")},
        content_type="multipart/form-data",
        headers=en,
    ).get_data(as_text=True)
    assert "Nothing has been applied yet." in html
    assert "A complexity score is a whole number from 1 to 5." in html
    assert db.session.scalar(sa.select(Product).where(Product.code == "UP-1")) is None
    token = re.search(r'name="upload" type="hidden" value="([0-9a-f]{32})"', html).group(1)
    html = client.post(
        "/admin/products/import/apply", data={"upload": token, "apply": "1"}, headers=en
    ).get_data(as_text=True)
    assert "Applied." in html
    assert db.session.scalar(sa.select(Product).where(Product.code == "UP-1")) is not None
    assert db.session.scalar(sa.select(Product).where(Product.code == "UP-2")) is None


# --- group customers -----------------------------------------------------------------------------


def test_account_managers_see_only_their_customers(client, make, login, en):
    am, other_am = make.user(Role.ACCOUNT_MANAGER), make.user(Role.ACCOUNT_MANAGER)
    mine = make.customer(tier=CustomerTier.A, account_manager=am, name="我的客户")
    theirs = make.customer(tier=CustomerTier.B, account_manager=other_am, name="别人的客户")
    unowned = make.customer(tier=CustomerTier.D, name="渠道客户")
    login(am)
    html = client.get("/customers", headers=en).get_data(as_text=True)
    assert (
        "My customers" in html and "我的客户" in html and "别人的客户" not in html and "渠道客户" not in html
    )
    assert client.get(f"/customers/{mine.id}", headers=en).status_code == 200
    assert client.get(f"/customers/{theirs.id}", headers=en).status_code == 404
    assert client.get(f"/customers/{unowned.id}", headers=en).status_code == 404
    for role in (Role.ADMIN, Role.CHANNEL_MANAGER, Role.FINANCE):
        login(make.user(role))
        html = client.get("/customers", headers=en).get_data(as_text=True)
        assert {"我的客户", "别人的客户", "渠道客户"} <= {
            n for n in ("我的客户", "别人的客户", "渠道客户") if n in html
        }
        assert client.get(f"/customers/{theirs.id}", headers=en).status_code == 200
    for role in (Role.AGENCY_OWNER, Role.AGENCY_SALES):
        login(make.user(role))
        assert client.get("/customers", headers=en).status_code == 403
        assert client.get(f"/customers/{mine.id}", headers=en).status_code == 403


def test_admin_creates_a_customer_with_a_valid_uscc_and_an_owner_for_named_accounts(client, make, login, en):
    from tests.factories import make_uscc

    region = make.region("GZ")
    am = make.user(Role.ACCOUNT_MANAGER)
    login(make.user(Role.ADMIN))
    uscc = make_uscc()
    data = {
        "uscc": uscc[:-1] + ("0" if uscc[-1] != "0" else "1"),
        "name": "广州银行",
        "industry": "finance",
        "region_id": str(region.id),
        "monthly_spend": "50000",
        "members": "500",
        "account_manager_id": "",
    }
    html = client.post("/admin/customers/new", data=data, headers=en).get_data(as_text=True)
    assert "The check character (the last one) of this unified social credit code is wrong." in html
    data["uscc"] = uscc
    html = client.post("/admin/customers/new", data=data, headers=en).get_data(as_text=True)
    assert "A tier B customer is a named account: choose its owning account manager." in html
    data["account_manager_id"] = str(am.id)
    response = client.post("/admin/customers/new", data=data, headers=en)
    assert response.status_code == 302
    customer = db.session.scalar(sa.select(Customer).where(Customer.uscc == uscc))
    assert (customer.tier, customer.value_score, customer.account_manager_id) == (CustomerTier.B, 74, am.id)
    page = client.get(f"/customers/{customer.id}", headers=en).get_data(as_text=True)
    assert "74 → Tier B" in page
    # the admin sets the tier by hand, with a reason
    response = client.post(
        f"/admin/customers/{customer.id}/tier", data={"tier": "A", "reason": "Provincial HQ"}, headers=en
    )
    assert response.status_code == 302 and customer.tier == CustomerTier.A and customer.tier_manual
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "customer.tier_set")) is not None


@pytest.mark.parametrize(
    ("role", "present", "absent"),
    [
        (Role.AGENCY_SALES, ["/catalog"], ["/admin/products", "/customers"]),
        (Role.ADMIN, ["/catalog", "/admin/products", "/customers"], []),
        (Role.ACCOUNT_MANAGER, ["/catalog", "/customers"], ["/admin/products"]),
        (Role.FINANCE, ["/catalog", "/customers"], ["/admin/products"]),
    ],
)
def test_navigation_entries(client, make, login, role, present, absent, en):
    login(make.user(role))
    nav = client.get("/", headers=en).get_data(as_text=True).split('id="mainnav"')[1].split("</nav>")[0]
    for href in present:
        assert f'href="{href}"' in nav
    for href in absent:
        assert f'href="{href}"' not in nav
