"""What every route needs: the app's dependencies, the caller's identity, a JSON body check."""

from __future__ import annotations

from flask import current_app, g, request

from app.errors import BEARER_CHALLENGE, Unauthorized, UnsupportedMediaType
from app.helpers import auth, users
from app.helpers.dynamo import DynamoInterface
from app.helpers.passwords import PasswordHasher
from app.helpers.sessions import SessionPolicy
from app.models import SessionItem, UserItem


def store() -> DynamoInterface:
    """The app's DynamoDB store."""
    return current_app.extensions["dynamo"]


def passwords() -> PasswordHasher:
    """The app's password hasher."""
    return current_app.extensions["passwords"]


def session_policy() -> SessionPolicy:
    """Session lifetimes from the settings."""
    return current_app.extensions["session_policy"]


def now() -> float:
    """The app's clock (seconds since the epoch); tests replace it."""
    return current_app.extensions["clock"]()


def current_user(*, required: bool) -> UserItem | None:
    """The user the request authenticates as: a bearer token, or HTTP Basic credentials.

    None when there are none and they are optional; wrong credentials are always a 401,
    never silently ignored.
    """
    credentials = request.authorization
    if credentials is None:
        if required:
            raise Unauthorized()
        return None
    if credentials.type == "bearer" and credentials.token:
        user, g.session = auth.authenticate_token(
            store(), token=credentials.token, policy=session_policy(), now=now()
        )
    elif credentials.type == "basic" and credentials.username and credentials.password:
        user = users.verify_credentials(
            store(),
            passwords=passwords(),
            username=credentials.username,
            password=credentials.password,
            now=now(),
        )
    else:
        raise Unauthorized()
    g.username = user.username
    return user


def current_session() -> SessionItem | None:
    """The session of the request's bearer token, once `current_user` has run."""
    return g.get("session")


def require_session() -> SessionItem:
    """The bearer session of the request; a 401 without one.

    HTTP Basic has no session: it is refused before any password check, so that these
    routes neither spend bcrypt time nor meet the lockout for credentials they cannot use.
    """
    credentials = request.authorization
    if credentials is None or credentials.type != "bearer":
        raise Unauthorized(headers={"WWW-Authenticate": BEARER_CHALLENGE})
    current_user(required=True)
    session = current_session()
    if session is None:
        raise Unauthorized()
    return session


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
