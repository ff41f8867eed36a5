"""Protections around the routes: JSON bodies, security headers, CORS, rate limits."""

from __future__ import annotations

import math
import time

from apiflask import APIFlask
from flask import Response, request
from flask_cors import CORS
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from app.controllers.common import require_json_body
from app.errors import problem

# Every password check from one client address spends one shared login budget: the login
# route always, the other routes that can check a password when they carry HTTP Basic
# credentials or a password in the query string. Registration has a budget of its own.
LOGIN_ROUTES = ("sessions.login",)
PASSWORD_ROUTES = frozenset(
    {
        *LOGIN_ROUTES,
        "users.register",
        "users.get_user",
        "users.update_user",
        "users.delete_user",
        "users.check_credentials",
        "sessions.list_sessions",
        "sessions.revoke_sessions",
    }
)
REGISTER_ROUTE = "users.register"
EXPOSED_HEADERS = ["Location", "Link", "Retry-After", "WWW-Authenticate", "X-Request-ID"]


def init_app(app: APIFlask) -> None:
    """Install the request hooks, CORS and the rate limits (after the routes exist)."""
    _init_hooks(app)
    origins = [o.strip() for o in app.config["CORS_ORIGINS"].split(",") if o.strip()]
    CORS(
        app,
        resources={r"/api/*": {"origins": origins}},
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    _init_rate_limits(app)


def _init_hooks(app: APIFlask) -> None:
    @app.before_request
    def check_body() -> None:
        if request.method in ("POST", "PUT", "PATCH"):
            require_json_body()

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        if request.path.startswith("/api/"):
            # The CORS headers depend on the Origin: a cache must keep them apart.
            response.vary.add("Origin")
            if not request.path.startswith("/api/docs"):
                # User data and tokens must not sit in a shared or browser cache.
                response.headers["Cache-Control"] = "no-store"
        return response


def _init_rate_limits(app: APIFlask) -> None:
    # One Limiter per app, so each app (and each test) counts on its own storage.
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["limiter"] = limiter
    login = limiter.shared_limit(
        app.config["RATELIMIT_LOGIN"], scope="login", exempt_when=_checks_no_password
    )
    register = limiter.limit(app.config["RATELIMIT_REGISTER"])
    for endpoint, view in list(app.view_functions.items()):
        if endpoint in PASSWORD_ROUTES:
            view = login(view)
        if endpoint == REGISTER_ROUTE:
            view = register(view)
        app.view_functions[endpoint] = view

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        # The window's own end: `reset_at` is rounded up a second past it.
        reset_at = current.window.reset_time if current else time.time() + 1
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return problem(
            429,
            f"Too many requests from this address ({error.description}); try again later.",
            headers={"Retry-After": str(retry_after)},
        )


def _checks_no_password() -> bool:
    """Whether the request leaves the login budget alone: it checks no password.

    A signed-in client (a bearer token, e.g. asking "who am I") is not guessing passwords.
    """
    if request.endpoint in LOGIN_ROUTES:
        return False
    credentials = request.authorization
    sends_basic = credentials is not None and credentials.type == "basic"
    return not sends_basic and "password" not in request.args
