"""Fixtures: mocked AWS → app → client, and a leak check that runs on every test."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import random
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from moto import mock_aws

from app import create_app
from app.config import TestingConfig, settings_of
from app.helpers.state import state_of

# The schemathesis runs' seed (tests/test_openapi.py) unless FUZZ_SEED says otherwise.
DEFAULT_FUZZ_SEED = "20261201"


def pytest_configure(config: pytest.Config) -> None:
    """Fix the fuzzing seed for the whole run: FUZZ_SEED, `random` for a new one, or ours."""
    seed = os.environ.get("FUZZ_SEED", DEFAULT_FUZZ_SEED)
    if seed == "random":
        seed = str(random.SystemRandom().getrandbits(32))
    os.environ["FUZZ_SEED"] = seed


def pytest_report_header(config: pytest.Config) -> str:
    """Say which seed the fuzzing used, so that a failure can be replayed with it."""
    return f"fuzzing seed: FUZZ_SEED={os.environ['FUZZ_SEED']}"


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
    SENT_SECRETS.append(hashlib.sha256(token.encode("utf-8", "replace")).hexdigest())


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
        issued = response.json.get("token") if _is_login(response) else None
        if issued:  # the one response allowed to carry a token: the login that made it
            body = body.replace(issued, "")
        assert_no_secret(body, f"{response.request.path} body")
        assert_no_secret(str(response.headers), f"{response.request.path} headers")
        if issued:
            _record_token(issued)
        return response


def _is_login(response: Any) -> bool:
    return (
        response.request.path == "/api/sessions"
        and response.status_code == 201
        and isinstance(response.json, dict)
    )


@pytest.fixture(autouse=True, scope="session")
def leak_checking_clients() -> Iterator[None]:
    """Every app a test builds hands out the leak-checking client: no test can skip it."""
    APIFlask.test_client_class = LeakCheckingClient
    yield
    APIFlask.test_client_class = None


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test: no captured log record carries a password or a hash."""
    SENT_SECRETS.clear()
    caplog.set_level(logging.DEBUG)
    yield
    # caplog.records would hold only this teardown's records: read every phase.
    for phase in ("setup", "call", "teardown"):
        for record in caplog.get_records(phase):
            text = record.getMessage() + (record.exc_text or "")
            assert_no_secret(text, f"log record {record.name}")


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint from the developer's shell: never reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-memory AWS for the duration of a test."""
    with mock_aws():
        yield


@pytest.fixture
def settings() -> dict[str, Any]:
    """The testing settings; a test may change them before the app is built."""
    return settings_of(TestingConfig)


@pytest.fixture
def app(aws: None, settings: dict[str, Any]) -> Any:
    """The app over mocked DynamoDB."""
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> FlaskClient:
    """A test client that also checks each response for leaked secrets."""
    return app.test_client()


@pytest.fixture
def state(app: Any) -> Any:
    """The app's state: its store, hasher, session policy, clock, limiter, readiness."""
    return state_of(app)


@pytest.fixture
def store(state: Any) -> Any:
    """The app's DynamoInterface."""
    return state.store


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto apply each DynamoDB call atomically, as DynamoDB does.

    moto applies a transaction write by write and, on failure, restores a snapshot of the
    whole table, so two concurrent calls can undo each other. Serialising its backend calls
    models the real service; our code still has to get its conditions right to pass.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries for real, without waiting between attempts (never a sleep)."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


class FakeClock:
    """A clock the test moves by hand (the app reads time through its state's clock)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(app: Any) -> FakeClock:
    """Replace the app's clock with one the test controls: no sleeps."""
    fake = FakeClock()
    state_of(app).clock = fake
    return fake


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def lagging_index(store: Any) -> list[str]:
    """The sessions' username index answers as a lagging one may: nothing yet.

    DynamoDB's global secondary indexes are eventually consistent, so a query right after a
    write can miss it. Every Query is answered with no items, without reaching moto; the
    returned list grows by one per query answered so, so a test can prove the index was asked.
    """
    from tests.faults import answer

    asked: list[str] = []

    def empty(model: Any, params: dict[str, Any], **kwargs: Any) -> Any:
        asked.append(params.get("IndexName", ""))
        return answer(200, {"Items": [], "Count": 0, "ScannedCount": 0})

    store.add_hook("before-call.dynamodb.Query", empty)
    return asked
