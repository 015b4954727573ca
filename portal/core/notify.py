"""Notifications: in-app rows plus e-mail through SMTP when configured, else the outbox table.

`notify()` only adds rows to the current transaction; mail is delivered after the request
commits, on a background thread, so sending never blocks or breaks the request that caused it.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.core.db import db, utcnow
from portal.core.models import Notification, OutboxMessage, User

log = logging.getLogger(__name__)

# kind → (lazy) text with %(name)s parameters. Feature packages add their kinds at import time.
NOTIFICATION_TEXTS: dict[str, object] = {
    "account.password_reset": _l("A password reset was requested for your account."),
    "account.role_changed": _l("Your role was changed to %(role)s."),
}


def register_notification(kind: str, text) -> None:
    NOTIFICATION_TEXTS[kind] = text


def render_notification(kind: str, params: dict | None) -> str:
    text = NOTIFICATION_TEXTS.get(kind)
    if text is None:
        return kind
    try:
        return str(text) % (params or {})
    except (KeyError, TypeError, ValueError):
        return str(text)


def notify(user: User, kind: str, params: dict | None = None, link: str | None = None,
           email: bool = True) -> Notification:
    """Tell `user` something, in the app and (by default) by e-mail in the user's language."""
    note = Notification(user_id=user.id, kind=kind, params=params or {}, link=link)
    db.session.add(note)
    if email:
        with force_locale(user.locale or "zh_Hans_CN"):
            text = render_notification(kind, params)
            subject = gettext("Agent portal: %(text)s", text=text[:120])
            body = text
            if link:
                body += "\n\n" + current_app.config["PORTAL_BASE_URL"].rstrip("/") + link
        queue_email(user.email, subject, body)
    return note


def queue_email(recipient: str, subject: str, body: str) -> OutboxMessage:
    message = OutboxMessage(channel="email", recipient=recipient, subject=subject[:255], body=body)
    db.session.add(message)
    return message


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Notification).where(
            Notification.user_id == user_id, Notification.read_at.is_(None)
        )
    ) or 0


def smtp_configured() -> bool:
    return has_app_context() and bool(current_app.config.get("SMTP_HOST"))


CLAIM_LEASE = timedelta(minutes=10)


def _claim(message_id: int) -> bool:
    """Take one queued e-mail for sending (committed at once, so other senders see it). False when
    another sender holds it or it was sent meanwhile."""
    now = utcnow()
    taken = db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None),
               sa.or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < now - CLAIM_LEASE))
        .values(claimed_at=now, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return taken == 1


def _send(recipient: str, subject: str, body: str) -> None:
    cfg = current_app.config
    mail = EmailMessage()
    mail["From"] = cfg["SMTP_FROM"]
    mail["To"] = recipient
    mail["Subject"] = subject
    mail.set_content(body)
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=10) as smtp:
        if cfg["SMTP_STARTTLS"]:
            smtp.starttls()
        if cfg["SMTP_USERNAME"]:
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"] or "")
        smtp.send_message(mail)


def deliver_pending(limit: int = 100) -> int:
    """Send queued e-mails through SMTP, each exactly once even with several senders at a time
    (a message is claimed before it is sent); failures stay queued with their error and are tried
    again, at most five times. Returns the number sent. Without SMTP this does nothing (the outbox
    is the delivery). Commits its own work: call it outside a request's transaction."""
    if not smtp_configured():
        return 0
    ids = db.session.scalars(
        sa.select(OutboxMessage.id).where(OutboxMessage.channel == "email", OutboxMessage.sent_at.is_(None),
                                          OutboxMessage.attempts < 5)
        .order_by(OutboxMessage.id).limit(limit)
    ).all()
    db.session.commit()  # every write below opens its own short transaction (SQLite: no lock upgrades)
    sent = 0
    for message_id in ids:
        if not _claim(message_id):
            continue
        recipient, subject, body = db.session.execute(
            sa.select(OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.body)
            .where(OutboxMessage.id == message_id)).one()
        db.session.commit()  # no transaction stays open while talking to the SMTP server
        try:
            _send(recipient, subject, body)
        except (OSError, smtplib.SMTPException) as exc:
            outcome = {"error": str(exc)[:2000], "claimed_at": None}  # free for the next try
            log.warning("mail to %s failed: %s", recipient, exc)
        else:
            outcome = {"sent_at": utcnow(), "error": None}
            sent += 1
        db.session.execute(sa.update(OutboxMessage).where(OutboxMessage.id == message_id).values(**outcome)
                           .execution_options(synchronize_session=False))
        db.session.commit()
    return sent


def deliver_in_background(app) -> None:
    """Start one delivery pass on a daemon thread (after the request's commit)."""
    if not app.config.get("SMTP_HOST") or app.testing:
        return

    def _run():
        with app.app_context():
            try:
                deliver_pending()
            except Exception:  # a mail problem must never surface to users
                log.exception("background mail delivery failed")
            finally:
                db.session.remove()

    threading.Thread(target=_run, daemon=True).start()
