"""E-mail delivery through SMTP (a small real SMTP server in the test): sent once, failures kept
queued with their error, two senders at a time never send a message twice, SMS never by e-mail."""

from __future__ import annotations

import socketserver
import threading
from email import message_from_bytes

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import OutboxMessage
from portal.core.notify import deliver_pending, queue_email


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self):
        self._reply("220 fake-smtp ready")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            verb = raw.decode(errors="replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 fake-smtp")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with .")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                with self.server.lock:
                    self.server.received.append(message_from_bytes(b"".join(lines)))
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("502 not implemented")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.received = []
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _smtp(app, monkeypatch, port):
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": False,
                       "SMTP_FROM": "portal@operator.test"}.items():
        monkeypatch.setitem(app.config, key, value)


def _subjects(server):
    return sorted(m["Subject"] for m in server.received)


def test_queued_mail_is_sent_once_and_sms_stays_in_the_outbox(isolated_app, smtp_server, monkeypatch):
    _smtp(isolated_app, monkeypatch, smtp_server.server_address[1])
    with isolated_app.app_context():
        queue_email("owner@agency.test", "Your application", "It was received.")
        db.session.add(OutboxMessage(channel="sms", recipient="13800138000", subject="survey", body="link"))
        db.session.commit()
        assert deliver_pending() == 1
        assert deliver_pending() == 0  # nothing is sent twice
        rows = {m.channel: m for m in db.session.scalars(sa.select(OutboxMessage))}
        assert rows["email"].sent_at is not None and rows["email"].attempts == 1
        assert rows["sms"].sent_at is None and rows["sms"].attempts == 0
    [mail] = smtp_server.received
    assert mail["To"] == "owner@agency.test" and mail["From"] == "portal@operator.test"
    assert mail["Subject"] == "Your application" and "It was received." in mail.get_payload()


def test_a_dead_smtp_server_keeps_the_mail_queued_with_its_error(isolated_app, monkeypatch):
    _smtp(isolated_app, monkeypatch, 9)  # nothing listens on the discard port
    with isolated_app.app_context():
        queue_email("owner@agency.test", "Hello", "Body")
        db.session.commit()
        assert deliver_pending() == 0
        message = db.session.scalar(sa.select(OutboxMessage))
        assert message.sent_at is None and message.attempts == 1 and message.error
        assert message.claimed_at is None  # free for the next try
        for _ in range(6):
            deliver_pending()
        db.session.refresh(message)
        assert message.attempts == 5  # at most five tries


def test_two_senders_at_once_send_every_message_exactly_once(isolated_app, smtp_server, monkeypatch):
    _smtp(isolated_app, monkeypatch, smtp_server.server_address[1])
    with isolated_app.app_context():
        for i in range(30):
            queue_email(f"user{i}@agency.test", f"message {i:02d}", "Body")
        db.session.commit()
    barrier = threading.Barrier(3)
    counts = []

    def sender():
        with isolated_app.app_context():
            barrier.wait()
            counts.append(deliver_pending())
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(counts) == 30
    assert _subjects(smtp_server) == [f"message {i:02d}" for i in range(30)]
