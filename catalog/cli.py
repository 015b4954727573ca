"""`portal catalog import FILE.csv` and `portal customers import FILE.csv`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from portal.core.db import db


def _run(kind: str, file: Path, skip_bad: bool) -> None:
    from catalog import importing
    from catalog.operations import CatalogError
    from portal.core.context import Actor, reset_actor, set_actor

    command = "catalog" if kind == "products" else "customers"
    runner = importing.import_products if kind == "products" else importing.import_customers
    raw = file.read_bytes()
    token = set_actor(Actor(user_id=None, label=f"portal {command} import {file.name}"))
    try:
        try:
            with click.progressbar(length=importing.count_rows(raw), label=kind, file=sys.stderr) as bar:
                report = runner(raw, skip_bad=skip_bad, progress=bar.update, source="cli")
        except (importing.ImportFileError, CatalogError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from exc
        click.echo(report.summary())
        for rejection in report.rejected:
            click.echo(str(rejection))
        if not report.applied:
            db.session.rollback()
            click.echo("Nothing was applied: fix the rejected rows, or pass --skip-bad to apply the others.")
            raise SystemExit(1)
        db.session.commit()
        if report.rejected:
            click.echo(f"Applied the good rows; {len(report.rejected)} row(s) skipped.")
        else:
            click.echo("Applied.")
    finally:
        reset_actor(token)


@click.group("catalog")
def catalog_group():
    """Group product catalog (集团产品目录)."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Apply the good rows even when some rows are rejected.")
@with_appcontext
def import_catalog(file: Path, skip_bad: bool):
    """Insert or update products from FILE.csv, by product code.

    Columns: code,name_zh,name_en,category,module_complexity,market_exclusivity,
    training_requirement,monthly_price,one_time_price,description_en[,description_zh]
    (prices in yuan). The file is applied whole or not at all, unless --skip-bad is given."""
    _run("products", file, skip_bad)


@click.group("customers")
def customers_group():
    """Group customers (集团客户)."""


@customers_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad", is_flag=True, help="Apply the good rows even when some rows are rejected.")
@with_appcontext
def import_customers(file: Path, skip_bad: bool):
    """Insert or update group customers from FILE.csv, by unified social credit code.

    Columns: uscc,name,industry,region,monthly_spend,members,strategic,account_manager_email
    [,tier,tier_reason] (monthly_spend in yuan; strategic yes/no; an empty tier follows the
    value assessment, a given tier is set by hand and needs tier_reason). The file is applied
    whole or not at all, unless --skip-bad is given."""
    _run("customers", file, skip_bad)


def register_cli(app: Flask) -> None:
    """Add this package's commands to the `portal` group."""
    app.cli.add_command(catalog_group)
    app.cli.add_command(customers_group)
