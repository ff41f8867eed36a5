"""The users API: list, register, read, change, delete, and who am I."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, url_for

from app.controllers.access import ADMIN, OPTIONAL, REQUIRED, Caller, access
from app.errors import BadRequest, Unauthorized
from app.helpers import users
from app.helpers.credentials import check_password
from app.helpers.state import current_state
from app.models import (
    CredentialsQuery,
    ListQuery,
    UserCreate,
    UserListing,
    UserPublic,
    UserSelf,
    UserUpdate,
    UserView,
)
from app.openapi import responses
from app.security import directory_budget, registration_budget

_HALF_QUERY = "Give both username and password in the query, or neither."
bp = APIBlueprint("users", __name__, url_prefix="/api", tag="Users")


@bp.get("/users")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(UserListing)
@bp.doc(
    responses=responses(400, 403, status=200, headers={"Link": 'The next page: <url>; rel="next"'})
)
@directory_budget
@access(OPTIONAL)
def list_users(query: ListQuery, caller: Caller | None) -> tuple:
    """List users, one page at a time; the Link header points at the next page.

    An admin also sees whether each account is disabled, finds the user registered with
    exactly an `email`, or lists the users whose username starts with `prefix`, in order.
    """
    actor = caller.user if caller else None
    if query.email is not None:
        return users.find_by_email(current_state(), email=query.email, actor=actor), 200, {}
    page, cursor = users.list_users(
        current_state(),
        limit=query.limit,
        cursor=query.cursor,
        actor=actor,
        directory=current_app.config["DIRECTORY"],
        prefix=query.prefix,
    )
    headers = {}
    if cursor:
        next_url = url_for(".list_users", limit=query.limit, cursor=cursor, prefix=query.prefix)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return page, 200, headers


@bp.post("/users")
@bp.input(UserCreate, arg_name="data")
@bp.output(UserSelf, status_code=201)
@bp.doc(responses=responses(403, 409, status=201, headers={"Location": "The new user's URL"}))
@registration_budget
@access(OPTIONAL)
def register(data: UserCreate, caller: Caller | None) -> tuple:
    """Register a user. Creating an admin takes an admin's credentials."""
    actor = caller.user if caller else None
    user = users.create_user(current_state(), data=data, actor=actor)
    return user.self_view(), 201, {"Location": url_for(".get_user", username=user.username)}


@bp.get("/users/<username>")
@bp.output(UserView)
@bp.doc(responses=responses(403, 404))
@directory_budget
@access(OPTIONAL)
def get_user(username: str, caller: Caller | None) -> UserSelf | UserPublic:
    """A user's public view; the user themself or an admin gets the full (self) view."""
    return users.read_user(
        current_state(),
        username=username,
        actor=caller.user if caller else None,
        directory=current_app.config["DIRECTORY"],
    )


@bp.patch("/users/<username>")
@bp.input(UserUpdate, arg_name="changes")
@bp.output(UserSelf)
@bp.doc(responses=responses(403, 404, 409))
@access(REQUIRED, password_fields=("current_password",))
def update_user(username: str, changes: UserUpdate, caller: Caller) -> UserSelf:
    """Change names, email or password (the user or an admin); type or `disabled` (an admin).

    Disabling an account ends its sessions at once; signing in then answers 403 (of type
    `tag:users-api,2026:account-disabled`) to the right password. An admin cannot disable
    their own account, nor the last admin who can act.

    A new password needs `current_password` (unless an admin changes another user's) and
    ends every other session of the user. A new email for one's own account needs
    `current_password` too, or a session that proved it within REAUTH_WINDOW (403 otherwise,
    of type `tag:users-api,2026:reauthentication-required`).
    """
    user = users.update_user(
        current_state(),
        actor=caller.user,
        username=username,
        changes=changes,
        current_session=caller.session,
        password_checked=caller.password_checked,
    )
    return user.self_view()


@bp.delete("/users/<username>")
@bp.doc(responses={204: "Deleted", **responses(403, 404, 409)})
@access(REQUIRED)
def delete_user(username: str, caller: Caller) -> tuple:
    """Delete a user, release their email and end their sessions (themself or an admin).

    Deleting one's own account needs HTTP Basic, or a session that proved the password
    within REAUTH_WINDOW (403 otherwise, of type `tag:users-api,2026:reauthentication-required`).
    """
    users.delete_user(
        current_state(),
        actor=caller.user,
        username=username,
        current_session=caller.session,
        password_checked=caller.password_checked,
    )
    return "", 204


@bp.delete("/users/<username>/lockout")
@bp.doc(responses={204: "Unlocked", **responses(404)})
@access(ADMIN)
def unlock(username: str, caller: Caller) -> tuple:
    """Forget a user's failed logins: a locked account can log in again at once (an admin)."""
    users.unlock_user(current_state(), actor=caller.user, username=username)
    return "", 204


@bp.get("/user")
@bp.input(CredentialsQuery, location="query", arg_name="query")
@bp.output(UserSelf)
@bp.doc(responses=responses(400))
@access(OPTIONAL, password_fields=("password",))
def check_credentials(query: CredentialsQuery, caller: Caller | None) -> UserSelf:
    """Who am I: the caller's own view, for a bearer token or HTTP Basic credentials.

    The original tutorial's `?username=&password=` form still works outside production.
    """
    if query.username is None and query.password is None:
        if caller is None:
            raise Unauthorized()
        return caller.user.self_view()
    if not current_app.config["ALLOW_QUERY_CREDENTIALS"]:
        raise BadRequest("Passwords in the query string are refused; use HTTP Basic or a token.")
    if query.username is None or query.password is None:
        missing, given = (
            ("username", "password") if query.username is None else ("password", "username")
        )
        problem = [{"location": "query", "field": missing, "detail": f"is required with {given}"}]
        raise BadRequest(
            "Give both username and password in the query, or neither.", errors=problem
        )
    user = check_password(current_state(), username=query.username, password=query.password)
    return user.self_view()
