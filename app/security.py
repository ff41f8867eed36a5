"""Protections around the routes: JSON bodies, security headers, CORS, rate limits."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from apiflask import APIFlask
from flask import Response, current_app, has_request_context, request
from flask_cors import CORS
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import cors_origins
from app.controllers.access import declared_access
from app.errors import TooManyRequests, UnsupportedMediaType, ValidationFailed, problem
from app.helpers import events
from app.helpers.state import state_of
from app.models import printable

EXPOSED_HEADERS = ["Location", "Link", "Retry-After", "WWW-Authenticate", "X-Request-ID"]
View = TypeVar("View", bound=Callable[..., Any])


def _budget(name: str) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.budgets = (*getattr(view, "budgets", ()), name)  # type: ignore[attr-defined]
        return view

    return mark


# Per client address, each counted by the limiter (applied in `_init_rate_limits`):
# registrations (RATELIMIT_REGISTER); anonymous reads of the directory (RATELIMIT_DIRECTORY);
# asking for a mail, reset or verification (RATELIMIT_MAIL); using a mailed token
# (RATELIMIT_TOKENS).
registration_budget = _budget("register")
directory_budget = _budget("directory")
mail_budget = _budget("mail")
token_budget = _budget("tokens")


def init_app(app: APIFlask) -> None:
    """Install the request hooks, CORS and the rate limits (after the routes exist)."""
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:
        # Each trusted proxy appends the address it received from; the client's real one
        # is the right-most that no trusted proxy wrote. Anything left of it is the client's
        # own say, which a forger controls.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies)  # type: ignore[method-assign]
    _init_hooks(app)
    origins = cors_origins(app.config["CORS_ORIGINS"])
    CORS(
        app,
        resources={r"/api/*": {"origins": origins}},
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
        # CORS headers answer a browser's Origin: a request without one gets none.
        always_send=False,
    )
    _init_rate_limits(app)


def _init_hooks(app: APIFlask) -> None:
    hsts = app.config["HSTS_SECONDS"]

    @app.before_request
    def check_body() -> None:
        if request.method in ("POST", "PUT", "PATCH"):
            _require_json_body()

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if hsts:
            response.headers["Strict-Transport-Security"] = f"max-age={hsts}"
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        if request.path.startswith("/api/"):
            # The CORS headers depend on the Origin: a cache must keep them apart.
            response.vary.add("Origin")
            if not request.path.startswith("/api/docs"):
                # User data and tokens must not sit in a shared or browser cache.
                response.headers["Cache-Control"] = "no-store"
        return response


def _require_json_body() -> None:
    """Before a route that reads a JSON body: 415 for another type, 400/413 for a bad body."""
    view = current_app.view_functions.get(request.endpoint)  # type: ignore[arg-type]
    spec = getattr(view, "_spec", {})
    if not spec.get("body"):
        return
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType()
    # Parse now so that malformed JSON (400) and an oversized body (413) answer before
    # validation; Flask caches the result for the view.
    if request.get_json() is None:
        # APIFlask would read a JSON null as an empty object: a body of optional fields
        # would then pass for `{}`.
        detail = "must be a JSON object, not null"
        raise ValidationFailed(errors=[{"location": "json", "field": "_schema", "detail": detail}])


def _init_rate_limits(app: APIFlask) -> None:
    # One Limiter per app (in its state), so each app (and each test) counts on its own.
    limiter = state_of(app).limiter
    limiter.init_app(app)
    # The login budget is not a route's: every password check spends it (LoginBudget).
    register = limiter.limit(app.config["RATELIMIT_REGISTER"])
    # Reading the directory without credentials: a scraper's way in, so it has a budget.
    directory = limiter.shared_limit(
        app.config["RATELIMIT_DIRECTORY"],
        scope="directory",
        exempt_when=lambda: request.authorization is not None,
    )
    # Asking for mails, and spending their tokens: one budget each across their routes.
    mail = limiter.shared_limit(app.config["RATELIMIT_MAIL"], scope="mail")
    tokens = limiter.shared_limit(app.config["RATELIMIT_TOKENS"], scope="tokens")
    limits = {"register": register, "directory": directory, "mail": mail, "tokens": tokens}
    for endpoint, view in list(app.view_functions.items()):
        for name in getattr(view, "budgets", ()):
            view = limits[name](view)
        app.view_functions[endpoint] = view

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        # The window's own end: `reset_at` is rounded up a second past it.
        reset_at = current.window.reset_time if current else time.time() + 1
        refused = _too_many(str(error.description), reset_at)
        return problem(429, refused.detail, headers=refused.headers)


class LoginBudget:
    """The per-address budget of password checks (RATELIMIT_LOGIN), shared by every route.

    `credentials.check_password` spends one before each check, so whatever route or field a
    password comes in by (a login, HTTP Basic, `current_password`), it counts: no rule about
    which requests might carry one.
    """

    def __init__(self, limiter: Limiter, limits: str) -> None:
        self.limiter = limiter
        self.limits = parse_many(limits)

    def spend(self) -> None:
        """Spend one check of the client's budget; `TooManyRequests` when none is left.

        Outside a request (an operator's command) there is no client and nothing to spend.
        """
        if not has_request_context():
            return
        view = current_app.view_functions.get(request.endpoint)  # type: ignore[arg-type]
        declared = declared_access(view)
        if declared is None or not declared.checks_password:
            # Its OpenAPI operation would not list the 429 this can answer.
            raise RuntimeError(f"{request.endpoint} checks a password but does not declare it")
        if not self.limiter.enabled:
            return
        address = client_address()
        for limit in self.limits:
            if not self.limiter.limiter.hit(limit, "login", address):
                reset_at, _ = self.limiter.limiter.get_window_stats(limit, "login", address)
                raise _too_many(str(limit), reset_at)


def _too_many(limit: str, reset_at: float) -> TooManyRequests:
    """The 429 of a spent per-address budget, recorded as a security event."""
    events.warn("rate_limited", limit=limit, path=printable(request.path))
    return TooManyRequests(
        f"Too many requests from this address ({limit}); try again later.",
        retry_after=max(1, math.ceil(reset_at - time.time())),
    )


def client_address() -> str:
    """The address the per-address budgets count: the client's own, or its /64 for IPv6.

    An IPv6 client usually holds a whole /64 and can pick any address in it: keyed one by
    one, each would be a new budget.
    """
    address = request.remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
