"""`portal agencies …`: bulk migration of existing agencies."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from portal.core.db import db


@click.group("agencies")
def agencies_group():
    """Agencies (代理商)."""


@agencies_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Apply the good rows even when some rows are rejected.")
@with_appcontext
def import_command(file: Path, skip_bad: bool):
    """Insert or update agencies from FILE.csv, by agency code.

    Columns: code,name,uscc,region,grade,grade_effective_from,status,owner_email[,stripe_account_id].
    The file is applied whole or not at all, unless --skip-bad is given."""
    from portal.cli import as_cli_actor
    from portal.core.context import reset_actor
    from portal.partners.importer import ImportFileError, count_rows, import_agencies

    raw = file.read_bytes()
    token = as_cli_actor(f"portal agencies import {file.name}")
    attempt = db.session.begin_nested()  # rolled back alone when the file is refused
    try:
        with click.progressbar(length=count_rows(raw), label="agencies", file=sys.stderr) as bar:
            report = import_agencies(raw, progress=bar.update)
    except ImportFileError as exc:
        attempt.rollback()
        reset_actor(token)
        raise click.ClickException(str(exc)) from exc
    click.echo(report.summary())
    for rejection in report.rejected:
        click.echo(f"line {rejection.line} ({rejection.code or '-'}): {rejection.reason}")
    try:
        if report.rejected and not skip_bad:
            attempt.rollback()
            click.echo("Nothing was applied: fix the rejected rows, or pass --skip-bad to apply the others.")
            raise SystemExit(1)
        attempt.commit()
        db.session.commit()
        if report.rejected:
            click.echo(f"Applied the good rows; {len(report.rejected)} row(s) skipped.")
        else:
            click.echo("Applied.")
    finally:
        reset_actor(token)


def register_cli(app: Flask) -> None:
    """Add this package's commands to the `portal` group."""
    app.cli.add_command(agencies_group)
