"""What every route needs: the app's dependencies, the caller's identity, a JSON body check."""

from __future__ import annotations

from flask import current_app, request

from app.errors import Unauthorized, UnsupportedMediaType
from app.helpers import users
from app.helpers.dynamo import DynamoInterface
from app.helpers.passwords import PasswordHasher
from app.models import UserItem


def store() -> DynamoInterface:
    """The app's DynamoDB store."""
    return current_app.extensions["dynamo"]


def passwords() -> PasswordHasher:
    """The app's password hasher."""
    return current_app.extensions["passwords"]


def current_user(*, required: bool) -> UserItem | None:
    """The user whose HTTP Basic credentials came with the request.

    None when there are none and they are optional; wrong credentials are always a 401,
    never silently ignored.
    """
    auth = request.authorization
    if auth is None:
        if required:
            raise Unauthorized()
        return None
    if auth.type != "basic" or auth.username is None or auth.password is None:
        raise Unauthorized()
    return users.verify_credentials(
        store(), passwords=passwords(), username=auth.username, password=auth.password
    )


def require_json_body() -> None:
    """Before a route that reads a JSON body: 415 for another type, 400/413 for a bad body."""
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", {})
    if not spec.get("body"):
        return
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType()
    # Parse now so that malformed JSON (400) and an oversized body (413) answer before
    # validation; Flask caches the result for the view.
    request.get_json()
