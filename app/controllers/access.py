"""Who may call a route, declared once per route, next to its path.

    @bp.patch("/users/<username>")
    @bp.input(UserUpdate, arg_name="changes")
    @bp.output(UserSelf)
    @access(REQUIRED, password_fields=("current_password",))
    def update_user(username: str, changes: UserUpdate, caller: Caller) -> UserSelf: ...

From that one declaration: the caller is resolved and passed to the view as `caller` (none
for anonymous routes); a 401 carries the challenge the route can answer; the OpenAPI document
gets the route's security and the 401/403/429 it can answer (app/openapi.py). Every
password check goes through `app.helpers.credentials.check_password`, which spends the
per-address login budget (app/security.py) and refuses to run on a route not declared to
check passwords (whose document would miss the 429): a forgotten declaration fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import wraps
from typing import Any, TypeVar

from flask import Request, g, request

from app.errors import Unauthorized
from app.helpers import sessions, users
from app.helpers.credentials import check_password
from app.helpers.state import current_state
from app.models import SessionItem, UserItem

BASIC = "basic"
BEARER = "bearer"
REALM = '"users-api"'
BEARER_CHALLENGE = f"Bearer realm={REALM}"
BASIC_OR_BEARER_CHALLENGE = f"Basic realm={REALM}, {BEARER_CHALLENGE}"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Access:
    """Which credentials a route reads, whether it needs them, and where passwords come in."""

    schemes: tuple[str, ...] = ()  # the Authorization schemes read: BEARER, BASIC
    required: bool = False  # without credentials: 401
    admin: bool = False  # a caller who is not an admin: 403
    login: bool = False  # the body is a username and a password: every request checks one
    # Fields of the JSON body or the query string that carry a password the route may check.
    password_fields: tuple[str, ...] = ()

    @property
    def checks_password(self) -> bool:
        """Whether some request to the route can check a password."""
        return self.login or BASIC in self.schemes or bool(self.password_fields)

    @property
    def statuses(self) -> set[int]:
        """The statuses the declaration itself can answer."""
        codes = {401} if self.schemes or self.login else set()
        codes |= {403} if self.admin else set()
        # A password check answers 429 (the budgets), and 403 for a disabled account.
        return codes | ({403, 429} if self.checks_password else set())

    def challenge(self, req: Request) -> str:
        """What a 401 invites the client to send: Basic too where it works.

        A bearer client (a browser front end) is offered Bearer only: a Basic challenge
        would make the browser open its own password dialog.
        """
        credentials = req.authorization
        sent_bearer = credentials is not None and credentials.type == BEARER
        if BASIC in self.schemes and not sent_bearer:
            return BASIC_OR_BEARER_CHALLENGE
        return BEARER_CHALLENGE


ANONYMOUS = Access()
OPTIONAL = Access(schemes=(BEARER, BASIC))
REQUIRED = Access(schemes=(BEARER, BASIC), required=True)
BEARER_ONLY = Access(schemes=(BEARER,), required=True)
ADMIN = Access(schemes=(BEARER, BASIC), required=True, admin=True)
LOGIN = Access(login=True)


@dataclass(frozen=True)
class Caller:
    """Who made the request: the user, and the session when they sent a bearer token."""

    user: UserItem
    session: SessionItem | None = None

    @property
    def password_checked(self) -> bool:
        """Whether the caller's password was checked in this request (HTTP Basic)."""
        return self.session is None

    def bearer_session(self) -> SessionItem:
        """The session of the request's token; a 401 when the caller sent no token."""
        if self.session is None:
            raise Unauthorized()
        return self.session


def access(declared: Access, *, password_fields: tuple[str, ...] = ()) -> Callable[[View], View]:
    """Declare who may call the route; the view gets `caller` unless it reads no credentials."""
    if password_fields:
        declared = replace(declared, password_fields=password_fields)

    def decorate(view: View) -> View:
        @wraps(view)
        def resolved(*args: Any, **kwargs: Any) -> Any:
            try:
                if declared.schemes:
                    kwargs["caller"] = _caller(declared)
                return view(*args, **kwargs)
            except Unauthorized as exc:
                exc.headers.setdefault("WWW-Authenticate", declared.challenge(request))
                raise

        resolved.access = declared  # type: ignore[attr-defined]
        return resolved  # type: ignore[return-value]

    return decorate


def declared_access(view: Callable[..., Any] | None) -> Access | None:
    """The access a view was declared with (None: not an API route, or no view)."""
    return getattr(view, "access", None)


def _caller(declared: Access) -> Caller | None:
    """The caller the request's credentials stand for; wrong credentials are always a 401."""
    credentials = request.authorization
    if credentials is None:
        if declared.required:
            raise Unauthorized()
        return None
    state = current_state()
    if credentials.type == BEARER and credentials.token and BEARER in declared.schemes:
        user, session = sessions.authenticate(state, token=credentials.token)
        caller = Caller(user, session)
    elif (
        credentials.type == BASIC
        and credentials.username
        and credentials.password
        and BASIC in declared.schemes
    ):
        user = check_password(state, username=credentials.username, password=credentials.password)
        caller = Caller(user)
    else:
        # Includes Basic where only a token works: refused before any password is checked.
        raise Unauthorized()
    if state.factors.withholds(caller.user, caller.session):
        # REQUIRE_ADMIN_MFA: until a second factor is proven, an admin's own account only.
        caller = Caller(caller.user.withholding_admin(), caller.session)
    if declared.admin:
        users.require_admin(caller.user, "This needs an admin account.")
    g.username = caller.user.username
    return caller
