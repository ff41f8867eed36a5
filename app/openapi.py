"""What the decorators cannot say in the OpenAPI document: problem bodies, headers, security."""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask
from pydantic import BaseModel
from werkzeug.routing import Rule

from app.controllers.access import BASIC, BEARER, Access, declared_access
from app.errors import PROBLEM_MIMETYPE, problem_types
from app.models import SecondFactorChallenge

DESCRIPTION = """\
User accounts over Amazon DynamoDB: registration, credential checks and administration.

Log in with `POST /api/sessions` and send the token as `Authorization: Bearer <token>`;
HTTP Basic works on the same routes. For an account with a second factor (an authenticator
app, a passkey), the login answers 202 with a challenge for `POST /api/sessions/mfa`; a
passkey also signs in alone (`POST /api/sessions/passkey-options`, then
`POST /api/sessions/passkey`). Every error is an RFC 9457 problem
(`application/problem+json`). Usernames and emails are case-insensitive. Passwords are
hashed with bcrypt and never returned or logged; tokens are stored only as SHA-256 hashes.
"""

# The OpenAPI names of the Authorization schemes a route's access declaration reads.
SCHEME_NAMES = {BEARER: "bearerAuth", BASIC: "basicAuth"}
SECURITY_SCHEMES = {
    SCHEME_NAMES[BASIC]: {
        "type": "http",
        "scheme": "basic",
        "description": "A user's username and password (checked on every request).",
    },
    SCHEME_NAMES[BEARER]: {
        "type": "http",
        "scheme": "bearer",
        "description": "A session token from `POST /api/sessions`.",
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, the body of every error.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": "A URI for the kind of problem: about:blank (the status says it all)"
            + "".join(
                f", or {kind.type} ({kind.status}: {kind.title})" for kind in problem_types()
            ),
        },
        "title": {
            "type": "string",
            "description": "The HTTP status phrase, or the title of the problem's type",
        },
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


# Schemas of bodies a route answers besides its declared output (a 202's).
_EXTRA_SCHEMAS: dict[str, type[BaseModel]] = {"SecondFactorChallenge": SecondFactorChallenge}


def second_step(description: str) -> dict[str, Any]:
    """`@doc(responses=...)` for a login's 202: a challenge for the second factor."""
    schema = {"$ref": "#/components/schemas/SecondFactorChallenge"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


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
        for name, model in _EXTRA_SCHEMAS.items():
            schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        paths = spec.get("paths", {})
        for rule in app.url_map.iter_rules():
            view = app.view_functions[rule.endpoint]
            declared = declared_access(view)
            operations = paths.get(openapi_path(rule))
            if declared is None or operations is None:
                continue
            for method in rule.methods or ():
                if method.lower() in operations:
                    operation = operations[method.lower()]
                    _declare_access(operation, declared)
                    # A per-address budget (app/security.py) other than the directory's,
                    # which only counts requests whose 429 the access declaration lists.
                    if set(getattr(view, "budgets", ())) - {"directory"}:
                        _document(operation, 429)
        for path in paths.values():
            for operation in path.values():
                _finish_operation(operation)
        return spec


def openapi_path(rule: Rule) -> str:
    """The document's path for a URL rule: `/api/users/<username>` → `/api/users/{username}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _declare_access(operation: dict[str, Any], declared: Access) -> None:
    """The route's security and the statuses its access declaration can answer."""
    security = [{SCHEME_NAMES[scheme]: []} for scheme in declared.schemes]
    if security and not declared.required:
        security.append({})  # credentials are optional: anonymous callers get less
    operation["security"] = security
    _document(operation, *sorted(declared.statuses))


def _document(operation: dict[str, Any], *codes: int) -> None:
    statuses = operation.setdefault("responses", {})
    for code in codes:
        statuses.setdefault(str(code), {"description": HTTPStatus(code).phrase})


def _finish_operation(operation: dict[str, Any]) -> None:
    if "requestBody" in operation:
        operation["requestBody"]["required"] = True
    # Every route reads DynamoDB; every JSON body can be malformed, too big or not JSON.
    _document(operation, 503, *([400, 413, 415, 422] if "requestBody" in operation else []))
    statuses = operation["responses"]
    for code, response in statuses.items():
        if int(code) < 400:
            continue
        response["content"] = {
            PROBLEM_MIMETYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        if int(code) in _ERROR_HEADERS:
            response["headers"] = _headers(_ERROR_HEADERS[int(code)])
