"""Access declared once per route: the caller, the challenge, the document, the login budget."""

from __future__ import annotations

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
from app.helpers.credentials import check_password
from app.helpers.state import current_state
from app.openapi import openapi_path
from tests.helpers import JANE, JOHN, basic

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


def request_that_checks_a_password(declared: Access, method: str, token: str) -> dict:
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
        kwargs["json"] = NEW_USER  # valid, so that the request gets as far as the password
    elif method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = passwords
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
            url_of(rule), **request_that_checks_a_password(declared, method, token)
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
