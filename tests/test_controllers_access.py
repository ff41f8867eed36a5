"""Access declared once per route: the caller, the challenge, the document, the login budget."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from app import create_app
from app.controllers.access import (
    ADMIN,
    ANONYMOUS,
    BASIC,
    Access,
    Caller,
    access,
    declared_access,
)
from app.helpers import totp
from app.helpers.credentials import check_password
from app.helpers.state import current_state, state_of
from app.openapi import openapi_path
from tests.helpers import (
    JANE,
    JOHN,
    FakeClock,
    assert_problem,
    basic,
    bearer,
    enrol_totp,
    login,
)

# Routes that are not the API's own: the document, its UI and their files, the page.
NOT_API = {"static", "openapi.spec", "openapi.docs", "openapi.swagger_ui_oauth_redirect"}
NOT_API |= {"docs_assets.static", "pages.index"}
LOGIN = {"username": "johndoe", "password": "JohnPass123"}
NEW_USER = {
    "username": "newcomer",
    "email": "newcomer@example.com",
    "password": "NewcomerPass1",
    "first_name": "New",
    "last_name": "Comer",
}


def api_routes(app) -> list[tuple[Rule, str]]:
    """Every (rule, method) of the API, HEAD and OPTIONS aside."""
    return [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_API
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def url_of(rule: Rule) -> str:
    return rule.rule.replace("<username>", "janedoe")


def test_every_api_route_declares_its_access(app):
    views = app.view_functions
    undeclared = [
        rule.endpoint for rule, _ in api_routes(app) if not declared_access(views[rule.endpoint])
    ]

    assert api_routes(app)
    assert undeclared == []


def test_every_operation_documents_each_status_it_can_answer(app, client):
    document = client.get("/api/openapi.json").json
    missing = {}
    for rule, method in api_routes(app):
        declared = declared_access(app.view_functions[rule.endpoint])
        operation = document["paths"][openapi_path(rule)][method.lower()]
        expected = declared.statuses | {503}
        if "requestBody" in operation:
            expected |= {400, 413, 415, 422}
        absent = sorted(expected - {int(code) for code in operation["responses"]})
        if absent:
            missing[f"{method} {rule.rule}"] = absent

    assert missing == {}


# Valid bodies, so that a request gets as far as the password (checked after the body).
BODIES = {
    "/api/users": NEW_USER,
    "/api/users/<username>/totp/confirm": {"code": "000000"},
    "/api/users/<username>/passkeys": {"name": "Key", "credential": {}},
}


def request_that_checks_a_password(
    declared: Access, method: str, token: str, path: str = "/api/users"
) -> dict:
    """Arguments for a request that makes a route with this access check a password."""
    kwargs: dict = {"method": method, "headers": {}}
    if declared.login:
        kwargs["json"] = LOGIN
    elif BASIC in declared.schemes:
        kwargs["headers"] = JOHN
    elif declared.schemes:  # bearer only: the password comes in the body
        kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    passwords = dict.fromkeys(declared.password_fields, "JohnPass123")
    if declared.login:
        return kwargs
    if method == "POST" and not passwords:
        kwargs["json"] = BODIES.get(path, {})
    elif method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = passwords
    elif method == "DELETE" and passwords:  # turning a second factor off: a code too
        kwargs["json"] = {**passwords, "code": "000000"}
    elif passwords and not kwargs["headers"]:
        kwargs["query_string"] = {**LOGIN, **passwords}
    return kwargs


def test_every_route_that_can_check_a_password_spends_the_login_budget(aws, settings):
    app = create_app({**settings, "RATELIMIT_LOGIN": "2 per minute"})
    client = app.test_client()
    checking = [
        (rule, method, declared)
        for rule, method in api_routes(app)
        if (declared := declared_access(app.view_functions[rule.endpoint])).checks_password
    ]
    for _ in range(2):
        response = client.post("/api/sessions", json=LOGIN)
        assert response.status_code == 201
    token = response.json["token"]

    statuses = {
        f"{method} {rule.rule}": client.open(
            url_of(rule), **request_that_checks_a_password(declared, method, token, rule.rule)
        ).status_code
        for rule, method, declared in checking
    }

    assert len(statuses) >= 9
    assert set(statuses.values()) == {429}, statuses


def test_routes_that_check_no_password_spend_nothing(aws, settings):
    app = create_app({**settings, "RATELIMIT_LOGIN": "2 per minute"})
    client = app.test_client()
    for _ in range(2):
        client.post("/api/sessions", json=LOGIN)
    assert client.post("/api/sessions", json=LOGIN).status_code == 429

    for rule, method in api_routes(app):
        declared = declared_access(app.view_functions[rule.endpoint])
        if declared.checks_password:
            continue
        response = client.open(url_of(rule), method=method, headers=JOHN)
        assert response.status_code != 429, f"{method} {rule.rule}"


def test_a_password_check_on_a_route_not_declaring_it_is_a_loud_bug(app, client, caplog):
    @app.get("/api/sneaky")
    @access(ANONYMOUS)
    def sneaky() -> dict:
        # Declared as checking no password, yet checks one: its document would miss the 429.
        check_password(current_state(), username="johndoe", password="JohnPass123")
        return {}

    response = client.get("/api/sneaky")

    assert response.status_code == 500
    errors = [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    assert errors == ["sneaky checks a password but does not declare it"]


def test_admin_access_lets_only_admins_in(app, client):
    @app.get("/api/admins-only")
    @access(ADMIN)
    def admins_only(caller: Caller) -> dict:
        return {"admin": caller.user.username}

    assert client.get("/api/admins-only", headers=JOHN).json == {"admin": "johndoe"}
    forbidden = client.get("/api/admins-only", headers=JANE)
    assert forbidden.status_code == 403
    assert forbidden.json["detail"] == "This needs an admin account."
    anonymous = client.get("/api/admins-only")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == (
        'Basic realm="users-api", Bearer realm="users-api"'
    )
    wrong = client.get("/api/admins-only", headers=basic("johndoe", "not-his-password"))
    assert wrong.status_code == 401


def test_a_route_that_reads_basic_only_refuses_a_token(app, client):
    @app.get("/api/basic-only")
    @access(Access(schemes=(BASIC,), required=True))
    def basic_only(caller: Caller) -> dict:
        return {"user": caller.user.username}

    token = client.post("/api/sessions", json=LOGIN).json["token"]

    assert client.get("/api/basic-only", headers=JOHN).json == {"user": "johndoe"}
    refused = client.get("/api/basic-only", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401


# -- REQUIRE_ADMIN_MFA ------------------------------------------------------------------------

SECOND_FACTOR_REQUIRED = "tag:users-api,2026:second-factor-required"
ADMIN_ACTIONS = [
    ("GET", "/api/users?email=janedoe@example.com", None),
    ("GET", "/api/users?prefix=jane", None),
    ("GET", "/api/users/janedoe/sessions", None),
    ("DELETE", "/api/users/janedoe/sessions", None),
    ("PATCH", "/api/users/janedoe", {"disabled": True}),
    ("PATCH", "/api/users/janedoe", {"account_type": "admin_user"}),
    ("PATCH", "/api/users/janedoe", {"first_name": "Janet"}),
    ("DELETE", "/api/users/janedoe", None),
    ("DELETE", "/api/users/janedoe/lockout", None),
    ("DELETE", "/api/users/janedoe/second-factors", None),
    ("POST", "/api/users", {**NEW_USER, "account_type": "admin_user"}),
]


@pytest.fixture
def mfa_app(aws, settings):
    return create_app({**settings, "REQUIRE_ADMIN_MFA": True})


@pytest.fixture
def mfa_client(mfa_app):
    return mfa_app.test_client()


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ACTIONS)
def test_an_admin_without_a_second_factor_gets_a_problem_of_its_own(mfa_client, method, url, body):
    token = login(mfa_client)["token"]

    response = mfa_client.open(url, method=method, headers=bearer(token), json=body)

    assert_problem(response, 403, SECOND_FACTOR_REQUIRED)


@pytest.mark.parametrize(("method", "url", "body"), ADMIN_ACTIONS)
def test_an_admin_signed_in_with_a_second_factor_may_act(mfa_app, mfa_client, method, url, body):
    clock = FakeClock()
    state_of(mfa_app).clock = clock
    secret, _ = enrol_totp(mfa_client, login(mfa_client)["token"], "johndoe", clock)
    clock.advance(totp.STEP)
    challenge = mfa_client.post("/api/sessions", json=LOGIN).json["challenge"]
    proof = {"challenge": challenge, "code": totp.code_at(secret, clock())}
    token = mfa_client.post("/api/sessions/mfa", json=proof).json["token"]

    response = mfa_client.open(url, method=method, headers=bearer(token), json=body)

    assert response.status_code < 300, response.json


@pytest.mark.parametrize(
    ("method", "url", "body", "status"),
    [
        ("GET", "/api/users/johndoe", None, 200),
        ("PATCH", "/api/users/johndoe", {"first_name": "Johnny"}, 200),
        ("GET", "/api/users/johndoe/sessions", None, 200),
        ("GET", "/api/sessions/current", None, 200),
        ("POST", "/api/users/johndoe/totp", None, 201),
        ("GET", "/api/users/janedoe", None, 200),  # what anyone signed in may see
    ],
)
def test_an_admin_without_a_second_factor_keeps_their_own_account(
    mfa_client, method, url, body, status
):
    token = login(mfa_client)["token"]

    response = mfa_client.open(url, method=method, headers=bearer(token), json=body)

    assert response.status_code == status, response.json
    if url == "/api/users/janedoe":
        assert "email" not in response.json  # another's account: the public view only


def test_http_basic_cannot_carry_an_admins_second_factor(mfa_client):
    response = mfa_client.get("/api/users/janedoe/sessions", headers=JOHN)

    assert_problem(response, 403, SECOND_FACTOR_REQUIRED)


def test_an_admin_steps_a_session_up_with_a_code(mfa_app, mfa_client):
    clock = FakeClock()
    state_of(mfa_app).clock = clock
    token = login(mfa_client)["token"]
    secret, _ = enrol_totp(mfa_client, token, "johndoe", clock)
    assert mfa_client.get("/api/users/janedoe/sessions", headers=bearer(token)).status_code == 403
    clock.advance(totp.STEP)

    proof = {"code": totp.code_at(secret, clock())}
    stepped = mfa_client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json=proof
    )

    assert stepped.status_code == 200
    assert mfa_client.get("/api/users/janedoe/sessions", headers=bearer(token)).status_code == 200


def test_a_standard_user_is_refused_admin_actions_as_before(mfa_client):
    token = login(mfa_client, "janedoe", "JanePass123")["token"]

    response = mfa_client.delete("/api/users/johndoe/lockout", headers=bearer(token))

    assert_problem(response, 403)
