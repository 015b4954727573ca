"""`portal enablement …` commands."""

from __future__ import annotations

from datetime import date

import click
from flask import Flask
from flask.cli import with_appcontext

from portal.core.db import db


@click.group("enablement")
def enablement_group():
    """Partner enablement: training certifications, surveys."""


@enablement_group.command("notify-expiring")
@click.option(
    "--date", "on_date", default=None, help="Run as of this date (YYYY-MM-DD, Asia/Shanghai); default today."
)
@with_appcontext
def notify_expiring_command(on_date: str | None):
    """Tell users whose certification ends within 30 days (once per certification period).

    Safe to run more than once a day; schedule it daily, e.g. cron `15 8 * * *`."""
    from portal.cli import as_cli_actor
    from portal.core.context import reset_actor
    from portal.enablement import operations as ops

    try:
        day = date.fromisoformat(on_date) if on_date else None
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from exc
    token = as_cli_actor("portal enablement notify-expiring")
    try:
        count = ops.notify_expiring(day)
        db.session.commit()
    finally:
        reset_actor(token)
    click.echo(f"certifications notified: {count}")


def register_cli(app: Flask) -> None:
    app.cli.add_command(enablement_group)
