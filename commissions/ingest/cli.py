"""`portal import activations|billing FILE [--skip-bad] [--dry-run] [--rejections OUT.csv]` and `portal jobs …`."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from commissions import jobs
from commissions.ingest import operations as ops
from commissions.ingest.models import ImportKind, ImportSource, ImportStatus
from commissions.ingest.parsing import IngestFileError
from portal.core.context import Actor, reset_actor, set_actor
from portal.core.db import db

SHOWN_REJECTIONS = 200


@click.group("import")
def import_cli():
    """Import activations and billing from the billing system (CSV or XLSX)."""


def _run(kind: ImportKind, path: str, skip_bad: bool, dry_run: bool, rejections_file: str | None = None) -> None:
    token = set_actor(Actor(user_id=None, label=f"portal import {kind.value}"))
    try:
        size = os.path.getsize(path)
        run = ops.new_run(kind, ImportSource.CLI, filename=Path(path).name, file_size=size)
        with click.progressbar(length=100, label=f"{kind.value} {Path(path).name}", show_percent=True) as bar:
            state = {"done": 0}

            def progress(percent, _message=None):
                step = int(percent) - state["done"]
                if step > 0:
                    bar.update(step)
                    state["done"] += step

            try:
                ops.import_file(run, path, skip_bad=skip_bad, dry_run=dry_run, progress=progress)
            except IngestFileError as exc:
                db.session.commit()
                raise click.ClickException(exc.english()) from None
            bar.update(100 - state["done"])
        db.session.commit()
    finally:
        reset_actor(token)
    _print_report(run, rejections_file)
    if rejections_file:
        with open(rejections_file, "w", encoding="utf-8", newline="") as out:
            n = ops.write_rejections_csv(run, out, english=True)
        click.echo(f"{n:,} rejected row(s) written to {rejections_file}")
    if run.status == ImportStatus.REFUSED:
        raise SystemExit(1)


def _print_report(run, rejections_file: str | None = None) -> None:
    verb = "would insert" if run.status != ImportStatus.APPLIED else "inserted"
    click.echo(f"import #{run.id} {run.kind.value} {run.filename}: {run.status.value} in {run.seconds:.2f} s")
    click.echo(f"  read      {run.rows_read:>10,}")
    click.echo(f"  {'inserted' if run.status == ImportStatus.APPLIED else 'new':9} {run.inserted:>10,}")
    click.echo(f"  {'updated' if run.status == ImportStatus.APPLIED else 'changed':9} {run.updated:>10,}")
    click.echo(f"  unchanged {run.unchanged:>10,}")
    click.echo(f"  rejected  {run.rejected:>10,}")
    for line, _order, code, params in (run.rejections or [])[:SHOWN_REJECTIONS]:
        click.echo(f"  line {line}: {ops.rejection_text(code, params, english=True)}")
    if run.rejected > SHOWN_REJECTIONS:
        where = rejections_file or "--rejections FILE.csv, or the import page"
        click.echo(f"  … {run.rejected - SHOWN_REJECTIONS:,} more rejected rows (all of them: {where})")
    if run.status == ImportStatus.REFUSED:
        click.echo("Nothing was applied: rows were rejected. Fix the file, or pass --skip-bad to apply the good rows.")
    elif run.status == ImportStatus.PREVIEWED:
        click.echo(f"Dry run: nothing was applied ({verb} {run.inserted:,}).")


def _command(kind: ImportKind):
    @import_cli.command(kind.value)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    @click.option("--skip-bad", is_flag=True, help="Apply the good rows even if some rows are rejected.")
    @click.option("--dry-run", is_flag=True, help="Check and report only; store nothing.")
    @click.option("--rejections", "rejections_file", type=click.Path(dir_okay=False, writable=True),
                  help="Write every rejected row (line, order_id, code, reason) to this CSV file.")
    @with_appcontext
    def command(file: str, skip_bad: bool, dry_run: bool, rejections_file: str | None):
        _run(kind, file, skip_bad, dry_run, rejections_file)

    command.__doc__ = (f"Import {kind.value} from FILE (CSV or XLSX, recognised by content). Whole or "
                       "nothing unless --skip-bad; prints the report.")
    return command


activations_command = _command(ImportKind.ACTIVATIONS)
billing_command = _command(ImportKind.BILLING)


def register_cli(app) -> None:
    app.cli.add_command(import_cli)
    jobs.register_cli(app)
