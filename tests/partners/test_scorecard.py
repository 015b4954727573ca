"""The scorecard: registered sources, not-applicable metrics, the grade recommendation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.core.models import Role
from portal.core.time import today_shanghai
from portal.partners import scorecard
from portal.partners.models import Grade
from portal.partners.scorecard import SCORECARD_SOURCES, THRESHOLDS, recommend, register_scorecard_source


@pytest.fixture
def no_sources():
    saved = list(SCORECARD_SOURCES)
    SCORECARD_SOURCES.clear()
    yield
    SCORECARD_SOURCES[:] = saved


GOLD_VALUES = {
    "lead_approval_rate": Decimal("0.9"),
    "conversion_rate": Decimal("0.4"),
    "activations_90d": 80,
    "revenue_90d_fen": 9_000_000,
    "early_churn_share": Decimal("0.01"),
    "open_disputes": 0,
    "satisfaction_avg": Decimal("4.8"),
    "complaint_count_90d": 0,
    "certification_coverage": Decimal("1"),
}


def test_thresholds_cover_every_metric_the_brief_names():
    for grade in (Grade.GOLD, Grade.SILVER):
        assert set(THRESHOLDS[grade]) == {
            "lead_approval_rate",
            "conversion_rate",
            "activations_90d",
            "revenue_90d_fen",
            "early_churn_share",
            "open_disputes",
            "satisfaction_avg",
            "complaint_count_90d",
            "certification_coverage",
        }


def test_nothing_known_means_no_recommendation():
    grade, checks = recommend({})
    assert grade is None and not any(c.applicable for c in checks)


def test_recommendation_uses_only_applicable_metrics():
    assert recommend(GOLD_VALUES)[0] == Grade.GOLD
    assert recommend({**GOLD_VALUES, "open_disputes": 1})[0] == Grade.SILVER
    assert recommend({**GOLD_VALUES, "early_churn_share": Decimal("0.5")})[0] == Grade.BRONZE
    # a metric nobody provides does not count against the agency
    only_leads = {"lead_approval_rate": Decimal("0.75")}
    assert recommend(only_leads)[0] == Grade.GOLD
    assert recommend({"lead_approval_rate": None, "activations_90d": 12})[0] == Grade.SILVER


def test_page_shows_zero_and_dash_without_sources(client, login, make, gz, no_sources):
    agency = make.agency(region=gz)
    login(make.user(Role.CHANNEL_MANAGER, regions=[gz]))
    page = client.get(f"/agencies/{agency.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-metric="activations_90d">0<' in page
    assert 'data-metric="revenue_90d_fen">¥0.00<' in page
    assert 'data-metric="lead_approval_rate">–<' in page
    assert 'data-metric="satisfaction_avg">–<' in page
    assert "not enough data yet" in page


def test_registered_sources_fill_the_scorecard(client, login, make, gz, no_sources):
    agency = make.agency(region=gz)
    seen = []

    @register_scorecard_source
    def leads_source(a, today):
        seen.append((a.id, today))
        return {"leads_registered_90d": 12, "lead_approval_rate": Decimal("0.75"), "unknown_metric": 5}

    @register_scorecard_source
    def money_source(a, today):
        return {"activations_90d": 60, "revenue_90d_fen": 6_000_000, "open_disputes": 1}

    register_scorecard_source(leads_source)  # registering twice adds once
    assert [leads_source, money_source] == SCORECARD_SOURCES
    card = scorecard.compute(agency, today_shanghai())
    assert card.value("leads_registered_90d") == 12
    assert card.recommendation == Grade.SILVER  # one open dispute keeps it from gold
    login(make.user(Role.CHANNEL_MANAGER, regions=[gz]))
    page = client.get(f"/agencies/{agency.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-metric="lead_approval_rate">75.0%<' in page
    assert 'data-metric="revenue_90d_fen">¥60,000.00<' in page
    assert 'data-testid="recommendation">Silver<' in page
    assert seen and seen[0][0] == agency.id


def test_a_failing_source_does_not_break_the_page(client, login, make, gz, no_sources):
    agency = make.agency(region=gz)

    @register_scorecard_source
    def broken(a, today):
        raise RuntimeError("boom")

    login(make.user(Role.CHANNEL_MANAGER, regions=[gz]))
    assert client.get(f"/agencies/{agency.id}").status_code == 200
