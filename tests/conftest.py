"""Fixtures: mocked AWS → app → client, and a leak check that runs on every test."""

from __future__ import annotations

import logging
import os
import random
import shutil
import threading
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from moto import mock_aws

from app import create_app, dynamodb_local
from app.config import TestingConfig, settings_of
from app.helpers import notices
from app.helpers.dynamo import DynamoInterface
from app.helpers.mail import Mailer
from app.helpers.state import state_of
from app.serving import start_moto_server, stop_process
from tests.helpers import (
    LIVE_MAILERS,
    SENT_SECRETS,
    FakeClock,
    LeakCheckingClient,
    assert_no_secret,
    drain_mail,
    new_user,
    record_mailed_token,
)

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
def mailed_tokens_are_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every token the app mails, and its hash, are secrets the leak check looks for.

    Whether or not the test ever reads the mail: no response or log record may hold one.
    """
    issue = notices.issue_token

    def recorded(*args: Any, **kwargs: Any) -> str:
        token = issue(*args, **kwargs)
        record_mailed_token(token)
        return token

    monkeypatch.setattr(notices, "issue_token", recorded)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint from the developer's shell: never reach real AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(autouse=True, scope="session")
def tracked_mailers() -> Iterator[None]:
    """Know every Mailer a test builds (`drain_mail`)."""
    original = Mailer.__init__

    def tracked(self: Mailer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        LIVE_MAILERS.add(self)

    Mailer.__init__ = tracked  # type: ignore[method-assign]
    yield
    Mailer.__init__ = original  # type: ignore[method-assign]


def _current_test() -> str | None:
    """The node id of the test this process is running (None at collection)."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    return current.rsplit(" ", 1)[0] if current else None


class StrayCall(RuntimeError):
    """A store built in one test called moto's mock during another."""


@pytest.fixture(autouse=True, scope="session")
def stores_stay_in_their_test() -> Iterator[None]:
    """Refuse a mocked DynamoDB call from a store another test built.

    moto's mock is one in-process backend: a thread left over from an earlier test (a mail
    job, a late response close) would create tables and seed demo users in the next test's
    mock, which then finds tables it never made without their items. The stray call fails
    in its own thread, and the run warns with both test names.
    """
    original = DynamoInterface.__init__

    def guarded(self: DynamoInterface, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        born = _current_test()
        if born is None or kwargs.get("endpoint_url"):
            return  # built at collection, or over HTTP: no shared in-process mock

        def check(**_kwargs: Any) -> None:
            now = _current_test()
            if now != born:
                message = f"a DynamoDB call from {born}'s app during {now or 'no test'}"
                warnings.warn(message, pytest.PytestUnhandledThreadExceptionWarning, stacklevel=1)
                raise StrayCall(message)

        self.add_hook("before-call.dynamodb", check)

    DynamoInterface.__init__ = guarded  # type: ignore[method-assign]
    yield
    DynamoInterface.__init__ = original  # type: ignore[method-assign]


@pytest.fixture
def aws() -> Iterator[None]:
    """moto's in-memory AWS for the duration of a test; its mail work done inside it."""
    with mock_aws():
        yield
        drain_mail()


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The testing settings, with a test's own on top (`indirect` parametrization).

    A test may also change them before the app is built.
    """
    return {**settings_of(TestingConfig), **getattr(request, "param", {})}


@pytest.fixture
def app(aws: None, settings: dict[str, Any]) -> Any:
    """The app over mocked DynamoDB."""
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> FlaskClient:
    """A test client that also checks each response for leaked secrets."""
    return app.test_client()


@pytest.fixture
def alice(client: FlaskClient) -> dict[str, Any]:
    """A registered standard user (whose registration mailed a verification link): her view."""
    response = client.post("/api/users", json=new_user())
    assert response.status_code == 201
    return response.json


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
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item", "get_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)
    # moto serialises an UpdateItem's returned item after the backend call: another call
    # could change it in between, and the answer would not be the one this write made.
    original_update = DynamoHandler.update_item

    def update_item(self: Any) -> Any:
        with lock:
            return original_update(self)

    monkeypatch.setattr(DynamoHandler, "update_item", update_item)


# -- Two DynamoDB engines ---------------------------------------------------------------------

ENGINES = ("moto", "local")


def java_or_skip() -> None:
    """Skip a DynamoDB Local test on a machine without Java; fail where it is required."""
    if shutil.which("java"):
        return
    reason = dynamodb_local.JAVA_HINT
    if os.environ.get("REQUIRE_JAVA") == "1":
        pytest.fail(f"REQUIRE_JAVA=1, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def dynamodb_local_url() -> Iterator[str]:
    """One DynamoDB Local, in memory, for the session (each test uses its own tables)."""
    java_or_skip()
    process, url = dynamodb_local.start_server(None)
    yield url
    stop_process(process, group=True)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The settings of one DynamoDB engine; each test runs once on each.

    moto: its in-process mock, each call serialised as DynamoDB serialises one
    (`atomic_dynamodb`). local: Amazon's DynamoDB Local over HTTP with nothing serialised,
    so concurrent transactions meet real isolation; a table prefix per test keeps one
    server's tables apart.
    """
    if request.param == "moto":
        with mock_aws():
            request.getfixturevalue("atomic_dynamodb")
            yield {}
            drain_mail()
    else:
        url = request.getfixturevalue("dynamodb_local_url")
        yield {"AWS_ENDPOINT_URL_DYNAMODB": url, "TABLE_PREFIX": f"t{uuid.uuid4().hex[:12]}-"}


@pytest.fixture(params=ENGINES)
def served_engine(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, str]:
    """The environment that makes `make run` or `make serve` start one engine of their own.

    local: DynamoDB Local with its data in the test's own folder.
    """
    if request.param == "moto":
        return {}
    java_or_skip()
    return {"DYNAMODB_ENGINE": "local", "DYNAMODB_LOCAL_PATH": str(tmp_path / "dynamodb")}


@pytest.fixture(params=ENGINES)
def external_engine(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The environment of a server pointed at a DynamoDB it did not start: a moto server of
    its own, or the session's DynamoDB Local with a table prefix of its own."""
    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    if request.param == "moto":
        process, url = start_moto_server()
        yield {"AWS_ENDPOINT_URL_DYNAMODB": url, **credentials}
        stop_process(process)
    else:
        url = request.getfixturevalue("dynamodb_local_url")
        prefix = f"t{uuid.uuid4().hex[:12]}-"
        yield {"AWS_ENDPOINT_URL_DYNAMODB": url, "TABLE_PREFIX": prefix, **credentials}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that runs on one engine with it, for the summary's count."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        for name in ("engine", "served_engine", "external_engine"):
            if callspec is not None and name in callspec.params:
                item.add_marker(f"on_{callspec.params[name]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many tests ran on each DynamoDB engine, and how they ended."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome == "passed":
                continue
            for engine in ENGINES:
                if f"on_{engine}" in getattr(report, "keywords", {}):
                    tally = counts.setdefault(engine, {})
                    tally[outcome] = tally.get(outcome, 0) + 1
    if counts:
        parts = [
            f"{engine}: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(tally.items()))
            for engine, tally in sorted(counts.items())
        ]
        terminalreporter.write_line("DynamoDB engines: " + "; ".join(parts))


@pytest.fixture
def engine_app(engine: dict[str, Any], settings: dict[str, Any]) -> Any:
    """The app over the engine's DynamoDB."""
    return create_app({**settings, **engine})


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries for real, without waiting between attempts (never a sleep)."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def clock(app: Any) -> FakeClock:
    """Replace the app's clock with one the test controls: no sleeps."""
    fake = FakeClock()
    state_of(app).clock = fake
    return fake


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
