"""Security headers, CORS and per-address rate limits (app/security.py) through the test client."""

from __future__ import annotations

import pytest
from limits.errors import ConfigurationError as LimiterConfigurationError

from app import create_app
from app.config import ConfigError, config_from_env, validate
from app.helpers.state import state_of
from tests.helpers import JANE, JOHN, basic, new_user

FRONT_END = "http://localhost:4200"
JOHN_LOGIN = {"username": "johndoe", "password": "JohnPass123"}


def build_client(settings, **changes):
    """A leak-checking client of an app built from `settings` with `changes`."""
    app = create_app({**settings, **changes})
    return app.test_client()


def bearer(client):
    """A bearer header for johndoe (one login)."""
    response = client.post("/api/sessions", json=JOHN_LOGIN)
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json['token']}"}


def assert_rate_limited(response):
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 429
    assert "from this address" in response.json["detail"]
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60  # what is left of a one-minute window
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- Security headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/users", {}, 200),
        ("GET", "/api/users/johndoe", {}, 200),
        ("GET", "/api/users/nobody", {}, 404),
        ("GET", "/api/user", {}, 401),
        ("GET", "/api/user", {"headers": JANE}, 200),
        ("POST", "/api/sessions", {"json": JOHN_LOGIN}, 201),
        ("POST", "/api/sessions", {"json": {"username": "johndoe", "password": "wrong!"}}, 401),
        ("POST", "/api/users", {"json": new_user()}, 201),
        ("POST", "/api/users", {"data": "{}", "content_type": "text/plain"}, 415),
        ("POST", "/api/users", {"json": new_user(email="nope")}, 422),
        ("DELETE", "/api/users", {}, 405),
        ("DELETE", "/api/sessions/current", {}, 401),
        ("OPTIONS", "/api/users", {}, 200),
        ("GET", "/api/openapi.json", {}, 200),
        ("GET", "/api/docs", {}, 200),
        ("GET", "/api/docs/assets/swagger-ui.css", {}, 200),
        ("GET", "/api/health/live", {}, 200),
        ("GET", "/no/such/page", {}, 404),
    ],
)
def test_every_response_sends_nosniff(client, method, path, kwargs, status):
    response = client.open(path, method=method, **kwargs)

    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/users", {}, 200),
        ("GET", "/api/users/johndoe", {"headers": JOHN}, 200),
        ("POST", "/api/sessions", {"json": JOHN_LOGIN}, 201),
        ("POST", "/api/sessions", {"json": {"username": "johndoe", "password": "wrong!"}}, 401),
        ("GET", "/api/user", {"headers": JANE}, 200),
        (
            "GET",
            "/api/user",
            {"query_string": {"username": "janedoe", "password": "JanePass123"}},
            200,
        ),
        ("GET", "/api/user", {}, 401),
        ("POST", "/api/users", {"json": new_user()}, 201),
    ],
)
def test_responses_with_user_data_or_tokens_are_not_stored(client, method, path, kwargs, status):
    response = client.open(path, method=method, **kwargs)

    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


def test_who_am_i_with_a_token_is_not_stored(client):
    response = client.get("/api/user", headers=bearer(client))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


# -- CORS -----------------------------------------------------------------------------------


def preflight(client, path="/api/sessions", origin=FRONT_END, method="POST"):
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )


def header_set(response, name):
    return {v.strip().lower() for v in response.headers.get(name, "").split(",") if v.strip()}


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/sessions", "POST"), ("/api/user", "GET"), ("/api/users/johndoe", "PATCH")],
)
def test_cors_preflight_from_front_end_allows_authorization(client, path, method):
    response = preflight(client, path, method=method)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert {"authorization", "content-type"} <= header_set(response, "Access-Control-Allow-Headers")
    assert method.lower() in header_set(response, "Access-Control-Allow-Methods")
    assert response.headers.get("Access-Control-Allow-Credentials") != "true"


def test_cors_preflight_allows_only_the_headers_the_api_reads_and_is_cached(client):
    response = client.options(
        "/api/users",
        headers={
            "Origin": FRONT_END,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, X-Request-ID, X-Evil",
        },
    )

    assert header_set(response, "Access-Control-Allow-Headers") == {
        "authorization",
        "x-request-id",
    }
    assert response.headers["Access-Control-Max-Age"] == "600"  # one preflight per 10 min


def test_cors_simple_request_from_front_end_exposes_headers(client):
    response = client.get("/api/users?limit=1", headers={"Origin": FRONT_END})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    exposed = header_set(response, "Access-Control-Expose-Headers")
    assert {"location", "link", "retry-after"} <= exposed
    assert "Link" in response.headers  # the header the front end pages with


def test_cors_error_responses_are_readable_by_front_end(client):
    response = client.post(
        "/api/sessions",
        json={"username": "johndoe", "password": "wrong!"},
        headers={"Origin": FRONT_END},
    )

    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END


def test_cors_response_that_depends_on_origin_varies_on_it(client):
    response = client.get("/api/docs", headers={"Origin": FRONT_END})

    assert response.headers["Access-Control-Allow-Origin"] == FRONT_END
    assert "origin" in header_set(response, "Vary")


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://localhost:4201",
        "https://localhost:4200",
        "http://localhost:4200.evil.example",
        "null",
    ],
)
def test_cors_origin_not_listed_gets_no_allow_origin(client, origin):
    simple = client.get("/api/users", headers={"Origin": origin})
    preflighted = preflight(client, origin=origin)

    assert simple.status_code == 200
    assert "Access-Control-Allow-Origin" not in simple.headers
    assert "Access-Control-Allow-Origin" not in preflighted.headers
    assert "Access-Control-Allow-Headers" not in preflighted.headers


def test_cors_two_listed_origins_are_both_allowed(aws, settings):
    client = build_client(settings, CORS_ORIGINS="http://localhost:4200, https://admin.example.com")

    for origin in ("http://localhost:4200", "https://admin.example.com"):
        response = client.get("/api/users", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert preflight(client, origin=origin).headers["Access-Control-Allow-Origin"] == origin
        assert "origin" in header_set(response, "Vary")
    other = client.get("/api/users", headers={"Origin": "https://example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize(
    "origins", ["*", "http://localhost:4200,*", "https://*.example.com", " * "]
)
def test_cors_wildcard_origin_is_refused_by_config(settings, origins):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        validate({**settings, "CORS_ORIGINS": origins})
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        config_from_env({"APP_ENV": "testing", "CORS_ORIGINS": origins})
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        create_app({**settings, "CORS_ORIGINS": origins})


# -- Per-address rate limits ----------------------------------------------------------------


@pytest.fixture
def limited(aws, settings):
    """A client of an app with small limits: 3 logins and 2 registrations a minute."""
    return build_client(settings, RATELIMIT_LOGIN="3 per minute", RATELIMIT_REGISTER="2 per minute")


def login_by_session(client, **kwargs):
    return client.post("/api/sessions", json=JOHN_LOGIN, **kwargs)


def login_by_query(client, **kwargs):
    return client.get("/api/user", query_string=JOHN_LOGIN, **kwargs)


def login_by_basic(client, headers=None, **kwargs):
    return client.get("/api/user", headers={**JOHN, **(headers or {})}, **kwargs)


LOGINS = [
    pytest.param(login_by_session, 201, id="POST-sessions"),
    pytest.param(login_by_query, 200, id="query-GET-user"),
    pytest.param(login_by_basic, 200, id="basic-GET-user"),
]


@pytest.mark.parametrize(("login", "ok"), LOGINS)
def test_login_past_the_limit_is_429_with_retry_after(limited, login, ok):
    for _ in range(3):
        assert login(limited).status_code == ok

    assert_rate_limited(login(limited))
    assert_rate_limited(login(limited))


@pytest.mark.parametrize(("limit", "window"), [("2 per hour", 3600), ("2 per 10 seconds", 10)])
def test_retry_after_is_the_time_left_in_the_window(aws, settings, limit, window):
    client = build_client(settings, RATELIMIT_LOGIN=limit)
    for _ in range(2):
        assert login_by_session(client).status_code == 201

    response = login_by_session(client)

    assert response.status_code == 429
    # The window began with the first login, a moment ago: nearly all of it is left.
    assert window - 5 <= int(response.headers["Retry-After"]) <= window


def test_register_past_the_limit_is_429_with_retry_after(limited):
    for i in range(2):
        body = new_user(username=f"user{i}", email=f"user{i}@example.com")
        assert limited.post("/api/users", json=body).status_code == 201

    assert_rate_limited(limited.post("/api/users", json=new_user()))
    assert limited.get("/api/users/alice").status_code == 404  # refused before it ran


def test_refused_login_never_checks_the_password(limited, monkeypatch):
    for _ in range(3):
        login_by_session(limited)
    checks = []
    hasher = state_of(limited.application).passwords
    real = hasher.check
    monkeypatch.setattr(hasher, "check", lambda *a: checks.append(1) or real(*a))

    assert_rate_limited(login_by_session(limited))
    assert checks == []


@pytest.mark.parametrize(("login", "ok"), LOGINS)
def test_login_routes_share_one_budget(limited, login, ok):
    assert login_by_session(limited).status_code == 201
    assert login_by_query(limited).status_code == 200
    assert login_by_basic(limited).status_code == 200

    assert_rate_limited(login(limited))


def test_who_am_i_with_a_token_is_not_limited(limited):
    token = bearer(limited)
    login_by_session(limited)
    login_by_session(limited)
    assert_rate_limited(login_by_session(limited))

    for _ in range(10):
        assert limited.get("/api/user", headers=token).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/users", {}, 200),
        ("GET", "/api/users/johndoe", {}, 200),
        ("GET", "/api/openapi.json", {}, 200),
        ("GET", "/api/health/live", {}, 200),
        # Routes that never check the password they are sent spend nothing: they answer as
        # they would without the budget (Basic cannot open a session: 401, never 429).
        ("GET", "/api/sessions/current", {"headers": JOHN}, 401),
        ("DELETE", "/api/sessions/current", {"headers": JOHN}, 401),
    ],
)
def test_other_routes_are_not_limited(limited, method, path, kwargs, status):
    for _ in range(3):
        login_by_session(limited)
    assert_rate_limited(login_by_session(limited))

    for _ in range(10):
        assert limited.open(path, method=method, **kwargs).status_code == status


def test_login_and_registration_budgets_are_separate(limited):
    for _ in range(3):
        login_by_session(limited)
    assert_rate_limited(login_by_session(limited))

    assert limited.post("/api/users", json=new_user()).status_code == 201


def test_each_client_address_has_its_own_budget(limited):
    first = {"environ_base": {"REMOTE_ADDR": "203.0.113.1"}}
    second = {"environ_base": {"REMOTE_ADDR": "203.0.113.2"}}
    for _ in range(3):
        assert login_by_session(limited, **first).status_code == 201
    assert_rate_limited(login_by_session(limited, **first))

    for _ in range(3):
        assert login_by_session(limited, **second).status_code == 201
    assert_rate_limited(login_by_session(limited, **second))
    assert_rate_limited(login_by_session(limited, **first))


# -- The client's address behind proxies -----------------------------------------------------

PROXY = {"REMOTE_ADDR": "10.0.0.1"}


def via_proxy(forwarded_for):
    """Request options for a request that reached the app through the load balancer."""
    return {"environ_base": PROXY, "headers": {"X-Forwarded-For": forwarded_for}}


@pytest.fixture
def behind_proxy(aws, settings):
    """A client of an app behind one trusted proxy, with 3 logins a minute per address."""
    return build_client(settings, RATELIMIT_LOGIN="3 per minute", TRUSTED_PROXY_COUNT=1)


def test_clients_behind_a_trusted_proxy_have_their_own_budgets(behind_proxy):
    for _ in range(3):
        assert login_by_session(behind_proxy, **via_proxy("203.0.113.1")).status_code == 201
    assert_rate_limited(login_by_session(behind_proxy, **via_proxy("203.0.113.1")))

    assert login_by_session(behind_proxy, **via_proxy("203.0.113.2")).status_code == 201


@pytest.mark.parametrize(
    "forged",
    ["198.51.100.7, 203.0.113.1", "203.0.113.9, 198.51.100.7, 203.0.113.1", "unknown, 203.0.113.1"],
)
def test_a_forged_forwarded_for_entry_gets_no_new_budget(behind_proxy, forged):
    for _ in range(3):
        login_by_session(behind_proxy, **via_proxy("203.0.113.1"))

    # The proxy appends the address it saw; what the client wrote before it counts for nothing.
    assert_rate_limited(login_by_session(behind_proxy, **via_proxy(forged)))


def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(limited):
    for i in range(3):
        login_by_session(limited, **via_proxy(f"203.0.113.{i}"))

    assert_rate_limited(login_by_session(limited, **via_proxy("203.0.113.200")))


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", True),
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:203.0.113.1", "203.0.113.1", True),
        ("203.0.113.1", "203.0.113.2", False),
    ],
)
def test_ipv6_clients_are_counted_by_their_64(limited, first, second, shared):
    for _ in range(3):
        login_by_session(limited, environ_base={"REMOTE_ADDR": first})

    response = login_by_session(limited, environ_base={"REMOTE_ADDR": second})

    if shared:
        assert_rate_limited(response)
    else:
        assert response.status_code == 201


@pytest.mark.parametrize("raw", ["-1", "one"])
def test_trusted_proxy_count_must_be_a_count(raw):
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT"):
        config_from_env({"TRUSTED_PROXY_COUNT": raw})


def test_each_app_counts_on_its_own_storage_by_default(aws, settings):
    one = build_client(settings, RATELIMIT_LOGIN="3 per minute")
    for _ in range(3):
        login_by_session(one)
    assert_rate_limited(login_by_session(one))

    two = build_client(settings, RATELIMIT_LOGIN="3 per minute")
    assert login_by_session(two).status_code == 201


def test_rate_limit_disabled_never_refuses(aws, settings):
    client = build_client(
        settings,
        RATELIMIT_ENABLED=False,
        RATELIMIT_LOGIN="3 per minute",
        RATELIMIT_REGISTER="2 per minute",
    )

    for i in range(12):
        assert login_by_session(client).status_code == 201
        assert login_by_query(client).status_code == 200
        body = new_user(username=f"user{i}", email=f"user{i}@example.com")
        assert client.post("/api/users", json=body).status_code == 201


# Ways around the budget: a login or registration must count whatever else the request carries.
@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(
            lambda client, token: client.post(
                "/api/sessions", json=JOHN_LOGIN, headers={"Authorization": "Bearer junk"}
            ),
            id="login-with-junk-bearer-header",
        ),
        pytest.param(
            lambda client, token: client.post(
                "/api/users",
                json=new_user(username="mallory", email="m@example.com"),
                headers=token,
            ),
            id="register-with-a-real-token",
        ),
        pytest.param(
            lambda client, token: client.get(
                "/api/users/janedoe", headers=basic("johndoe", "JohnPass123")
            ),
            id="basic-credentials-on-another-route",
        ),
    ],
)
def test_login_budget_cannot_be_bypassed(limited, attempt):
    token = bearer(limited)
    for name in ("alice", "bob"):
        body = new_user(username=name, email=f"{name}@example.com")
        assert limited.post("/api/users", json=body).status_code == 201
    login_by_session(limited)
    login_by_session(limited)
    assert_rate_limited(login_by_session(limited))
    assert_rate_limited(limited.post("/api/users", json=new_user(username="carol")))

    assert_rate_limited(attempt(limited, token))


def test_a_query_login_with_a_junk_token_is_refused_before_any_check(limited, monkeypatch):
    spend_the_login_budget(limited)
    checks = []
    monkeypatch.setattr(
        state_of(limited.application).passwords, "check", lambda *a: checks.append(a)
    )

    junk = {"Authorization": "Bearer junk"}
    response = limited.get("/api/user", query_string=JOHN_LOGIN, headers=junk)

    assert response.status_code == 401  # the token is wrong: no password is looked at
    assert checks == []


def spend_the_login_budget(client) -> None:
    for _ in range(3):
        login_by_session(client)
    assert_rate_limited(login_by_session(client))


def test_a_current_password_that_is_checked_spends_the_budget(limited):
    token = bearer(limited)
    spend_the_login_budget(limited)
    change = {"password": "BrandNewPass1", "current_password": "JohnPass123"}

    assert_rate_limited(limited.patch("/api/users/johndoe", json=change, headers=token))


def test_a_current_password_that_is_not_checked_spends_nothing(limited):
    # The budget counts password checks, not fields that look like a password.
    token = bearer(limited)
    spend_the_login_budget(limited)
    change = {"first_name": "Johnny", "current_password": "anything"}

    response = limited.patch("/api/users/johndoe", json=change, headers=token)

    assert response.status_code == 200
    assert response.json["first_name"] == "Johnny"


def test_each_password_check_of_a_request_spends_one(limited):
    # HTTP Basic and `current_password` in one request: two checks, two of the three.
    change = {"password": "BrandNewPass1", "current_password": "JohnPass123"}
    new_login = {**JOHN_LOGIN, "password": "BrandNewPass1"}
    assert limited.patch("/api/users/johndoe", json=change, headers=JOHN).status_code == 200

    assert limited.post("/api/sessions", json=new_login).status_code == 201
    assert_rate_limited(limited.post("/api/sessions", json=new_login))


# -- Settings from the environment ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "enabled"),
    [
        ("false", False),
        ("False", False),
        ("0", False),
        ("off", False),
        ("no", False),
        ("true", True),
        ("1", True),
        ("ON", True),
        ("yes", True),
    ],
)
def test_ratelimit_enabled_from_environment_is_a_boolean(raw, enabled):
    settings = config_from_env({"APP_ENV": "testing", "RATELIMIT_ENABLED": raw})

    assert settings["RATELIMIT_ENABLED"] is enabled


@pytest.mark.parametrize("raw", ["", "maybe", "disabled", "2"])
def test_ratelimit_enabled_from_environment_refuses_other_values(raw):
    with pytest.raises(ConfigError, match="RATELIMIT_ENABLED"):
        config_from_env({"APP_ENV": "testing", "RATELIMIT_ENABLED": raw})


def test_ratelimit_settings_are_read_from_environment():
    settings = config_from_env(
        {
            "APP_ENV": "testing",
            "RATELIMIT_STORAGE_URI": "redis://cache.internal:6379/0",
            "RATELIMIT_LOGIN": "5 per second",
            "RATELIMIT_REGISTER": "7 per hour",
        }
    )

    assert settings["RATELIMIT_STORAGE_URI"] == "redis://cache.internal:6379/0"
    assert settings["RATELIMIT_LOGIN"] == "5 per second"
    assert settings["RATELIMIT_REGISTER"] == "7 per hour"


def environment(monkeypatch, **values):
    monkeypatch.setenv("APP_ENV", "testing")
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_environment_limits_reach_the_running_app(aws, monkeypatch):
    environment(monkeypatch, RATELIMIT_LOGIN="2 per minute")
    app = create_app()
    client = app.test_client()

    assert login_by_session(client).status_code == 201
    assert login_by_session(client).status_code == 201
    assert_rate_limited(login_by_session(client))


def test_environment_can_switch_the_limiter_off(aws, monkeypatch):
    environment(monkeypatch, RATELIMIT_ENABLED="false", RATELIMIT_LOGIN="2 per minute")
    app = create_app()
    client = app.test_client()

    assert app.config["RATELIMIT_ENABLED"] is False
    for _ in range(6):
        assert login_by_session(client).status_code == 201


def test_environment_storage_uri_reaches_the_limiter(aws, monkeypatch):
    # A scheme the limits library knows, whose client library is not installed here.
    environment(monkeypatch, RATELIMIT_STORAGE_URI="memcached://127.0.0.1:1")

    with pytest.raises(LimiterConfigurationError, match="pymemcache"):
        create_app()


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("RATELIMIT_STORAGE_URI", "nosuchstore://somewhere", "storage the limits library knows"),
        ("RATELIMIT_LOGIN", "lots", "a rate limit such as '20 per minute'"),
        ("RATELIMIT_REGISTER", "10 per fortnight", "a rate limit such as '20 per minute'"),
    ],
)
def test_rate_limit_settings_that_cannot_work_stop_start_up(monkeypatch, name, raw, problem):
    # A limit the limiter could not parse would switch itself off, request after request.
    with pytest.raises(ConfigError, match=problem):
        config_from_env({"APP_ENV": "production", name: raw})


def test_cors_headers_only_answer_a_browser_origin(client):
    response = client.get("/api/users")  # a server-to-server call: no Origin

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Expose-Headers" not in response.headers


# -- HSTS -----------------------------------------------------------------------------------


def test_hsts_is_not_sent_by_default(client):
    assert "Strict-Transport-Security" not in client.get("/api/users").headers


@pytest.mark.parametrize("path", ["/api/users", "/", "/api/health/live", "/api/nothing-here"])
def test_hsts_is_sent_on_every_response_when_set(aws, settings, path):
    client = build_client(settings, HSTS_SECONDS=31536000)

    assert client.get(path).headers["Strict-Transport-Security"] == "max-age=31536000"


def test_hsts_seconds_cannot_be_negative():
    with pytest.raises(ConfigError, match="HSTS_SECONDS must be 0"):
        config_from_env({"HSTS_SECONDS": "-1"})


# -- CORS origins are origins, never patterns -----------------------------------------------


@pytest.mark.parametrize(
    "origins",
    [
        "https://app.example.com$",
        "https://app.example.com/",
        "https://.+.example.com",
        "http://localhost:4200, https://(app|admin).example.com",
        "app.example.com",
        "null",
        "https://app.example.com/path",
        "ftp://app.example.com",
    ],
)
def test_cors_origins_that_are_not_plain_origins_stop_start_up(origins):
    with pytest.raises(ConfigError, match="CORS_ORIGINS must be origins such as"):
        config_from_env({"CORS_ORIGINS": origins})


@pytest.mark.parametrize(
    "origins",
    [
        "https://app.example.com",
        "http://localhost:4200, https://App.Example.com:8443",
        "http://[::1]:4200",
        "",
    ],
)
def test_plain_origins_are_accepted(origins):
    assert config_from_env({"CORS_ORIGINS": origins})["CORS_ORIGINS"] == origins


def test_an_origin_that_only_starts_like_a_listed_one_is_refused(aws, settings):
    client = build_client(settings, CORS_ORIGINS="https://app.example.com")

    for origin in ("https://app.example.com.evil.test", "https://app.example.comevil.test"):
        response = client.get("/api/users", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in response.headers
    listed = client.get("/api/users", headers={"Origin": "https://app.example.com"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_production_allows_no_origin_by_default(aws):
    settings = config_from_env({"APP_ENV": "production", "AWS_REGION": "eu-west-1"})
    assert settings["CORS_ORIGINS"] == ""
    client = create_app(settings).test_client()

    response = client.get("/api/health/live", headers={"Origin": FRONT_END})

    assert "Access-Control-Allow-Origin" not in response.headers
