"""`portal payouts …`: the payout run, the bank rail's files, reconciliation."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from commissions.payouts import bankfile, ledger
from commissions.payouts import operations as ops
from portal.core.context import Actor, reset_actor, set_actor
from portal.core.db import db

payouts_cli = AppGroup("payouts", help="Pay approved statements (Stripe or bank) and reconcile periods.")


def _period(value: str) -> str:
    if not ledger.valid_period(value):
        raise click.BadParameter("expected YYYY-MM")
    return value


@payouts_cli.command("run")
@click.argument("period")
def run_command(period: str):
    """Pay every approved payable statement of PERIOD (YYYY-MM) once; safe to run again."""
    period = _period(period)
    token = set_actor(Actor(user_id=None, label="portal payouts run"))
    try:
        report = ops.run_payouts(period)
        db.session.commit()
    except ops.PayoutError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        reset_actor(token)
    for line in report.lines():
        click.echo(line)
    if report.failed or report.pending:
        sys.exit(2)


@payouts_cli.command("bank-export")
@click.argument("period")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
def bank_export_command(period: str, fmt: str, output: str | None):
    """Write the bank payment file of PERIOD (payouts waiting for a bank transfer)."""
    period = _period(period)
    rows, missing = bankfile.payment_rows(ops.bank_payouts(period))
    data = bankfile.to_xlsx(rows) if fmt == "xlsx" else bankfile.to_csv(rows)
    if output:
        with open(output, "wb") as handle:
            handle.write(data)
        click.echo(f"{len(rows)} payment(s) written to {output}", err=True)
    else:
        if fmt == "xlsx":
            raise click.ClickException("XLSX needs --output FILE")
        click.get_binary_stream("stdout").write(data)
    for payout in missing:
        click.echo(f"left out: payout {payout.id} (agency {payout.agency_id} has no bank details)", err=True)


@payouts_cli.command("bank-confirm")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def bank_confirm_command(file: str):
    """Mark bank payouts paid from the bank's confirmation CSV (reference,bank_reference,amount)."""
    with open(file, "rb") as handle:
        data = handle.read()
    try:
        rows = bankfile.read_confirmation(data)
    except bankfile.ConfirmationFileError as exc:
        raise click.ClickException(str(exc)) from exc
    token = set_actor(Actor(user_id=None, label="portal payouts bank-confirm"))
    try:
        report = ops.import_bank_confirmation(rows)
        db.session.commit()
    finally:
        reset_actor(token)
    click.echo(f"paid {len(report.paid)}, already paid {len(report.already)}, rejected {len(report.rejected)}")
    for line, message in report.rejected:
        click.echo(f"  line {line}: {message}")
    if report.rejected:
        sys.exit(2)


@payouts_cli.command("reconcile")
@click.argument("period")
def reconcile_command(period: str):
    """Print PERIOD's reconciliation; exit 1 when something does not agree."""
    from commissions.payouts.reconciliation import reconcile

    period = _period(period)
    result = reconcile(period)
    from portal.core.money import format_fen

    totals = result.totals
    click.echo(f"period {period}: lines {format_fen(totals['lines_fen'])}, earned {format_fen(totals['earned_fen'])}, "
               f"payable {format_fen(totals['payable_fen'])}, paid {format_fen(totals['paid_fen'])}, "
               f"carried {format_fen(totals['carried_fen'])}; "
               f"stripe checked: {'yes' if result.stripe_checked else 'no'}")
    for mismatch in result.mismatches:
        click.echo(f"  [{mismatch.kind}] {mismatch.message}")
    if result.mismatches:
        sys.exit(1)
    click.echo("everything agrees")


def register_cli(app) -> None:
    app.cli.add_command(payouts_cli)
