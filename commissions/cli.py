"""`portal plans load FILE.toml`, `portal commissions run|close|attribute|export YYYY-MM` and
`portal statements publish|approve|export YYYY-MM`."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import click
from flask.cli import with_appcontext

from portal.core.context import Actor, reset_actor, set_actor
from portal.core.db import db


def _period(value: str) -> str:
    from commissions.calculation import PlanValueError, parse_period

    try:
        return parse_period(value)
    except PlanValueError as exc:
        raise click.BadParameter(str(exc)) from None


class _Actor:
    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        self.token = set_actor(Actor(user_id=None, label=self.label))
        return self

    def __exit__(self, *exc):
        reset_actor(self.token)
        return False


@click.group("plans")
def plans_group():
    """The commission plan (酬金方案)."""


@plans_group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def plans_load(path: str):
    """Load rule versions, grade multipliers and the minimum payout from a TOML file (SPEC §5.3).
    All or nothing."""
    from commissions.plans import PlanError, load_toml

    with _Actor("portal plans load"):
        try:
            report = load_toml(Path(path).read_bytes())
        except PlanError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
    click.echo(f"plan {Path(path).name}: {report.rules_created} rule(s) created, {report.rules_updated} updated, "
               f"{report.rules_unchanged} unchanged, {report.multipliers_saved} multiplier(s)")


@click.group("commissions")
def commissions_group():
    """Commission periods and the ledger (酬金)."""


@commissions_group.command("run")
@click.argument("period")
@with_appcontext
def commissions_run(period: str):
    """Recompute the lines and statements of an open period (deterministic; run it again at will)."""
    from commissions.engine import run_period
    from commissions.periods import PeriodError

    period = _period(period)
    with _Actor(f"portal commissions run {period}"), \
            click.progressbar(length=100, label=f"period {period}", file=sys.stderr) as bar:
        state = {"done": 0}

        def progress(percent, _message=None):
            step = int(percent) - state["done"]
            if step > 0:
                bar.update(step)
                state["done"] += step

        try:
            result = run_period(period, progress=progress)
        except PeriodError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
    total = Decimal(int(result["total_fen"])).scaleb(-2)  # exact: never through a float
    click.echo(f"period {period}: {result['lines']:,} line(s), {result['statements']:,} statement(s), "
               f"total ¥{total:,.2f} in {result['seconds']:.2f} s"
               + (" (late lines of closed periods included)" if result["late"] else ""))


@commissions_group.command("close")
@click.argument("period")
@with_appcontext
def commissions_close(period: str):
    """Close a period (after the one before it); closed periods are immutable."""
    from commissions.periods import PeriodError, close_period

    period = _period(period)
    with _Actor(f"portal commissions close {period}"):
        try:
            close_period(period)
        except PeriodError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
    click.echo(f"period {period} closed")


@commissions_group.command("attribute")
@with_appcontext
def commissions_attribute():
    """Attribute new activations now (a run does it too) and list the exception counts."""
    from commissions.attribution import attribute_pending, exception_counts

    with _Actor("portal commissions attribute"):
        counts = attribute_pending()
        db.session.commit()
    click.echo("attributed: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing new"))
    for reason, n in sorted(exception_counts().items()):
        click.echo(f"  exception {reason}: {n}")


def _export(kind: str, period: str, fmt: str, output: str | None) -> None:
    from commissions.exports import export

    if output:
        with open(output, "wb") as stream:
            n = export(kind, period, fmt, stream)
        click.echo(f"{n} row(s) written to {output}", err=True)
    else:
        if fmt == "xlsx" and sys.stdout.isatty():
            raise click.ClickException("XLSX is binary: use --output FILE or redirect standard output")
        sys.stdout.flush()
        stream = sys.stdout.buffer
        export(kind, period, fmt, stream)
        stream.flush()


@commissions_group.command("export")
@click.argument("period")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@with_appcontext
def commissions_export(period: str, fmt: str, output: str | None):
    """Export the period's lines: period,agency_code,order_id,component,source_period,basis_amount,rate,
    multiplier,amount,rule_version."""
    _export("lines", _period(period), fmt, output)


@click.group("statements")
def statements_group():
    """Commission statements (结算单)."""


@statements_group.command("publish")
@click.argument("period")
@with_appcontext
def statements_publish(period: str):
    """Publish the draft statements of a period (the agencies see them)."""
    from commissions.statements import StatementError, publish_period

    period = _period(period)
    with _Actor(f"portal statements publish {period}"):
        try:
            n = publish_period(period)
        except StatementError as exc:
            db.session.rollback()
            raise click.ClickException(exc.message) from None
        db.session.commit()
    click.echo(f"{n} statement(s) of {period} published")


@statements_group.command("approve")
@click.argument("period")
@with_appcontext
def statements_approve(period: str):
    """Approve the published statements of a period (those with an open dispute are skipped)."""
    from commissions.statements import approve_period

    period = _period(period)
    with _Actor(f"portal statements approve {period}"):
        approved, skipped = approve_period(period)
        db.session.commit()
    click.echo(f"{approved} statement(s) of {period} approved")
    for statement in skipped:
        click.echo(f"  skipped {statement.agency.code}: a dispute is open", err=True)
    if skipped:
        raise SystemExit(1)


@statements_group.command("export")
@click.argument("period")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="File to write (default: stdout).")
@with_appcontext
def statements_export(period: str, fmt: str, output: str | None):
    """Export the period's statements: period,agency_code,opening,earned,available,payable,carried,status."""
    _export("statements", _period(period), fmt, output)


def register_cli(app) -> None:
    app.cli.add_command(plans_group)
    app.cli.add_command(commissions_group)
    app.cli.add_command(statements_group)
