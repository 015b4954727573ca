"""`portal leads …` (expiry of protections) and `portal tokens …` (API tokens)."""

from __future__ import annotations

from datetime import date

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from portal.core.db import db


@click.group("leads")
def leads_group():
    """Lead registrations (商机报备)."""


@leads_group.command("expire")
@click.option(
    "--today",
    "today_text",
    metavar="YYYY-MM-DD",
    help="Expire as if today were this date (Asia/Shanghai); default: today in Shanghai.",
)
@with_appcontext
def expire_command(today_text: str | None):
    """Expire approved leads whose protection ended (protected_until before today, Asia/Shanghai).

    Idempotent: run it daily from cron; a second run the same day changes nothing."""
    from portal.cli import as_cli_actor
    from portal.core.context import reset_actor
    from portal.core.time import today_shanghai
    from portal.leads.operations import expire_protections

    try:
        today = date.fromisoformat(today_text) if today_text else today_shanghai()
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--today") from exc
    token = as_cli_actor("portal leads expire")
    try:
        expired = expire_protections(today)
        db.session.commit()
    finally:
        reset_actor(token)
    click.echo(f"{len(expired)} lead(s) expired (protection ended before {today.isoformat()})")
    for lead in expired:
        click.echo(
            f"  lead {lead.id}: {lead.customer.uscc} {lead.product.code} "
            f"{lead.agency.code or lead.agency.name} protected until {lead.protected_until.isoformat()}"
        )


@click.group("tokens")
def tokens_group():
    """API bearer tokens."""


@tokens_group.command("create")
@click.option("--agency", "agency_code", metavar="CODE", help="An agency token for this agency code.")
@click.option(
    "--integration",
    "integration_name",
    metavar="NAME",
    help="An integration token (activations and billing ingest) with this name.",
)
@click.option("--name", default=None, help="A name for an agency token (default: cli).")
@with_appcontext
def create_command(agency_code: str | None, integration_name: str | None, name: str | None):
    """Create a token and print it once (only its hash is stored)."""
    from portal.api.auth import create_token
    from portal.api.models import TokenKind
    from portal.cli import as_cli_actor
    from portal.core.context import reset_actor
    from portal.partners.models import Agency, AgencyStatus

    if bool(agency_code) == bool(integration_name):
        raise click.UsageError("give exactly one of --agency CODE or --integration NAME")
    token = as_cli_actor("portal tokens create")
    try:
        if agency_code:
            agency = db.session.scalar(sa.select(Agency).where(Agency.code == agency_code.strip().upper()))
            if agency is None:
                raise click.ClickException(f"no agency with code {agency_code}")
            if agency.status == AgencyStatus.TERMINATED:
                raise click.ClickException(f"agency {agency.code} is terminated")
            row, text = create_token(TokenKind.AGENCY, name or "cli", agency=agency)
        else:
            row, text = create_token(TokenKind.INTEGRATION, integration_name)
        db.session.commit()
    finally:
        reset_actor(token)
    click.echo(text)
    click.echo(f"token {row.prefix}… ({row.kind.value}) created; it is not shown again.", err=True)


@tokens_group.command("list")
@with_appcontext
def list_command():
    """List tokens (prefix, kind, agency, name, last used, state)."""
    from portal.api.models import ApiToken

    for row in db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)):
        state = "revoked" if row.revoked_at else "active"
        used = row.last_used_at.isoformat() if row.last_used_at else "never"
        agency = row.agency.code if row.agency else "-"
        click.echo(f"{row.prefix}\t{row.kind.value}\t{agency}\t{row.name}\tlast used {used}\t{state}")


@tokens_group.command("revoke")
@click.argument("prefix")
@with_appcontext
def revoke_command(prefix: str):
    """Revoke the active token whose prefix is PREFIX."""
    from portal.api.auth import revoke_token
    from portal.api.models import ApiToken
    from portal.cli import as_cli_actor
    from portal.core.context import reset_actor

    rows = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.prefix == prefix.rstrip("…"), ApiToken.revoked_at.is_(None))
    ).all()
    if len(rows) != 1:
        raise click.ClickException(f"{len(rows)} active token(s) have the prefix {prefix}")
    token = as_cli_actor("portal tokens revoke")
    try:
        revoke_token(rows[0])
        db.session.commit()
    finally:
        reset_actor(token)
    click.echo(f"token {rows[0].prefix}… revoked")


def register_cli(app: Flask) -> None:
    app.cli.add_command(leads_group)
    app.cli.add_command(tokens_group)
