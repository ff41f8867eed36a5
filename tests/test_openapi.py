"""The OpenAPI document, the Swagger UI page, and schemathesis runs of every operation."""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import hypothesis
import pytest
import schemathesis
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from moto import mock_aws
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from schemathesis.core import NotSet
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi._auth_retry import INVALID_CREDENTIAL
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from app import create_app
from app.config import ProductionConfig, TestingConfig, settings_of
from app.helpers import factors, notices, sessions, tables, totp, users
from app.helpers.sessions import hash_token
from app.helpers.state import state_of
from app.helpers.tables.login_failures import FAILURES
from app.helpers.users import encode_cursor
from app.models import Credentials, UserCreate, canonical_username
from tests.authenticator import Authenticator
from tests.helpers import JOHN, SENT_SECRETS, assert_no_secret, basic, drain_mail, new_user

PROBLEM = "application/problem+json"
PROBLEM_REF = "#/components/schemas/Problem"
USERS_API = {
    ("get", "/api/users"),
    ("post", "/api/users"),
    ("get", "/api/users/{username}"),
    ("patch", "/api/users/{username}"),
    ("delete", "/api/users/{username}"),
    ("get", "/api/user"),
}
ADMIN = "johndoe"
SECRETS = ("JohnPass123", "JanePass123")
JANE_LOGIN = {"username": "janedoe", "password": "JanePass123"}
JANE_WRONG_PASSWORD = "not-her-password"
JANE_WRONG = basic("janedoe", JANE_WRONG_PASSWORD)
# Accounts that exist in every run (any case: usernames are case-insensitive).
KNOWN_USERS = ("janedoe", "JaneDoe", ADMIN)
# Accounts the DELETE run re-creates before each example that targets them.
VICTIMS = ("victim-1", "Victim-2")


# -- the document ---------------------------------------------------------------------------


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_openapi_document_validates_as_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)  # raises on any violation of the OpenAPI 3.1 meta-schema


def test_openapi_document_lists_every_users_route(document):
    listed = {(method, path) for method, path, _ in _operations(document)}
    assert listed >= USERS_API, f"missing: {sorted(USERS_API - listed)}"


def test_openapi_document_declares_basic_auth_on_signed_in_routes(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["basicAuth"]["type"] == "http"
    assert schemes["basicAuth"]["scheme"] == "basic"
    for method, path in (("patch", "/api/users/{username}"), ("delete", "/api/users/{username}")):
        security = document["paths"][path][method]["security"]
        assert {"basicAuth": []} in security, f"{method.upper()} {path}"
        assert {} not in security, f"{method.upper()} {path} must not allow anonymous callers"
    assert {"basicAuth": []} in document["paths"]["/api/user"]["get"]["security"]


def test_openapi_document_describes_every_error_as_a_problem(document):
    checked = 0
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            where = f"{method.upper()} {path} {status}"
            assert set(response.get("content", {})) == {PROBLEM}, where
            assert response["content"][PROBLEM]["schema"] == {"$ref": PROBLEM_REF}, where
            checked += 1
    assert checked >= 40  # every operation documents several errors
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert problem["properties"]["status"]["type"] == "integer"


def test_openapi_document_describes_response_headers(document):
    def headers(method: str, path: str, status: str) -> set[str]:
        return set(document["paths"][path][method]["responses"][status].get("headers", {}))

    statuses: Counter[str] = Counter()
    for method, path, operation in _operations(document):
        for status in operation["responses"]:
            statuses[status] += 1
            if status == "401":
                assert "WWW-Authenticate" in headers(method, path, status), f"{method} {path}"
            if status in ("429", "503"):
                assert "Retry-After" in headers(method, path, status), f"{method} {path} {status}"
        assert "503" in operation["responses"], f"{method} {path}: every route reads DynamoDB"
    assert statuses["401"] >= 5
    assert "Location" in headers("post", "/api/users", "201")
    assert "Link" in headers("get", "/api/users", "200")


def test_openapi_document_marks_request_bodies_required(document, client):
    # The API refuses a request without a body (the fuzz run met 415s on all three)...
    assert client.post("/api/users", headers=JOHN).status_code == 415
    # ...so the document must not call the body optional.
    for method, path, operation in _operations(document):
        if "requestBody" in operation:
            assert operation["requestBody"].get("required") is True, f"{method.upper()} {path}"


def test_register_refuses_only_bodies_the_document_refuses(document, client):
    validator = OAS31Validator(
        {**document["components"]["schemas"]["UserCreate"], "components": document["components"]}
    )
    bodies = {
        "control character in a name": new_user(username="ann", first_name="Ann\x03"),
        "name of spaces only": new_user(username="bob", email="bob@example.com", last_name="  "),
        "NUL in the password": new_user(
            username="cyd", email="cyd@example.com", password="correct horse\x00battery"
        ),
    }
    disagreements = []
    for reason, body in bodies.items():
        documented_valid = validator.is_valid(body)
        response = client.post("/api/users", json=body)
        if documented_valid != (response.status_code == 201):
            disagreements.append(f"{reason}: document valid={documented_valid}, API {response}")
    assert not disagreements


# -- schemathesis ---------------------------------------------------------------------------
#
# Every operation of the document, fuzzed through the WSGI app: schemathesis's coverage
# phase (examples built from the schema's edges), then its fuzzing phase (hypothesis, at most
# MAX_EXAMPLES generated cases; fewer when hypothesis exhausts what it can generate). Each
# operation runs on an app of its own over fresh moto tables, signed in as the seeded admin,
# with a share of the valid cases aimed at real accounts so that success paths run, not just
# 404 and 401. Three passes: the generous testing budgets, the destructive operations on
# their own, and every operation under production's per-address budgets and the lockout.
#
# The run is seeded (FUZZ_SEED, fixed unless set; `FUZZ_SEED=random` picks a new one, shown
# in pytest's header), and hypothesis's example database is off: a seed replays a run.


class AppUnderTest:
    """The WSGI app schemathesis calls; each test puts its own app, built inside moto, here."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "called outside a test's moto mock"
        return self.app(environ, start_response)


def _load_schema(target: AppUnderTest) -> Any:
    # Loaded at collection time (parametrize needs the operations). Serving the document
    # makes no DynamoDB call, and the mock makes sure nothing could reach AWS anyway.
    with mock_aws():
        target.app = create_app(settings_of(TestingConfig))
        try:
            return schemathesis.openapi.from_wsgi("/api/openapi.json", target)
        finally:
            target.app = None


APP = AppUnderTest()
schema = _load_schema(APP)
BEARER_ONLY = {
    f"{method.upper()} {path}"
    for method, path, operation in _operations(schema.raw_schema)
    if operation.get("security") == [{"bearerAuth": []}]
} | {"POST /api/email-verifications"}  # a token or nothing: Basic is refused (401)
# Deleting a user or a session is run on its own: in the same run it would remove the
# account or the token that the other operations authenticate with.
REAUTHENTICATION = "POST /api/sessions/current/reauthentication"
DESTRUCTIVE = {"DELETE /api/users/{username}", "DELETE /api/sessions/current"}
# The account in the wrong credentials that schemathesis's ignored_auth check sends.
PROBE_ACCOUNT = canonical_username(INVALID_CREDENTIAL)
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")

# 422s on schema-valid input that depend on more than a JSON schema can say: a list of
# common passwords, the other fields, the stored password, email-validator's refusal of
# special-use domains (stricter than `format: email`). (field, start of the detail)
CONTEXT_DEPENDENT_REFUSALS = (
    ("email", "value is not a valid email address"),
    ("password", "is one of the most commonly used passwords"),
    ("password", "must not be the same as the username or the email address"),
    ("current_password", "is not the current password"),
    ("current_password", "is required to set a new password"),
    ("password", "is not the current password"),  # reauthentication
    ("username", "give username or email, or sign in"),  # an anonymous `{}` verification
    ("code", "is not a valid code"),  # a second factor's code: any string is schema-valid
    ("code", "no second factor is set up"),  # reauthenticating by code without one
    ("credential", "was not accepted"),  # a passkey's answer: any object is schema-valid
    ("credential", "no passkey is set up"),  # reauthenticating by passkey without one
)
# A mailed token is opaque: any string is schema-valid, and the fuzzer's are never real.
TOKEN_ROUTES = ("POST /api/password-resets/confirm", "POST /api/email-verifications/confirm")
# The account whose mailed tokens the runs use (a reset changes its password).
MAILED = "mailed-1"
# The account with TOTP whose second sign-in step the runs use, and its password.
SECOND = "second-1"
SECOND_PASSWORD = new_user()["password"]
# Second factors are set up by their owner: the run's Basic credentials are johndoe's.
OWN_FACTORS = (
    "POST /api/users/{username}/totp",
    "POST /api/users/{username}/totp/confirm",
    "DELETE /api/users/{username}/totp",
    "POST /api/users/{username}/recovery-codes",
    "POST /api/users/{username}/passkey-options",
    "POST /api/users/{username}/passkeys",
    "DELETE /api/users/{username}/passkeys/{passkey_id}",
)
PASSKEY_SIGN_IN = "POST /api/sessions/passkey"
# Operations whose budget runs make too few calls to meet a limit by themselves.
FEW_CALLS = (
    "POST /api/sessions/passkey-options",
    "DELETE /api/users/{username}/passkeys/{passkey_id}",
)


@dataclass
class FuzzRun:
    """One operation's run: its app's client and store, a bearer token, what was exchanged."""

    client: FlaskClient
    store: Any
    token: str = ""
    secrets: list[str] = field(default_factory=lambda: ["password_hash", *SECRETS])
    sent: list[str] = field(default_factory=list)  # the data schemathesis generated
    failed: bool = False  # a check failed: the test reports that, not the tallies
    statuses: Counter[int] = field(default_factory=Counter)
    # Valid cases of the fuzzing phase whose credentials are ours (not part of the input).
    signed_in: Counter[int] = field(default_factory=Counter)
    # Production's budgets and the lockout in force: 429s are the point, not a setup failure.
    budgets: bool = False
    documented: set[str] = field(default_factory=set)  # the statuses the operation lists
    codes: list[str] = field(default_factory=list)  # SECOND's recovery codes not used yet
    authenticator: Authenticator = field(default_factory=Authenticator)  # its passkeys

    def login(self) -> str:
        response = self.client.post("/api/sessions", json=JANE_LOGIN)
        assert response.status_code == 201
        token = response.json["token"]
        self.secrets += [token, hash_token(token)]
        return token

    def mailed_token(self, label: str) -> str:
        """A real token, as a mail would bring, for the operation `label` (a secret too)."""
        app = self.client.application
        state = state_of(app)
        with app.app_context():
            user = tables.users.get(state.store, MAILED)
            if user is None:
                data = UserCreate(**new_user(username=MAILED, email=f"{MAILED}@example.com"))
                user = users.create_user(state, data=data, actor=users.OPERATOR)
            purpose = notices.RESET if "password" in label else notices.VERIFICATION
            token = notices.issue_token(state, user, purpose)
        self.secrets += [token, notices.hash_of(token) or ""]
        return token

    def with_totp(self, username: str) -> tuple[str, list[str]]:
        """Set up TOTP for `username` anew, as its owner would: its secret and recovery codes."""
        app = self.client.application
        state = state_of(app)
        with app.app_context():
            if tables.users.get(state.store, username) is None:
                data = UserCreate(**new_user(username=username, email=f"{username}@example.com"))
                users.create_user(state, data=data, actor=users.OPERATOR)
            factors.reset(state, username=username, by="(fuzz set-up)")
            user = users.get_user(state, username=username)
            secret = factors.start_totp(state, actor=user, username=username).secret
            codes = factors.confirm_totp(
                state,
                actor=users.get_user(state, username=username),
                username=username,
                code=totp.code_at(secret, state.now()),
                session=None,
                password_checked=True,
            ).recovery_codes
        self.secrets += [secret, *codes]
        return secret, codes

    def second_step(self) -> dict[str, str]:
        """A real challenge of SECOND's and one of its unused recovery codes (secrets too)."""
        if not self.codes:
            self.codes = self.with_totp(SECOND)[1]
        app = self.client.application
        credentials = Credentials(username=SECOND, password=SECOND_PASSWORD)
        with app.app_context():
            challenge = sessions.login(state_of(app), credentials=credentials).challenge
        self.secrets += [challenge, notices.hash_of(challenge) or ""]
        return {"challenge": challenge, "code": self.codes.pop()}

    def new_passkey(self, username: str = ADMIN) -> dict[str, Any]:
        """A real answer to new registration options of `username`'s (at most 10 kept)."""
        state = state_of(self.client.application)
        with self.client.application.app_context():
            if len(users.get_user(state, username=username).passkey_ids) >= 9:
                factors.reset(state, username=username, by="(fuzz set-up)")
        options = self.client.post(f"/api/users/{username}/passkey-options", headers=JOHN)
        assert options.status_code == 200, options.json
        return self.authenticator.create(options.json["options"])

    def passkey_id(self) -> str:
        """The id of a passkey of ADMIN's, added now."""
        registered = self.client.post(
            f"/api/users/{ADMIN}/passkeys",
            headers=JOHN,
            json={"name": "Key", "credential": self.new_passkey()},
        )
        assert registered.status_code == 201, registered.json
        self.secrets += registered.json["recovery_codes"]
        return registered.json["id"]

    def passkey_answer(self) -> dict[str, Any]:
        """A real answer to new sign-in options, by a passkey of ADMIN's."""
        if not self.authenticator.credentials:
            self.passkey_id()
        options = self.client.post("/api/sessions/passkey-options").json["options"]
        return self.authenticator.get(options, self.authenticator.credentials[-1])

    def leaks(self, text: str) -> list[str]:
        """Password hashes, and secrets the fuzzer did not itself send as data, in `text`.

        schemathesis mines the app's source for constants, so the demo passwords can be
        sent as a name or a path and come back legitimately: that is an echo, not a leak
        (lower-cased, when it was sent as a username: "PASSWORD_HASH" in a path comes back
        as "There is no user 'password_hash'").
        """
        sent = unquote(" ".join(self.sent)).lower()
        found = BCRYPT_HASH.findall(text)
        return found + [s for s in self.secrets if s in text and s.lower() not in sent]

    def no_secret_in_response(self, ctx: Any, response: Any, case: Any) -> bool | None:
        """A schemathesis check: no hash or secret in any response body or header."""
        leaked = self.leaks(response.text + str(dict(response.headers)))
        if leaked:
            raise AssertionError(f"the response leaks {leaked}")
        return None


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    # In a fixture's teardown `caplog.records` holds the teardown's records only.
    return [*caplog.get_records("setup"), *caplog.get_records("call")]


@contextmanager
def _fuzzed_app(caplog: pytest.LogCaptureFixture, *, budgets: bool) -> Iterator[FuzzRun]:
    """A fresh app over fresh moto tables (demo users seeded) for one operation's run.

    Afterwards no log record may hold a secret.
    """
    caplog.set_level(logging.DEBUG)
    settings_ = settings_of(TestingConfig)
    if budgets:
        production = settings_of(ProductionConfig)
        for name in ("RATELIMIT_LOGIN", "RATELIMIT_REGISTER", "RATELIMIT_MAIL", "RATELIMIT_TOKENS"):
            settings_[name] = production[name]
    with mock_aws():
        APP.app = create_app(settings_)
        run = FuzzRun(client=APP.app.test_client(), store=state_of(APP.app).store, budgets=budgets)
        run.token = run.login()
        try:
            yield run
        finally:
            APP.app = None
            drain_mail()
    for record in _logged(caplog):
        leaked = run.leaks(record.getMessage() + (record.exc_text or ""))
        assert not leaked, f"log record {record.name} leaks {leaked}"


@pytest.fixture
def fuzz_run(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[FuzzRun]:
    """One operation's run under the testing budgets.

    The operation must have succeeded at least once with mostly accepted credentials, or
    the run tested only error paths.
    """
    with _fuzzed_app(caplog, budgets=False) as run:
        yield run
    if run.failed:
        return
    label = request.node.name
    successes = sum(n for status, n in run.statuses.items() if 200 <= status < 300)
    assert successes, f"{label}: no 2xx in {run.statuses.total()} calls: {run.statuses}"
    refused = run.signed_in[401] + run.signed_in[429]
    assert refused <= run.signed_in.total() / 2, f"{label}: credentials refused: {run.signed_in}"


@pytest.fixture
def budget_run(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[FuzzRun]:
    """One operation's run under production's per-address budgets and the account lockout.

    Every status it met was documented (schemathesis's conformance check); an operation that
    documents 429 must have met a limit, or the run never reached what it is here to test.
    """
    with _fuzzed_app(caplog, budgets=True) as run:
        yield run
    if run.failed or "429" not in run.documented:
        return
    assert run.statuses[429], f"{request.node.name}: no limit met in {run.statuses}"


@pytest.fixture(autouse=True)
def no_secret_in_logs(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """conftest's log leak check, but for the schemathesis runs, which check their own.

    Their generated data holds `$2b$` and the demo passwords (mined from the app's source),
    which then appear in access-log paths: `FuzzRun.leaks` tells such echoes from leaks.
    """
    SENT_SECRETS.clear()
    caplog.set_level(logging.DEBUG)
    yield
    if {"fuzz_run", "budget_run"} & set(request.fixturenames):
        return
    for record in _logged(caplog):
        assert_no_secret(record.getMessage() + (record.exc_text or ""), f"log record {record.name}")


def _explained_refusal(case: Any, response: Any) -> bool:
    """Whether refusing this schema-valid request is right, or is a bug already proven."""
    if response.status_code == 415 and isinstance(case.body, NotSet):
        return True  # no body at all: test_openapi_document_marks_request_bodies_required
    if response.status_code == 400 and case.operation.label == "GET /api/users":
        # The cursor is opaque: any string of the right length is schema-valid.
        return response.json()["detail"].startswith("The cursor is not valid")
    if response.status_code == 400 and case.operation.label in TOKEN_ROUTES:
        return response.json()["type"] == "tag:users-api,2026:invalid-token"
    if response.status_code == 400 and case.operation.label == "GET /api/user":
        # The query credentials come in pairs; a schema cannot say so of parameters.
        return (
            response.json()["detail"] == "Give both username and password in the query, or neither."
        )
    if response.status_code != 422:
        return False
    errors = response.json().get("errors") or []
    allowed = CONTEXT_DEPENDENT_REFUSALS
    return bool(errors) and all(
        any(e["field"] == name and e["detail"].startswith(start) for name, start in allowed)
        for e in errors
    )


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's positive_data_acceptance, less the refusals explained above."""
    if _explained_refusal(case, response):
        return None
    return positive_data_acceptance(ctx, response, case)


def documented_headers_sent(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every header documented for the status is sent (Link only when there is a next page).

    The document does not mark them `required`, so schemathesis's own check skips them.
    """
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    missing = [
        name
        for name in documented.get("headers", {})
        if name != "Link" and name.lower() not in {key.lower() for key in response.headers}
    ]
    if missing:
        raise AssertionError(f"{response.status_code} without the documented {missing}")
    return None


def _pick(value: Any, options: tuple[Any, ...]) -> Any:
    """One of `options` or None, chosen from the generated value so hypothesis can replay it."""
    index = zlib.crc32(repr(value).encode("utf-8", "backslashreplace")) % (len(options) + 1)
    return options[index] if index < len(options) else None


def _is_valid_fuzz_case(case: Any) -> bool:
    meta = case.meta
    return (
        meta is not None
        and meta.phase.name == TestPhase.FUZZING
        and all(component.mode.is_positive for component in meta.components.values())
    )


def _carries_credentials(case: Any) -> bool:
    """Whether the input itself is a username and password (a 401 is then about the input)."""
    label = case.operation.label
    query = case.query if isinstance(case.query, dict) else {}
    return label in (
        "POST /api/sessions",
        "POST /api/sessions/mfa",
        PASSKEY_SIGN_IN,
        REAUTHENTICATION,
    ) or (label == "GET /api/user" and bool(query))


def _steer(case: Any, run: FuzzRun) -> dict[str, str]:
    """Aim some valid cases at data that exists, and return the credentials to send."""
    label = case.operation.label
    valid = _is_valid_fuzz_case(case)
    path = case.path_parameters or {}
    if "username" in path and valid:
        targets = VICTIMS if label == "DELETE /api/users/{username}" else KNOWN_USERS
        path["username"] = _pick(path["username"], targets) or path["username"]
    if case.method in ("PATCH", "DELETE") and canonical_username(path.get("username", "")) == ADMIN:
        # Changing or deleting the account the run signs in with would leave every later
        # call refused (a demoted admin, a deleted user): aim at another account.
        path["username"] = "janedoe" if case.method == "PATCH" else VICTIMS[0]
    if label == "GET /api/users" and valid and isinstance(case.query, dict):
        # Generated cursors are never real ones (400): drop it, or send a real one.
        cursor = _pick(case.query, ("", encode_cursor("janedoe")))
        if cursor is not None:
            case.query = {**case.query, "cursor": cursor} if cursor else {}
    if (
        label == "POST /api/users"
        and isinstance(case.body, dict)
        and valid
        and _pick(case.body, (True,))
    ):
        # Generated usernames and emails mostly collide (409): make this pair new.
        fresh = f"user-{zlib.crc32(repr(case.body).encode('utf-8', 'replace'))}"
        case.body.update(username=fresh, email=f"{fresh}@example.com")
    if label == "POST /api/sessions" and valid and _pick(case.body, (True,)):
        case.body = dict(JANE_LOGIN)
    if label == REAUTHENTICATION and valid and (run.budgets or _pick(case.body, (True,))):
        if run.budgets:
            # A right password would forgive her wrong ones: the lockout (429) must be met
            # whatever examples the seed gives.
            case.body = {"password": JANE_WRONG_PASSWORD}
        else:
            case.body = {"password": JANE_LOGIN["password"]}  # the run's token is jane's
            run.store.delete(FAILURES, {"username": "janedoe"})  # her earlier wrong ones
    if (
        label in TOKEN_ROUTES
        and valid
        and isinstance(case.body, dict)
        and _pick(case.body, (True,))
    ):
        case.body["token"] = run.mailed_token(label)
    if label == "POST /api/sessions/mfa" and valid and _pick(case.body, (True,)):
        case.body = run.second_step()
    if label in OWN_FACTORS and valid and not run.budgets:  # the set-up would spend them
        # His own account (the others' answer 403 whatever is sent); Basic proves the
        # password in the request, as a recent proof must.
        path["username"] = ADMIN
        if label.endswith("/confirm"):
            with run.client.application.app_context():
                state = state_of(run.client.application)
                factors.reset(state, username=ADMIN, by="(fuzz set-up)")
                admin = users.get_user(state, username=ADMIN)
                secret = factors.start_totp(state, actor=admin, username=ADMIN).secret
            run.secrets.append(secret)
            case.body = {"code": totp.code_at(secret, state.now())}
        elif label.startswith("POST") and label.endswith("/totp"):
            with run.client.application.app_context():
                factors.reset(state_of(run.client.application), username=ADMIN, by="(fuzz)")
        elif label.endswith("/passkeys") and isinstance(case.body, dict):
            case.body = {**case.body, "credential": run.new_passkey()}
        elif label.endswith("{passkey_id}"):
            path["passkey_id"] = run.passkey_id()
        elif not label.endswith("/passkey-options"):
            _, codes = run.with_totp(ADMIN)
            if label.startswith("DELETE"):
                case.body = {"password": "JohnPass123", "code": codes[0]}
    if label == PASSKEY_SIGN_IN and valid and not run.budgets and _pick(case.body, (True,)):
        case.body = {"credential": run.passkey_answer()}
    if label in FEW_CALLS and case.method == label.split()[0] and run.budgets:
        # Too few calls of their own to meet a limit: spend the budget (or lock jane's
        # account, as the turns' wrong passwords do) first, as the fuzzer's calls come.
        for _ in range(100):
            if run.statuses[429] or case.call(headers=JANE_WRONG).status_code == 429:
                break
    if label == "GET /api/user" and valid:
        choice = _pick(case.query, ({}, JANE_LOGIN))
        case.query = dict(choice) if choice is not None else case.query
    if label == "DELETE /api/users/{username}":
        target = canonical_username(path.get("username", ""))
        if target in {victim.lower() for victim in VICTIMS}:
            registered = run.client.post(
                "/api/users",
                headers=JOHN,
                json=new_user(username=target, email=f"{target}@example.com"),
            )
            # Under production's budgets the registration itself can be refused.
            assert registered.status_code in ((201, 409, 429) if run.budgets else (201, 409))
    # Under the budgets, the calls take turns with a right password, a wrong one (the
    # per-address budget and jane's lockout both run out) and a token. The budgets are state
    # anyway, so the turn is the call's number rather than a pick from the generated data.
    turn = (JOHN, JANE_WRONG, None)[len(run.sent) % 3] if run.budgets else None
    if label in BEARER_ONLY:
        if turn:  # Basic cannot work here: refused as such (401), never counted (429)
            return turn
        # A fresh login per logout (none under the budgets: then the spent token, 401).
        token = run.login() if case.method == "DELETE" and not run.budgets else run.token
        return {"Authorization": f"Bearer {token}"}
    if run.budgets:
        return turn or {"Authorization": f"Bearer {run.token}"}
    # ignored_auth probes each call with the same wrong Basic credentials; five in a row
    # lock that account (429, by design) where the check expects 401: start each unlocked.
    run.store.delete(FAILURES, {"username": PROBE_ACCOUNT})
    return JOHN


def _call(case: Any, run: FuzzRun) -> None:
    # What the fuzzer generated, before _steer adds real credentials that must not echo.
    run.sent.append(repr((case.path_parameters, case.query, case.body, case.headers)))
    run.documented = set(case.operation.definition.raw["responses"])
    headers = _steer(case, run)
    try:
        response = case.call_and_validate(
            headers=headers,
            # Under the budgets a spent one answers ignored_auth's wrong-credential probe with
            # 429 before any password is checked: that check runs in the other passes.
            excluded_checks=[positive_data_acceptance, *([ignored_auth] if run.budgets else [])],
            additional_checks=[
                positive_data_accepted,
                documented_headers_sent,
                run.no_secret_in_response,
            ],
        )
    except BaseException:
        run.failed = True
        raise
    run.statuses[response.status_code] += 1
    if _is_valid_fuzz_case(case) and not _carries_credentials(case):
        run.signed_in[response.status_code] += 1


MAX_EXAMPLES = 50
SEED = int(os.environ["FUZZ_SEED"])  # set by conftest.py's pytest_configure
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


@schema.exclude(func=lambda ctx: ctx.operation.label in DESTRUCTIVE).parametrize()
@SETTINGS
@hypothesis.seed(SEED)
def test_operation_conforms_to_document_as_admin(case, fuzz_run):
    _call(case, fuzz_run)


@schema.include(func=lambda ctx: ctx.operation.label in DESTRUCTIVE).parametrize()
@SETTINGS
@hypothesis.seed(SEED)
def test_destructive_operation_conforms_to_document(case, fuzz_run):
    _call(case, fuzz_run)


@schema.parametrize()
@SETTINGS
@hypothesis.seed(SEED)
def test_operation_conforms_to_document_under_production_budgets(case, budget_run):
    _call(case, budget_run)
