"""The Stripe client, built from the application's configuration.

`STRIPE_API_KEY` switches the Stripe rail on; without it `stripe_enabled()` is False, the pages
say so and everything is paid by bank transfer. `STRIPE_API_BASE` points the official SDK at
another address (tests use a local fake over real HTTP)."""

from __future__ import annotations

import stripe
from flask import current_app

stripe.enable_telemetry = False  # otherwise the SDK writes ~/.config/stripe/telemetry_id

MAX_NETWORK_RETRIES = 2
TIMEOUT_SECONDS = 20  # per request (the SDK's default is 80 s; pages call Stripe while finance waits)
CURRENCY = "cny"

_clients: dict[tuple, stripe.StripeClient] = {}


def stripe_enabled() -> bool:
    return bool(current_app.config.get("STRIPE_API_KEY"))


def get_client() -> stripe.StripeClient:
    """A StripeClient for the current configuration (cached per key and address)."""
    config = current_app.config
    key = config.get("STRIPE_API_KEY")
    if not key:
        raise StripeDisabled("STRIPE_API_KEY is not set")
    base = (config.get("STRIPE_API_BASE") or "https://api.stripe.com").rstrip("/")
    cache_key = (key, base)
    client = _clients.get(cache_key)
    if client is None:
        addresses = {"api": base}
        if base != "https://api.stripe.com":
            addresses.update({"connect": base, "files": base})
        client = stripe.StripeClient(key, base_addresses=addresses, max_network_retries=MAX_NETWORK_RETRIES,
                                     http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS))
        _clients[cache_key] = client
    return client


class StripeDisabled(RuntimeError):
    """The Stripe rail is off (no STRIPE_API_KEY)."""


def as_dict(obj) -> dict:
    """A StripeObject (or dict) as a plain dict."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return obj.to_dict()
