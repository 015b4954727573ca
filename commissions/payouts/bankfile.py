"""The bank rail's files: the payment file finance sends to the bank (CSV or XLSX) and the
bank's confirmation CSV read back. Text cells are made safe against formula injection."""

from __future__ import annotations

import csv
import io

from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutAccount
from portal.core.db import db
from portal.core.money import fen_to_yuan
from portal.partners.models import Agency

HEADER = ["agency_code", "agency_name", "account_name", "bank", "account_number", "amount", "currency",
          "reference"]
CONFIRMATION_HEADER = ["reference", "bank_reference", "amount"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def safe_cell(value) -> str:
    """Text for a spreadsheet cell that no spreadsheet will run as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def payment_rows(payouts: list[Payout]) -> tuple[list[list], list[Payout]]:
    """Rows of the payment file, and the payouts left out because the agency has no bank details."""
    rows, missing = [], []
    for payout in payouts:
        agency = db.session.get(Agency, payout.agency_id)
        account: PayoutAccount | None = ops.account_for(payout.agency_id)
        if account is None or not account.has_bank_details:
            missing.append(payout)
            continue
        rows.append([safe_cell(agency.code), safe_cell(agency.name), safe_cell(account.bank_account_name),
                     safe_cell(account.bank_name), safe_cell(account.bank_account_number),
                     str(fen_to_yuan(payout.amount_fen)), payout.currency.upper(),
                     safe_cell(ops.bank_reference_code(payout))])
    return rows, missing


def to_csv(rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(rows: list[list]) -> bytes:
    from decimal import Decimal

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "payments"
    sheet.append(HEADER)
    for row in rows:
        cells = list(row)
        cells[5] = Decimal(cells[5])
        sheet.append(cells)
        sheet.cell(row=sheet.max_row, column=6).number_format = "0.00"
        for column in (1, 2, 3, 4, 5, 8):  # text stays text, even digits-only account numbers
            cell = sheet.cell(row=sheet.max_row, column=column)
            cell.data_type = "s"
            cell.number_format = "@"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


class ConfirmationFileError(ValueError):
    pass


def read_confirmation(data: bytes) -> list[dict]:
    """Rows of the bank's confirmation CSV (`reference,bank_reference,amount`, UTF-8 or GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ConfirmationFileError("the file is neither UTF-8 nor GBK text")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [h for h in CONFIRMATION_HEADER if h not in header]
    if missing:
        raise ConfirmationFileError("missing columns: " + ", ".join(missing))
    rows = []
    for raw in reader:
        rows.append({(k or "").strip().lower(): (v or "").strip().lstrip("'") for k, v in raw.items()
                     if isinstance(v, str)})
    return rows
