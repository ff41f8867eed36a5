"""Sessions: log in for a token, see and end sessions."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import g, url_for

from app.controllers.common import (
    current_session,
    current_user,
    now,
    passwords,
    require_session,
    session_policy,
    store,
)
from app.helpers import auth, sessions, users
from app.models import Credentials, LoginResult, SessionPublic
from app.openapi import ANONYMOUS, BEARER_ONLY, SIGNED_IN, responses

bp = APIBlueprint("sessions", __name__, url_prefix="/api", tag="Sessions")


@bp.post("/sessions")
@bp.input(Credentials, arg_name="credentials")
@bp.output(LoginResult, status_code=201)
@bp.doc(
    security=ANONYMOUS,
    responses=responses(401, 429, status=201, headers={"Location": "The session's URL"}),
)
def login(credentials: Credentials) -> tuple:
    """Log in: a new bearer token for every login, shown once."""
    result = auth.login(
        store(),
        passwords=passwords(),
        credentials=credentials,
        policy=session_policy(),
        now=now(),
    )
    g.username = result.user.username
    return result, 201, {"Location": url_for(".get_current_session")}


@bp.get("/sessions/current")
@bp.output(SessionPublic)
@bp.doc(security=BEARER_ONLY)
def get_current_session() -> SessionPublic:
    """The session of the token this request carries: when it began, when it expires."""
    session = require_session()
    return sessions.view(session, current=session)


@bp.delete("/sessions/current")
@bp.doc(security=BEARER_ONLY, responses={204: "Logged out"})
def logout() -> tuple:
    """Log out: the token fails from now on."""
    auth.logout(store(), session=require_session())
    return "", 204


@bp.get("/users/<username>/sessions")
@bp.output(list[SessionPublic])
@bp.doc(security=SIGNED_IN, responses=responses(403, 404))
def list_sessions(username: str) -> list[SessionPublic]:
    """A user's live sessions, newest first (the user themself or an admin)."""
    actor = current_user(required=True)
    return users.list_sessions(
        store(), actor=actor, username=username, now=now(), current_session=current_session()
    )


@bp.delete("/users/<username>/sessions")
@bp.doc(security=SIGNED_IN, responses={204: "Every session ended", **responses(403, 404)})
def revoke_sessions(username: str) -> tuple:
    """Log out everywhere: end every session of the user at once (themself or an admin)."""
    users.revoke_sessions(store(), actor=current_user(required=True), username=username)
    return "", 204
