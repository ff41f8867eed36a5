"""Sessions: log in for a token, see and end sessions."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import g, request, url_for

from app.controllers.access import BEARER_ONLY, LOGIN, REQUIRED, Caller, access
from app.helpers import sessions
from app.helpers.state import current_state
from app.models import Client, Credentials, LoginResult, Reauthentication, SessionPublic
from app.openapi import responses

bp = APIBlueprint("sessions", __name__, url_prefix="/api", tag="Sessions")


@bp.post("/sessions")
@bp.input(Credentials, arg_name="credentials")
@bp.output(LoginResult, status_code=201)
@bp.doc(responses=responses(status=201, headers={"Location": "The session's URL"}))
@access(LOGIN)
def login(credentials: Credentials) -> tuple:
    """Log in: a new bearer token for every login, shown once."""
    client = Client(address=request.remote_addr or "", user_agent=request.user_agent.string)
    result = sessions.login(current_state(), credentials=credentials, client=client)
    g.username = result.user.username
    return result, 201, {"Location": url_for(".get_current_session")}


@bp.get("/sessions/current")
@bp.output(SessionPublic)
@access(BEARER_ONLY)
def get_current_session(caller: Caller) -> SessionPublic:
    """The session of the token this request carries: when it began, when it expires."""
    session = caller.bearer_session()
    return sessions.view(session, current=session)


@bp.post("/sessions/current/reauthentication")
@bp.input(Reauthentication, arg_name="proof")
@bp.output(SessionPublic)
@access(BEARER_ONLY, password_fields=("password",))
def reauthenticate(proof: Reauthentication, caller: Caller) -> SessionPublic:
    """Prove the password again in this session, for changes that need a recent proof.

    Changing one's own email and deleting one's own account need the password proven within
    REAUTH_WINDOW (10 minutes by default). A wrong password is a 422 on `password`: the
    session stays valid.
    """
    return sessions.reauthenticate(
        current_state(), session=caller.bearer_session(), password=proof.password
    )


@bp.delete("/sessions/current")
@bp.doc(responses={204: "Logged out"})
@access(BEARER_ONLY)
def logout(caller: Caller) -> tuple:
    """Log out: the token fails from now on."""
    sessions.logout(current_state(), session=caller.bearer_session())
    return "", 204


@bp.get("/users/<username>/sessions")
@bp.output(list[SessionPublic])
@bp.doc(responses=responses(403, 404))
@access(REQUIRED)
def list_sessions(username: str, caller: Caller) -> list[SessionPublic]:
    """A user's live sessions, newest first (the user themself or an admin)."""
    return sessions.list_sessions(
        current_state(), actor=caller.user, username=username, current=caller.session
    )


@bp.delete("/users/<username>/sessions")
@bp.doc(responses={204: "Every session ended", **responses(403, 404)})
@access(REQUIRED)
def revoke_sessions(username: str, caller: Caller) -> tuple:
    """Log out everywhere: end every session of the user at once (themself or an admin)."""
    sessions.revoke_all(current_state(), actor=caller.user, username=username)
    return "", 204


@bp.delete("/users/<username>/sessions/<session_id>")
@bp.doc(responses={204: "The session ended", **responses(403, 404)})
@access(REQUIRED)
def end_session(username: str, session_id: str, caller: Caller) -> tuple:
    """End one session of a user, by its id (themself or an admin): its token fails at once."""
    sessions.end_session(
        current_state(), actor=caller.user, username=username, session_id=session_id
    )
    return "", 204
