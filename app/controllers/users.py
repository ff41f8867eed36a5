"""The users API: list, register, read, change, delete, and the original credential check."""

from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, url_for

from app.controllers.common import (
    current_session,
    current_user,
    now,
    passwords,
    store,
)
from app.errors import BadRequest
from app.helpers import users
from app.models import (
    CredentialsQuery,
    ListQuery,
    UserCreate,
    UserPublic,
    UserSelf,
    UserUpdate,
    UserView,
)
from app.openapi import SIGNED_IN, SIGNED_IN_OPTIONAL, responses

bp = APIBlueprint("users", __name__, url_prefix="/api", tag="Users")


@bp.get("/users")
@bp.input(ListQuery, location="query", arg_name="query")
@bp.output(list[UserPublic])
@bp.doc(responses=responses(400, status=200, headers={"Link": 'The next page: <url>; rel="next"'}))
def list_users(query: ListQuery) -> tuple:
    """List users, one page at a time; the Link header points at the next page."""
    page, cursor = users.list_users(store(), limit=query.limit, cursor=query.cursor)
    headers = {}
    if cursor:
        next_url = url_for(".list_users", limit=query.limit, cursor=cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return page, 200, headers


@bp.post("/users")
@bp.input(UserCreate, arg_name="data")
@bp.output(UserSelf, status_code=201)
@bp.doc(
    security=SIGNED_IN_OPTIONAL,
    responses=responses(403, 409, 429, status=201, headers={"Location": "The new user's URL"}),
)
def register(data: UserCreate) -> tuple:
    """Register a user. Creating an admin takes an admin's credentials."""
    actor = current_user(required=False)
    user = users.create_user(store(), passwords=passwords(), data=data, actor=actor, now=now())
    return user.self_view(), 201, {"Location": url_for(".get_user", username=user.username)}


@bp.get("/users/<username>")
@bp.output(UserView)
@bp.doc(security=SIGNED_IN_OPTIONAL, responses=responses(404))
def get_user(username: str) -> UserSelf | UserPublic:
    """A user's public view; the user themself or an admin gets the full (self) view."""
    actor = current_user(required=False)
    return users.view_of(users.get_user(store(), username=username), actor=actor)


@bp.patch("/users/<username>")
@bp.input(UserUpdate, arg_name="changes")
@bp.output(UserSelf)
@bp.doc(security=SIGNED_IN, responses=responses(403, 404, 409))
def update_user(username: str, changes: UserUpdate) -> UserSelf:
    """Change names, email or password (the user or an admin); account type (an admin).

    A new password needs `current_password` (unless an admin changes another user's) and
    ends every other session of the user.
    """
    actor = current_user(required=True)
    user = users.update_user(
        store(),
        passwords=passwords(),
        actor=actor,
        username=username,
        changes=changes,
        now=now(),
        current_session=current_session(),
    )
    return user.self_view()


@bp.delete("/users/<username>")
@bp.doc(security=SIGNED_IN, responses={204: "Deleted", **responses(403, 404, 409)})
def delete_user(username: str) -> tuple:
    """Delete a user, release their email and end their sessions (themself or an admin)."""
    users.delete_user(store(), actor=current_user(required=True), username=username)
    return "", 204


@bp.get("/user")
@bp.input(CredentialsQuery, location="query", arg_name="query")
@bp.output(UserSelf)
@bp.doc(security=SIGNED_IN_OPTIONAL, responses=responses(400, 429))
def check_credentials(query: CredentialsQuery) -> UserSelf:
    """Who am I: the caller's own view, for a bearer token or HTTP Basic credentials.

    The original tutorial's `?username=&password=` form still works outside production.
    """
    if query.username is None and query.password is None:
        user = current_user(required=True)
    elif not current_app.config["ALLOW_QUERY_CREDENTIALS"]:
        raise BadRequest("Passwords in the query string are refused; use HTTP Basic or a token.")
    else:
        user = users.verify_credentials(
            store(),
            passwords=passwords(),
            username=query.username or "",
            password=query.password or "",
            now=now(),
        )
    return user.self_view()
