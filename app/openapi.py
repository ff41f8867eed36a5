"""What the decorators cannot say in the OpenAPI document: problem bodies, headers, security."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask

from app.errors import PROBLEM_MIMETYPE

DESCRIPTION = """\
User accounts over Amazon DynamoDB: registration, credential checks and administration.

Log in with `POST /api/sessions` and send the token as `Authorization: Bearer <token>`;
HTTP Basic works on the same routes. Every error is an RFC 9457 problem
(`application/problem+json`). Usernames and emails are case-insensitive. Passwords are
hashed with bcrypt and never returned or logged; tokens are stored only as SHA-256 hashes.
"""

BASIC = "basicAuth"
BEARER = "bearerAuth"
SECURITY_SCHEMES = {
    BASIC: {
        "type": "http",
        "scheme": "basic",
        "description": "A user's username and password (checked on every request).",
    },
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token from `POST /api/sessions`.",
    },
}
SIGNED_IN: list[dict[str, list[str]]] = [{BEARER: []}, {BASIC: []}]
# `{}` in the list makes credentials optional: anonymous callers get less.
SIGNED_IN_OPTIONAL: list[dict[str, list[str]]] = [*SIGNED_IN, {}]
BEARER_ONLY: list[dict[str, list[str]]] = [{BEARER: []}]
ANONYMOUS: list[dict[str, list[str]]] = []

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, the body of every error.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI for the kind of problem"},
        "title": {"type": "string", "description": "The HTTP status phrase"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What went wrong, for a person"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "description": "One entry per invalid field (422 only)",
            "items": {
                "type": "object",
                "required": ["location", "field", "detail"],
                "properties": {
                    "location": {"type": "string", "enum": ["json", "query", "path"]},
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                },
            },
        },
    },
}

_ERROR_HEADERS: dict[int, dict[str, str]] = {
    401: {"WWW-Authenticate": "The authentication scheme to use"},
    429: {"Retry-After": "Seconds to wait before trying again"},
    503: {"Retry-After": "Seconds to wait before trying again"},
}


def responses(
    *errors: int, status: int | None = None, headers: Mapping[str, str] | None = None
) -> dict[int, Any]:
    """`@doc(responses=...)`: the error statuses a route can answer, and its success headers."""
    documented: dict[int, Any] = {code: HTTPStatus(code).phrase for code in errors}
    if status is not None and headers:
        # Success headers such as Link are sent only when they apply.
        documented[status] = {"headers": _headers(headers, required=False)}
    return documented


def _headers(headers: Mapping[str, str], *, required: bool = True) -> dict[str, Any]:
    return {
        name: {"description": description, "required": required, "schema": {"type": "string"}}
        for name, description in headers.items()
    }


def init_app(app: APIFlask) -> None:
    """Configure the document and finish it once it is generated."""
    app.config["SECURITY_SCHEMES"] = SECURITY_SCHEMES
    app.config["DESCRIPTION"] = DESCRIPTION

    @app.spec_processor
    def finish(spec: dict[str, Any]) -> dict[str, Any]:
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPError", "ValidationError"):
            schemas.pop(unused, None)
        schemas["Problem"] = PROBLEM_SCHEMA
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                _finish_operation(operation)
        return spec


def _finish_operation(operation: dict[str, Any]) -> None:
    if "requestBody" in operation:
        operation["requestBody"]["required"] = True
    statuses = operation.setdefault("responses", {})
    # Every route reads DynamoDB; every JSON body can be malformed, too big or not JSON;
    # credentials can be wrong, and a password check can meet the account lockout.
    schemes = {name for option in operation.get("security", []) for name in option}
    extra = [503] + ([400, 413, 415, 422] if "requestBody" in operation else [])
    extra += ([401] if schemes else []) + ([429] if BASIC in schemes else [])
    for code in extra:
        statuses.setdefault(str(code), {"description": HTTPStatus(code).phrase})
    for code, response in statuses.items():
        if int(code) < 400:
            continue
        response["content"] = {
            PROBLEM_MIMETYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        if int(code) in _ERROR_HEADERS:
            response["headers"] = _headers(_ERROR_HEADERS[int(code)])
