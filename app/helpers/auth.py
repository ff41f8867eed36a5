"""Logging in and out, and who a bearer token belongs to."""

from __future__ import annotations

from app.errors import Unauthorized
from app.helpers import sessions, users
from app.helpers.dynamo import DynamoInterface
from app.helpers.passwords import PasswordHasher
from app.helpers.sessions import SessionPolicy
from app.models import Credentials, LoginResult, SessionItem, UserItem, iso


def login(
    store: DynamoInterface,
    *,
    passwords: PasswordHasher,
    credentials: Credentials,
    policy: SessionPolicy,
    now: float,
) -> LoginResult:
    """Check the credentials (under the lockout) and open a new session."""
    user = users.verify_credentials(
        store,
        passwords=passwords,
        username=credentials.username,
        password=credentials.password,
        now=now,
    )
    token, session = sessions.start(
        store, username=user.username, user_key=user.session_key, policy=policy, now=now
    )
    return LoginResult(token=token, expires_at=iso(session.expires_at), user=user.self_view())


def authenticate_token(
    store: DynamoInterface, *, token: str, policy: SessionPolicy, now: float
) -> tuple[UserItem, SessionItem]:
    """The user and session a bearer token stands for; one `Unauthorized` for every failure.

    The user is read on every request, so a demotion or deletion counts at once, and a
    session whose key is not the user's current one (after "log out everywhere" or a
    password change) is dead.
    """
    owner = sessions.owner_of(token)
    # One round trip for both: the token names its user.
    found = store.batch_get(
        {sessions.SESSIONS: sessions.key_of(token), users.USERS: {"username": owner}}
    )
    session = sessions.alive(found[sessions.SESSIONS], owner=owner, now=now)
    user = UserItem.model_validate(found[users.USERS]) if found[users.USERS] else None
    if user is None or user.session_key != session.user_key:
        raise Unauthorized()
    return user, sessions.touch(store, session=session, policy=policy, now=now)


def logout(store: DynamoInterface, *, session: SessionItem) -> None:
    """End the session the request was made with."""
    sessions.end(store, session=session)
