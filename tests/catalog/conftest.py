"""Catalog test helpers: CSV text builders and the browser fixtures."""

from __future__ import annotations

import pytest

from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)

HEADER = (
    "code,name_zh,name_en,category,module_complexity,market_exclusivity,training_requirement,"
    "monthly_price,one_time_price,description_en"
)


def catalog_csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


@pytest.fixture
def en():
    return {"Accept-Language": "en"}


@pytest.fixture
def zh():
    return {"Accept-Language": "zh-CN"}
