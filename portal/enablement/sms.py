"""The SMS gateway interface. The default gateway writes the message to the outbox
(channel "sms", recipient = the mobile number), where admins can read it; an operator's real
gateway is plugged in by putting an object with `send(mobile, text)` into
`app.extensions["enablement_sms_gateway"]`."""

from __future__ import annotations

from typing import Protocol

from flask import current_app

from portal.core.db import db
from portal.core.models import OutboxMessage


class SmsGateway(Protocol):
    def send(self, mobile: str, text: str) -> None: ...


class OutboxSmsGateway:
    """Queues the text in the outbox table (adds to the current transaction)."""

    def send(self, mobile: str, text: str) -> None:
        db.session.add(OutboxMessage(channel="sms", recipient=mobile, subject=text[:60], body=text))
        db.session.flush()


def gateway() -> SmsGateway:
    return current_app.extensions.get("enablement_sms_gateway") or OutboxSmsGateway()
