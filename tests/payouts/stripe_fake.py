"""A small Stripe API fake that the real `stripe.StripeClient` talks to over HTTP.

It serves the parts of the API the payout feature uses: Connect accounts (created with
`controller` settings; `payouts_enabled`, `capabilities.transfers`, `requirements`), account links,
transfers (with `transfer_group`, `metadata`, list filters, pagination) and reversals, balance, and
payouts per connected account (`Stripe-Account` header). It answers Stripe-style error JSON,
replays POSTs keyed on `Idempotency-Key` (a different request under the same key is a 400
`idempotency_error`), records every request, and can inject faults: the next N requests answer
5xx or 429, or the connection is dropped *after* a POST was stored (the client sees a network
error, its retry with the same key gets the stored answer).

Webhook helpers build Stripe-shaped events and sign them with
`stripe.WebhookSignature.generate_signature_header`.

Standalone (for the demo, see docs/payouts.md): `python -m tests.payouts.stripe_fake --port 12111`
serves it until interrupted and prints the environment the portal needs (`STRIPE_API_BASE`,
`STRIPE_API_KEY`, the two webhook secrets); the key and secrets are taken from the environment when
set there. Its onboarding page completes an account's onboarding and sends the browser back to the
portal's return URL.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

API_KEY = "sk_test_fake_platform_key"
WEBHOOK_SECRET = "whsec_fake_platform"
CONNECT_WEBHOOK_SECRET = "whsec_fake_connect"

INITIAL_REQUIREMENTS = ["business_profile.url", "external_account", "tos_acceptance.date"]


def parse_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`a[b][c]=v`, `a[0]=v`) back into nested dicts/lists."""
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_listify(node[k]) for k in sorted(node, key=int)]
        return {k: _listify(v) for k, v in node.items()}
    return node


@dataclass
class Recorded:
    method: str
    path: str
    params: dict
    idempotency_key: str | None
    stripe_account: str | None
    outcome: str = ""  # "ok", "replayed", "fault:500", "dropped", "error:400" …


@dataclass
class Fault:
    kind: str  # "status" | "drop"
    status: int = 500
    path_prefix: str | None = None
    method: str | None = None


@dataclass
class StripeFake:
    """State and behaviour; `start()` serves it on 127.0.0.1 on a free port."""

    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    connect_webhook_secret: str = CONNECT_WEBHOOK_SECRET
    accounts: dict = field(default_factory=dict)
    transfers: dict = field(default_factory=dict)  # id -> transfer (insertion order = creation order)
    payouts: dict = field(default_factory=dict)  # account id -> [payout]
    platform_available: int = 10_000_000_000
    requests: list = field(default_factory=list)
    faults: deque = field(default_factory=deque)
    _idempotency: dict = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> StripeFake:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        with self._lock:
            self.accounts.clear()
            self.transfers.clear()
            self.payouts.clear()
            self.requests.clear()
            self.faults.clear()
            self._idempotency.clear()
            self.platform_available = 10_000_000_000

    def expire_idempotency_keys(self) -> None:
        """Forget every idempotency key, as Stripe does after 24 hours: a request under an old key
        is then a new request."""
        with self._lock:
            self._idempotency.clear()

    # --- fault injection -----------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, path: str | None = None, method: str | None = None):
        for _ in range(n):
            self.faults.append(Fault("status", status, path, method))

    def drop_after_store(self, n: int = 1, path: str = "/v1/transfers", method: str = "POST"):
        """The next `n` matching requests are processed and stored, then the connection is closed
        without an answer."""
        for _ in range(n):
            self.faults.append(Fault("drop", 0, path, method))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in list(self.faults):
                if fault.method and fault.method != method:
                    continue
                if fault.path_prefix and not path.startswith(fault.path_prefix):
                    continue
                self.faults.remove(fault)
                return fault
        return None

    # --- state helpers for tests -----------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{secrets.token_hex(4)}"

    def make_account(self, *, payouts_enabled: bool = True, transfers: str = "active",
                     currently_due: list | None = None, disabled_reason: str | None = None,
                     email: str | None = None, metadata: dict | None = None) -> dict:
        account_id = self.new_id("acct")
        account = {
            "id": account_id, "object": "account", "type": "express", "country": "US",
            "email": email, "metadata": metadata or {}, "created": int(time.time()),
            "controller": {"type": "application", "is_controller": True,
                           "stripe_dashboard": {"type": "express"}, "fees": {"payer": "application"},
                           "losses": {"payments": "application"}, "requirement_collection": "stripe"},
            "charges_enabled": False, "details_submitted": payouts_enabled,
            "payouts_enabled": payouts_enabled,
            "capabilities": {"transfers": transfers},
            "requirements": {"currently_due": list(currently_due or []), "eventually_due": list(currently_due or []),
                             "past_due": [], "disabled_reason": disabled_reason,
                             "current_deadline": None, "errors": [], "pending_verification": []},
        }
        with self._lock:
            self.accounts[account_id] = account
            self.payouts.setdefault(account_id, [])
        return account

    def complete_onboarding(self, account_id: str) -> dict:
        with self._lock:
            account = self.accounts[account_id]
            account.update({"details_submitted": True, "payouts_enabled": True})
            account["capabilities"]["transfers"] = "active"
            account["requirements"].update({"currently_due": [], "eventually_due": [], "past_due": [],
                                            "disabled_reason": None})
            return json.loads(json.dumps(account))

    def add_transfer(self, *, destination: str, amount: int, currency: str = "cny",
                     transfer_group: str | None = None, metadata: dict | None = None) -> dict:
        """A transfer made outside the portal (e.g. in the Stripe dashboard)."""
        with self._lock:
            return self._store_transfer({"destination": destination, "amount": str(amount),
                                         "currency": currency, "transfer_group": transfer_group,
                                         "metadata": metadata or {}})

    def transfer_count(self, transfer_group: str | None = None) -> int:
        with self._lock:
            return sum(1 for t in self.transfers.values()
                       if transfer_group is None or t["transfer_group"] == transfer_group)

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- request processing (called by the handler) -------------------------------------------
    def handle(self, method: str, path: str, params: dict, headers) -> tuple[int, dict, dict]:
        auth = headers.get("Authorization", "")
        if auth != f"Bearer {self.api_key}":
            return 401, _error("invalid_request_error", "Invalid API Key provided.", code=None,
                               type_override="invalid_request_error"), {}
        account_header = headers.get("Stripe-Account")
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "v1":
            return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path})."), {}
        parts = parts[1:]
        with self._lock:
            return self._route(method, parts, params, account_header)

    def _route(self, method, parts, params, account_header):
        if parts == ["accounts"] and method == "POST":
            return self._create_account(params)
        if len(parts) == 2 and parts[0] == "accounts" and method == "GET":
            account = self.accounts.get(parts[1])
            if account is None:
                return 404, _error("invalid_request_error", f"No such account: '{parts[1]}'",
                                   code="resource_missing", param="account"), {}
            return 200, account, {}
        if parts == ["account_links"] and method == "POST":
            return self._create_account_link(params)
        if parts == ["transfers"] and method == "POST":
            return self._create_transfer(params)
        if parts == ["transfers"] and method == "GET":
            return self._list_transfers(params)
        if len(parts) == 2 and parts[0] == "transfers" and method == "GET":
            transfer = self.transfers.get(parts[1])
            if transfer is None:
                return 404, _error("invalid_request_error", f"No such transfer: '{parts[1]}'",
                                   code="resource_missing", param="id"), {}
            return 200, transfer, {}
        if len(parts) == 3 and parts[0] == "transfers" and parts[2] == "reversals" and method == "POST":
            return self._reverse(parts[1], params)
        if parts == ["balance"] and method == "GET":
            return 200, self._balance(account_header), {}
        if parts == ["payouts"]:
            if not account_header or account_header not in self.accounts:
                return 400, _error("invalid_request_error", "Payouts here are per connected account."), {}
            if method == "GET":
                items = list(reversed(self.payouts.get(account_header, [])))
                return 200, {"object": "list", "url": "/v1/payouts", "has_more": False, "data": items}, {}
            if method == "POST":
                payout = {"id": self.new_id("po"), "object": "payout", "amount": int(params.get("amount", 0)),
                          "currency": params.get("currency", "cny"), "status": "pending",
                          "created": int(time.time()), "metadata": params.get("metadata", {})}
                self.payouts.setdefault(account_header, []).append(payout)
                return 200, payout, {}
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: /v1/{'/'.join(parts)})."), {}

    def _create_account(self, params):
        controller = params.get("controller") or {}
        if params.get("type") and controller:
            return 400, _error("invalid_request_error", "You cannot set both `type` and `controller`.",
                               param="type"), {}
        account = self.make_account(payouts_enabled=False, transfers="inactive",
                                    currently_due=INITIAL_REQUIREMENTS,
                                    disabled_reason="requirements.past_due",
                                    email=params.get("email"), metadata=params.get("metadata"))
        if params.get("country"):
            account["country"] = params["country"]
        if controller:
            account["controller"].update(controller)
        account["type"] = params.get("type") or (
            "express" if (controller.get("stripe_dashboard") or {}).get("type") == "express" else "custom")
        requested = (params.get("capabilities") or {}).get("transfers", {}).get("requested")
        account["capabilities"] = {"transfers": "inactive"} if requested == "true" else {}
        return 200, account, {}

    def _create_account_link(self, params):
        account_id = params.get("account")
        if account_id not in self.accounts:
            return 400, _error("invalid_request_error", f"No such account: '{account_id}'",
                               code="resource_missing", param="account"), {}
        for name in ("refresh_url", "return_url"):
            if not params.get(name):
                return 400, _error("invalid_request_error", f"Missing required param: {name}.",
                                   code="parameter_missing", param=name), {}
        token = secrets.token_hex(8)
        self._links[token] = {"account": account_id, "return_url": params["return_url"],
                              "refresh_url": params["refresh_url"]}
        return 200, {"object": "account_link", "created": int(time.time()),
                     "expires_at": int(time.time()) + 300,
                     "url": f"{self.url}/setup/e/{token}"}, {}

    @property
    def _links(self) -> dict:
        if not hasattr(self, "_link_store"):
            self._link_store = {}
        return self._link_store

    def follow_link(self, url: str) -> str:
        """What a browser does at an account link: the agency completes onboarding; returns
        the portal's return_url it is sent back to."""
        token = url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            link = self._links[token]
            self.complete_onboarding(link["account"])
            return link["return_url"]

    def _store_transfer(self, params) -> dict:
        amount = int(params["amount"])
        transfer_id = self.new_id("tr")
        transfer = {
            "id": transfer_id, "object": "transfer", "amount": amount, "amount_reversed": 0,
            "currency": params.get("currency", "cny").lower(), "created": int(time.time()),
            "description": params.get("description"), "destination": params["destination"],
            "destination_payment": self.new_id("py"), "livemode": False,
            "metadata": params.get("metadata") or {}, "reversed": False,
            "reversals": {"object": "list", "data": [], "has_more": False,
                          "url": f"/v1/transfers/{transfer_id}/reversals"},
            "source_transaction": None, "source_type": "card",
            "transfer_group": params.get("transfer_group"),
        }
        self.transfers[transfer_id] = transfer
        self.platform_available -= amount
        return transfer

    def _create_transfer(self, params):
        for name in ("amount", "currency", "destination"):
            if not params.get(name):
                return 400, _error("invalid_request_error", f"Missing required param: {name}.",
                                   code="parameter_missing", param=name), {}
        try:
            amount = int(params["amount"])
        except ValueError:
            return 400, _error("invalid_request_error", "Invalid integer: amount", param="amount"), {}
        if amount <= 0:
            return 400, _error("invalid_request_error", "This value must be greater than or equal to 1.",
                               param="amount"), {}
        account = self.accounts.get(params["destination"])
        if account is None:
            return 400, _error("invalid_request_error", f"No such destination: '{params['destination']}'",
                               code="resource_missing", param="destination"), {}
        if account["capabilities"].get("transfers") != "active":
            return 400, _error("invalid_request_error",
                               "Your destination account needs to have at least one of the following "
                               "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                               code="insufficient_capabilities_for_transfer", param="destination"), {}
        if amount > self.platform_available:
            return 400, _error("invalid_request_error", "You have insufficient funds in your Stripe account.",
                               code="balance_insufficient"), {}
        return 200, self._store_transfer(params), {}

    def _list_transfers(self, params):
        items = list(reversed(self.transfers.values()))
        if params.get("transfer_group"):
            items = [t for t in items if t["transfer_group"] == params["transfer_group"]]
        if params.get("destination"):
            items = [t for t in items if t["destination"] == params["destination"]]
        if params.get("starting_after"):
            ids = [t["id"] for t in items]
            if params["starting_after"] in ids:
                items = items[ids.index(params["starting_after"]) + 1:]
        limit = int(params.get("limit") or 10)
        page = items[:limit]
        return 200, {"object": "list", "url": "/v1/transfers", "has_more": len(items) > limit,
                     "data": page}, {}

    def _reverse(self, transfer_id, params):
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            return 404, _error("invalid_request_error", f"No such transfer: '{transfer_id}'",
                               code="resource_missing", param="id"), {}
        remaining = transfer["amount"] - transfer["amount_reversed"]
        amount = int(params.get("amount") or remaining)
        if amount <= 0 or amount > remaining:
            return 400, _error("invalid_request_error", "Amount exceeds what is left to reverse.",
                               param="amount"), {}
        reversal = {"id": self.new_id("trr"), "object": "transfer_reversal", "amount": amount,
                    "currency": transfer["currency"], "created": int(time.time()),
                    "metadata": params.get("metadata") or {}, "transfer": transfer_id}
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        self.platform_available += amount
        return 200, reversal, {}

    def _balance(self, account_header):
        if account_header:
            paid = sum(t["amount"] - t["amount_reversed"] for t in self.transfers.values()
                       if t["destination"] == account_header)
            out = sum(p["amount"] for p in self.payouts.get(account_header, []))
            available = paid - out
        else:
            available = self.platform_available
        return {"object": "balance", "livemode": False,
                "available": [{"amount": available, "currency": "cny", "source_types": {"card": available}}],
                "pending": [{"amount": 0, "currency": "cny", "source_types": {"card": 0}}]}

    # --- idempotency ----------------------------------------------------------------------------
    def replay(self, key: str, account: str | None, method: str, path: str, params: dict):
        """(status, body) stored under this key, an idempotency error, or None for a new key."""
        stored = self._idempotency.get((key, account))
        if stored is None:
            return None
        if (stored["method"], stored["path"], stored["params"]) != (method, path, params):
            return 400, _error("idempotency_error",
                               "Keys for idempotent requests can only be used with the same parameters "
                               f"they were first used with. Try using a key other than '{key}' if you "
                               "meant to execute a different request.")
        return stored["status"], stored["body"]

    def remember(self, key, account, method, path, params, status, body):
        self._idempotency[(key, account)] = {"method": method, "path": path, "params": params,
                                             "status": status, "body": body}

    # --- webhooks -------------------------------------------------------------------------------
    def event(self, type_: str, obj: dict, *, account: str | None = None, event_id: str | None = None) -> dict:
        event = {
            "id": event_id or self.new_id("evt"), "object": "event", "api_version": stripe.api_version,
            "created": int(time.time()), "type": type_, "livemode": False, "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None}, "data": {"object": obj},
        }
        if account:
            event["account"] = account
        return event


def sign_event(event: dict | str, secret: str, timestamp: int | None = None) -> tuple[bytes, str]:
    """The raw body and the `Stripe-Signature` header for `event`."""
    payload = event if isinstance(event, str) else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp if timestamp is not None else int(time.time()))
    return payload.encode("utf-8"), header


def _error(type_: str, message: str, code: str | None = None, param: str | None = None,
           type_override: str | None = None) -> dict:
    body = {"type": type_override or type_, "message": message}
    if code:
        body["code"] = code
    if param:
        body["param"] = param
    return {"error": body}


class _Handler(BaseHTTPRequestHandler):
    fake: StripeFake
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *_args):  # keep test output quiet
        return

    def _serve(self, method: str):
        split = urlsplit(self.path)
        path = split.path
        if method == "GET" and path.startswith("/setup/e/"):
            return self._onboarding_page(path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        pairs = parse_qsl(split.query, keep_blank_values=True) + parse_qsl(raw, keep_blank_values=True)
        params = parse_form(pairs)
        key = self.headers.get("Idempotency-Key")
        account = self.headers.get("Stripe-Account")
        record = Recorded(method, path, params, key, account)
        self.fake.requests.append(record)

        fault = self.fake._take_fault(method, path)
        if fault is not None and fault.kind == "status":
            record.outcome = f"fault:{fault.status}"
            kind = "rate_limit_error" if fault.status == 429 else "api_error"
            message = ("Too many requests hit the API too quickly." if fault.status == 429
                       else "An unknown error occurred")
            return self._send(fault.status, _error(kind, message, code="rate_limit" if fault.status == 429 else None))

        replayed = False
        with self.fake._lock:
            stored = self.fake.replay(key, account, method, path, params) if (key and method == "POST") else None
            if stored is not None:
                status, body = stored
                replayed = status != 400 or body["error"]["type"] != "idempotency_error"
                record.outcome = "replayed" if replayed else "error:idempotency"
            else:
                status, body, _headers = self.fake.handle(method, path, params, self.headers)
                if key and method == "POST" and status < 500:
                    self.fake.remember(key, account, method, path, params, status, body)
                record.outcome = "ok" if status < 400 else f"error:{status}"
        if fault is not None and fault.kind == "drop":
            record.outcome += "+dropped"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self._send(status, body, {"Idempotent-Replayed": "true"} if replayed else None)

    def _onboarding_page(self, path: str):
        try:
            target = self.fake.follow_link(path)
        except KeyError:
            return self._send(404, _error("invalid_request_error", "This link has expired."))
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def _send(self, status: int, body: dict, extra: dict | None = None):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return

    def do_GET(self):
        self._serve("GET")

    def do_POST(self):
        self._serve("POST")

    def do_DELETE(self):
        self._serve("DELETE")


# --- standalone -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.payouts.stripe_fake",
        description="Serve the Stripe fake for a demo portal (STRIPE_API_KEY, STRIPE_WEBHOOK_SECRET and "
                    "STRIPE_CONNECT_WEBHOOK_SECRET are taken from the environment when set).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111, help="0 picks a free port")
    args = parser.parse_args(argv)
    fake = StripeFake(api_key=os.environ.get("STRIPE_API_KEY") or API_KEY,
                      webhook_secret=os.environ.get("STRIPE_WEBHOOK_SECRET") or WEBHOOK_SECRET,
                      connect_webhook_secret=os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET")
                      or CONNECT_WEBHOOK_SECRET)
    fake.start(args.host, args.port)
    print(f"Stripe fake listening on {fake.url} (Ctrl-C stops it). For the portal:", flush=True)
    for name, value in (("STRIPE_API_BASE", fake.url), ("STRIPE_API_KEY", fake.api_key),
                        ("STRIPE_WEBHOOK_SECRET", fake.webhook_secret),
                        ("STRIPE_CONNECT_WEBHOOK_SECRET", fake.connect_webhook_secret)):
        print(f"export {name}={value}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    stop.wait()
    fake.stop()
    print("Stripe fake stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
