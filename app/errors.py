"""The error hierarchy and the one response shape for every failure (RFC 9457 problem details)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify, request

PROBLEM_MIMETYPE = "application/problem+json"
# What a 401 invites when nothing more precise was set (routes set their own challenge).
DEFAULT_CHALLENGE = 'Basic realm="users-api", Bearer realm="users-api"'
log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error the service raises on purpose; `status` picks the HTTP status."""

    status = 500
    detail = "The server failed to handle the request."
    # RFC 9457: "about:blank" means the status says it all; a failure a client must tell
    # apart from others of its status (and act on) has its own type and title.
    type = "about:blank"
    title: str | None = None  # the status phrase for "about:blank"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.headers = dict(headers or {})
        self.errors = errors


def problem_types() -> list[type[AppError]]:
    """The errors with a problem type of their own (not about:blank), in declaration order."""
    found: list[type[AppError]] = []
    pending: list[type[AppError]] = [AppError]
    while pending:
        kind = pending.pop(0)
        if kind.type != "about:blank" and kind not in found:
            found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


class BadRequest(AppError):
    """The request cannot be read (malformed JSON, a bad cursor)."""

    status = 400
    detail = "The request could not be understood."


class Unauthorized(AppError):
    """Missing or wrong credentials; the same body whatever the reason."""

    status = 401
    detail = "Valid credentials are required."


class Forbidden(AppError):
    """Authenticated, but not allowed to do this."""

    status = 403
    detail = "You are not allowed to do this."


class ReauthenticationRequired(Forbidden):
    """A sensitive change needs the password proven again (REAUTH_WINDOW)."""

    type = "tag:users-api,2026:reauthentication-required"
    title = "Reauthentication required"
    detail = (
        "This change needs your password: prove it again with "
        "POST /api/sessions/current/reauthentication, then retry."
    )


class SecondFactorRequired(Forbidden):
    """An admin action in a session without a second factor, under REQUIRE_ADMIN_MFA."""

    type = "tag:users-api,2026:second-factor-required"
    title = "Second factor required"
    detail = (
        "Admin actions need a session signed in with a second factor: set up an "
        "authenticator app in My account (POST /api/users/<username>/totp), then sign in again."
    )


class AccountDisabled(Forbidden):
    """The right password for an account an admin has disabled."""

    type = "tag:users-api,2026:account-disabled"
    title = "Account disabled"
    detail = "This account is disabled; ask an administrator to enable it."


class EmailNotVerified(Forbidden):
    """The right password, but REQUIRE_VERIFIED_EMAIL is on and the email is not verified."""

    type = "tag:users-api,2026:email-not-verified"
    title = "Email not verified"
    detail = (
        "Verify your email address first: open the link we mailed you, or ask for a new one "
        "with POST /api/email-verifications."
    )


class InvalidToken(BadRequest):
    """A mailed link's token that is unknown, used, expired or no longer for this account."""

    type = "tag:users-api,2026:invalid-token"
    title = "Invalid or expired link"
    detail = (
        "This link is not valid: it was used already, has expired, or was replaced."
        " Ask for a new one."
    )


class NotFound(AppError):
    """The resource does not exist."""

    status = 404
    detail = "The resource does not exist."


class Conflict(AppError):
    """The change collides with the current state (a taken username or email, a race)."""

    status = 409
    detail = "The request conflicts with the current state."


class UnsupportedMediaType(AppError):
    """The body is not JSON."""

    status = 415
    detail = "The request body must be JSON (Content-Type: application/json)."


class ValidationFailed(AppError):
    """One or more fields are invalid; `errors` names them."""

    status = 422
    detail = "The request has invalid fields."


class TooManyRequests(AppError):
    """Too many attempts: wait `retry_after` seconds."""

    status = 429
    detail = "Too many attempts; try again later."

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    """A dependency (DynamoDB) cannot serve now; the client should retry later."""

    status = 503
    detail = "The database is unavailable; try again shortly."
    retry_after = 1

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)})


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[dict[str, str]] | None = None,
    problem_type: str = AppError.type,
    title: str | None = None,
) -> Response:
    """Build an `application/problem+json` response."""
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_MIMETYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = DEFAULT_CHALLENGE
    return response


def _field_errors(detail: Mapping[str, Mapping[str, list[str]]]) -> list[dict[str, str]]:
    """Flatten APIFlask's {location: {field: [messages]}} into a list of field failures."""
    return [
        {"location": location, "field": field, "detail": message.removeprefix("Value error, ")}
        for location, fields in detail.items()
        for field, messages in fields.items()
        for message in messages
    ]


def init_app(app: APIFlask) -> None:
    """Route every failure, ours, APIFlask's and Werkzeug's, to one problem-details shape."""

    @app.errorhandler(AppError)
    def handle_app_error(error: AppError) -> Response:
        # A 503 was logged where it arose (DynamoDB's answer); any other 5xx is a bug.
        if error.status >= 500 and not isinstance(error, ServiceUnavailable):
            log.error("%s: %s", type(error).__name__, error.detail, exc_info=error.__cause__)
        return problem(
            error.status,
            error.detail,
            headers=error.headers,
            errors=error.errors,
            problem_type=error.type,
            title=error.title,
        )

    @app.error_processor
    def handle_http_error(error: HTTPError) -> Response:
        if error.status_code == 422 and isinstance(error.detail, Mapping):
            return problem(422, ValidationFailed.detail, errors=_field_errors(error.detail))
        headers = dict(error.headers or {})
        description = _description(error.status_code)
        return problem(error.status_code, description, headers=headers)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, AppError.detail)


def _description(status: int) -> str:
    """A one-line human explanation of a framework-raised status."""
    messages = {
        400: "The request could not be understood.",
        404: "No resource at this URL.",
        405: "This method is not allowed on this URL; see the Allow header.",
        413: "The request body is too large.",
        415: UnsupportedMediaType.detail,
    }
    return messages.get(status, HTTPStatus(status).description)
