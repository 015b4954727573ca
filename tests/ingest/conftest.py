"""Builders for ingest tests: CSV/XLSX files of activations and billing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)
from tests.factories import make_uscc

USCC_A = make_uscc(910001)
USCC_B = make_uscc(910002)


def activation(order_id="ORD-1", uscc=USCC_A, customer_name="广州甲公司", product_code="ING-LOW",
               agent_code="AGGZ9001", quantity="10", monthly_fee="80.00", one_time_fee="0.00",
               activated_at="2026-10-05T09:00:00", terminated_at=""):
    return [order_id, uscc, customer_name, product_code, agent_code, quantity, monthly_fee, one_time_fee,
            activated_at, terminated_at]


def billing(order_id="ORD-1", period="2026-10", billed_amount="800.00", paid_amount="800.00"):
    return [order_id, period, billed_amount, paid_amount]


def csv_bytes(header, rows, bom=False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(header, rows) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class Files:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.n = 0

    def write(self, data: bytes, suffix=".csv") -> Path:
        self.n += 1
        path = self.tmp / f"file{self.n}{suffix}"
        path.write_bytes(data)
        return path

    def activations(self, rows, bom=False, suffix=".csv") -> Path:
        return self.write(csv_bytes(ACTIVATION_COLUMNS, rows, bom), suffix)

    def billing(self, rows, suffix=".csv") -> Path:
        return self.write(csv_bytes(BILLING_COLUMNS, rows), suffix)


@pytest.fixture
def files(tmp_path):
    return Files(tmp_path)


@pytest.fixture
def catalog(make):
    """Products the ingest files refer to."""
    return {"low": make.product(code="ING-LOW"), "high": make.product(code="ING-HIGH", scores=(5, 1, 1))}


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner(mix_stderr=False) if _mix_supported() else app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args), catch_exceptions=False)

    return invoke


def _mix_supported() -> bool:
    import inspect

    from click.testing import CliRunner

    return "mix_stderr" in inspect.signature(CliRunner.__init__).parameters
