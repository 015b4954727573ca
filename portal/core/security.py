"""Passwords (argon2id), TOTP two-factor codes and signed, expiring links."""

from __future__ import annotations

import hashlib
import io
import time

import pyotp
import qrcode
import qrcode.image.svg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

MIN_PASSWORD_LENGTH = 10


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"])


def hash_password(password: str) -> str:
    return _hasher().hash(password)


_DUMMY_HASHES: dict[tuple, str] = {}


def spend_a_password_check(password: str) -> None:
    """Verify against a throw-away hash, so that an unknown e-mail costs the same time as a known one
    (the answer's timing does not tell which e-mails have accounts)."""
    cfg = current_app.config
    key = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"])
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hash_password("not-a-real-password-0000")
    verify_password(_DUMMY_HASHES[key], password)


def password_fingerprint(password_hash: str | None) -> str:
    """A short digest of the stored hash: changes with the password, reveals nothing of it. Put in
    signed links (password reset) so that a link dies once the password was changed."""
    return hashlib.sha256((password_hash or "").encode("utf-8")).hexdigest()[:24]


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str, email: str | None = None) -> list:
    """Reasons a password is refused (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(_l("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if email and password.strip().lower() in {email.lower(), email.split("@")[0].lower()}:
        problems.append(_l("The password must not be your e-mail address."))
    return problems


# --- TOTP ---------------------------------------------------------------------------------------

TOTP_ISSUER = "Agent Portal"


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(uri: str) -> str:
    """The provisioning URI as an inline SVG QR code, drawn on the server (no network)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")


def verify_totp(secret: str, code: str, last_counter: int | None = None) -> int | None:
    """The time-step counter the code matches (±1 step), or None. A counter at or before
    `last_counter` is refused so that a code cannot be replayed."""
    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    now = int(time.time())
    for drift in (0, -1, 1):
        at = now + drift * totp.interval
        counter = int(at // totp.interval)
        if last_counter is not None and counter <= last_counter:
            continue
        if pyotp.utils.strings_equal(totp.at(at), code):
            return counter
    return None


# --- signed links -------------------------------------------------------------------------------

def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"portal:{purpose}")


def make_signed_token(purpose: str, payload) -> str:
    return _serializer(purpose).dumps(payload)


def read_signed_token(purpose: str, token: str, max_age: int):
    """The payload, or None when the token is forged, altered or older than `max_age` seconds."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        return None
