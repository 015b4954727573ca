"""The `portal` command line: a Flask CLI group installed as a console script.

Commands are thin: they parse, call operations, commit once, and print."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from portal.core.context import Actor, reset_actor, set_actor


def _create_app():
    from portal.app import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False,
             set_debug_flag=False)
def main():
    """Agent-channel partner portal (集团业务代理门户)."""


def as_cli_actor(label: str = "cli"):
    """Record audit entries of a command as done by the command line."""
    return set_actor(Actor(user_id=None, label=label))


@click.command("demo")
@click.option("--force", is_flag=True, help="Load even when the database is not empty.")
@with_appcontext
def demo_command(force: bool):
    """Fill an empty database with demo data and the demo sign-ins."""
    from portal.demo import DemoRefused, load_demo

    token = as_cli_actor("portal demo")
    try:
        summary = load_demo(force=force)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        reset_actor(token)
    for line in summary:
        click.echo(line)


@click.command("demo-needed")
@with_appcontext
def demo_needed_command():
    """Exit 0 when the database holds no users (so `make run` loads the demo), else 1."""
    from portal.demo import database_is_empty

    raise SystemExit(0 if database_is_empty() else 1)


@click.command("outbox-send")
@with_appcontext
def outbox_send_command():
    """Send queued e-mails through SMTP (when SMTP_HOST is set)."""
    from portal.core.notify import deliver_pending, smtp_configured

    if not smtp_configured():
        raise click.ClickException("SMTP_HOST is not set: mail stays in the outbox for admins to read.")
    click.echo(f"sent {deliver_pending()} message(s)")


def register_cli(app: Flask) -> None:
    app.cli.add_command(demo_command)
    app.cli.add_command(demo_needed_command)
    app.cli.add_command(outbox_send_command)
