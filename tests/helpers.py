"""What tests share besides fixtures: credentials, bodies, the leak check, assertions, a clock."""

from __future__ import annotations

import base64
import json
import re
import sys
import weakref
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

from app.helpers import notices, recovery_codes, totp
from app.helpers.mail import Mailer
from app.helpers.sessions import hash_token
from app.helpers.state import state_of
from tests.faults import in_mail_worker

# What must never appear in a response or a log line, whatever the test sent.
ALWAYS_SECRET = ("$2b$", "password_hash")
# Passwords (and other secrets) sent during the current test; reset per test.
SENT_SECRETS: list[str] = []


def basic(username: str, password: str) -> dict[str, str]:
    """An HTTP Basic Authorization header."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


JOHN = basic("johndoe", "JohnPass123")
JANE = basic("janedoe", "JanePass123")


def new_user(**overrides: Any) -> dict[str, Any]:
    """A valid registration body."""
    body = {
        "username": "alice",
        "email": "alice@example.com",
        "password": "correct horse battery",
        "first_name": "Alice",
        "last_name": "Liddell",
    }
    body.update(overrides)
    return body


def _record_secrets(kwargs: dict[str, Any], url: str) -> None:
    body = kwargs.get("json")
    if body is None and isinstance(kwargs.get("data"), str | bytes):
        try:
            body = json.loads(kwargs["data"])
        except ValueError:
            body = None
    if isinstance(body, dict):
        for field in ("password", "current_password"):
            if isinstance(body.get(field), str):
                SENT_SECRETS.append(body[field])
        if isinstance(body.get("token"), str):  # a mailed token being used
            record_mailed_token(body["token"])
        if isinstance(body.get("challenge"), str):  # a sign-in's second step
            record_mailed_token(body["challenge"])
        code = body.get("code")
        if isinstance(code, str) and not code.strip().isdigit():  # a recovery code
            record_recovery_code(code)
    query = parse_qs(urlsplit(url).query)
    query_string = kwargs.get("query_string") or {}
    SENT_SECRETS.extend(query.get("password", []))
    if isinstance(query_string, dict) and isinstance(query_string.get("password"), str):
        SENT_SECRETS.append(query_string["password"])
    auth = (kwargs.get("headers") or {}).get("Authorization", "")
    if auth.startswith("Bearer "):
        _record_token(auth[7:])
    if auth.startswith("Basic "):
        try:
            decoded = base64.b64decode(auth[6:]).decode("utf-8", "replace")
        except ValueError:  # a deliberately malformed header
            return
        SENT_SECRETS.append(decoded.partition(":")[2])


def _record_token(token: str) -> None:
    """A session token, and the hash it is stored under, are secrets from now on."""
    SENT_SECRETS.append(token)
    if token.isascii():  # only an ASCII token can be one of ours
        SENT_SECRETS.append(hash_token(token))


def record_mailed_token(token: str) -> None:
    """A mailed token, and the hash it is stored under, are secrets from now on."""
    SENT_SECRETS.append(token)
    stored_as = notices.hash_of(token)
    if stored_as:
        SENT_SECRETS.append(stored_as)


# Every Mailer the tests build (conftest's `tracked_mailers`), so that each test's mail work
# ends inside that test's mocked AWS: a mail worker still busy after `mock_aws()` ends
# would write into the next test's mock (its tables have the same names).
LIVE_MAILERS: weakref.WeakSet[Mailer] = weakref.WeakSet()


def drain_mail() -> None:
    """Wait until every mailer the tests built has done its queued work."""
    for mailer in list(LIVE_MAILERS):
        assert mailer.flush(timeout=20), "a mail job still running 20 s after its test"


def outbox(app: Any) -> list[EmailMessage]:
    """Every message the app's memory backend was given, once the queue is empty."""
    mailer = state_of(app).mailer
    assert mailer.flush(), "mail still queued after 10 s"
    return list(mailer.backend.outbox)


def mails_to(app: Any, address: str, subject: str = "") -> list[EmailMessage]:
    """The messages to `address` (whose subject holds `subject`), oldest first."""
    return [m for m in outbox(app) if m["To"] == address and subject in str(m["Subject"])]


_MAILED_TOKEN = re.compile(r"#/(reset|verify)\?token=([A-Za-z0-9_-]+)")


def token_in(mail: EmailMessage) -> str:
    """The token of a message's link (a secret from now on)."""
    part = mail.get_body(("plain",))
    assert part is not None
    found = _MAILED_TOKEN.search(part.get_content())
    assert found is not None, "no link with a token in the message"
    record_mailed_token(found[2])
    return found[2]


def assert_no_secret(text: str, where: str) -> None:
    """Fail if `text` holds a hash marker or a password sent in this test."""
    for secret in (*ALWAYS_SECRET, *(s for s in SENT_SECRETS if len(s) >= 4)):
        assert secret not in text, f"{where} leaks a secret"


class LeakCheckingClient(FlaskClient):
    """A test client that checks every response for the secrets sent so far."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        url = args[0] if args and isinstance(args[0], str) else kwargs.get("path", "")
        _record_secrets(kwargs, url)
        response = super().open(*args, **kwargs)
        body = response.get_data().decode("utf-8", "replace")  # images too
        issued = _issued(response)
        for secret in issued.values():  # the one response allowed to carry it: its maker
            body = body.replace(secret, "")
        assert_no_secret(body, f"{response.request.path} body")
        assert_no_secret(str(response.headers), f"{response.request.path} headers")
        _record_issued(issued)
        # As a server does once the body is sent: what waits for it (the mail) goes ahead.
        response.close()
        return response


def _issued(response: Any) -> dict[str, str]:
    """The secrets a response was made to carry (a token, a challenge, a TOTP secret, codes)."""
    body = response.json if response.is_json else None
    if not isinstance(body, dict) or response.status_code >= 300:
        return {}
    path = response.request.path
    issued: dict[str, str] = {}
    if path in ("/api/sessions", "/api/sessions/mfa", "/api/sessions/passkey"):
        for field in ("token", "challenge"):
            if isinstance(body.get(field), str):
                issued[field] = body[field]
    if path.endswith("/totp") and isinstance(body.get("secret"), str):
        issued["secret"] = body["secret"]
        issued["otpauth_uri"] = body.get("otpauth_uri", "")
    if path.endswith(("/totp/confirm", "/recovery-codes", "/passkeys")):
        for number, code in enumerate(body.get("recovery_codes") or []):
            issued[f"recovery code {number}"] = code
    return {name: secret for name, secret in issued.items() if secret}


def _record_issued(issued: dict[str, str]) -> None:
    for name, secret in issued.items():
        if name == "token":
            _record_token(secret)
        elif name == "challenge":
            record_mailed_token(secret)
        elif name.startswith("recovery code"):
            record_recovery_code(secret)
        else:
            SENT_SECRETS.append(secret)


def record_recovery_code(code: str) -> None:
    """A recovery code (as shown, and as typed), and the hash it is stored as, are secrets."""
    SENT_SECRETS.append(code)
    SENT_SECRETS.append(recovery_codes.normalized(code))
    SENT_SECRETS.append(recovery_codes.hash_of(code))


class FakeClock:
    """A clock the test moves by hand (the app reads time through its state's clock)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def assert_problem(response: Any, status: int, problem_type: str = "about:blank") -> dict[str, Any]:
    """An RFC 9457 problem with this status (and type), about the request's path; its body."""
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status
    assert body["title"]
    assert body["type"] == problem_type
    assert body["detail"]
    assert body["instance"] == response.request.path
    assert b"<html" not in response.get_data().lower()
    return body


def login(client: FlaskClient, username: str = "johndoe", password: str = "JohnPass123") -> dict:
    """Log in through the API; the login result (token, expiry, user)."""
    response = client.post("/api/sessions", json={"username": username, "password": password})
    assert response.status_code == 201, response.json
    return response.json


def bearer(token: str) -> dict[str, str]:
    """A bearer Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def security_events(caplog: Any, *, address: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """The app.security events logged so far, as (event, fields); the client's address left
    out unless `address`."""
    return [
        (r.event, {k: v for k, v in r.event_fields.items() if address or k != "address"})
        for r in caplog.records
        if r.name == "app.security"
    ]


def before_first(store, operation, action):
    """Run `action` once, just before the store's next call of `operation` (not a mail
    worker's) is sent.
    """
    pending = [action]

    def hook(**kwargs):
        if pending and not in_mail_worker():
            pending.pop()()

    store.add_hook(f"before-call.dynamodb.{operation}", hook)


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [values]}."""
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


def path_without_java(folder: Path) -> str:
    """A PATH holding only this Python, as `python`: no `java` on it."""
    folder.mkdir()
    (folder / "python").symlink_to(sys.executable)
    return str(folder)


def enrol_totp(client: FlaskClient, token: str, username: str, clock: Any) -> tuple[str, list[str]]:
    """Turn TOTP on for `username` through the API: its secret and its recovery codes.

    The code confirming it is the clock's current step: a sign-in needs a later one.
    """
    started = client.post(f"/api/users/{username}/totp", headers=bearer(token))
    assert started.status_code == 201, started.json
    secret = started.json["secret"]
    code = totp.code_at(secret, clock())
    confirmed = client.post(
        f"/api/users/{username}/totp/confirm", headers=bearer(token), json={"code": code}
    )
    assert confirmed.status_code == 200, confirmed.json
    return secret, confirmed.json["recovery_codes"]
