"""The users service: registration, look-up, listing, changes, deletion and credential checks."""

from __future__ import annotations

import logging
from typing import Any

from app.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from app.helpers import lockout, sessions
from app.helpers.dynamo import (
    ConditionFailed,
    DynamoInterface,
    TableSpec,
    TransactionCanceled,
    Write,
)
from app.helpers.passwords import PasswordHasher, policy_problem
from app.models import (
    SessionItem,
    SessionPublic,
    UserCreate,
    UserItem,
    UserPublic,
    UserSelf,
    UserUpdate,
    canonical_username,
    decode_username,
    encode_username,
    iso,
)

log = logging.getLogger(__name__)

USERS = "users"
EMAILS = "user_emails"
TABLES = (TableSpec(USERS, hash_key="username"), TableSpec(EMAILS, hash_key="email"))

_EMAIL_TAKEN = "That email address is already registered."
_RACE = "A concurrent request changed this user; retry."

DEMO_USERS = (
    UserCreate(
        username="johndoe",
        email="johndoe@example.com",
        password="JohnPass123",  # noqa: S106 - the original tutorial's published demo account
        first_name="John",
        last_name="Doe",
        account_type="admin_user",
    ),
    UserCreate(
        username="janedoe",
        email="janedoe@example.com",
        password="JanePass123",  # noqa: S106 - the original tutorial's published demo account
        first_name="Jane",
        last_name="Doe",
        account_type="standard_user",
    ),
)


def create_user(
    store: DynamoInterface,
    *,
    passwords: PasswordHasher,
    data: UserCreate,
    actor: UserItem | None,
    now: float,
) -> UserItem:
    """Register a user; only an admin may create another admin."""
    if data.account_type == "admin_user" and not (actor and actor.is_admin):
        raise Forbidden("Only an admin can create an admin account.")
    _check_policy(data.password, username=data.username, email=data.email)
    return _insert(store, passwords=passwords, data=data, now=now)


def seed_demo_users(store: DynamoInterface, *, passwords: PasswordHasher, now: float) -> None:
    """Add the tutorial's two demo users, never overwriting an existing user."""
    for data in DEMO_USERS:
        try:
            _insert(store, passwords=passwords, data=data, now=now)
            log.info("seeded demo user %s", data.username)
        except Conflict:
            log.info("demo user %s already exists; left as it is", data.username)


def _insert(
    store: DynamoInterface, *, passwords: PasswordHasher, data: UserCreate, now: float
) -> UserItem:
    stamp = iso(now)
    user = UserItem(
        **data.model_dump(exclude={"password"}),
        password_hash=passwords.hash(data.password),
        created_at=stamp,
        updated_at=stamp,
        session_key=sessions.new_key(),
    )
    try:
        store.transact_write(
            [
                Write("Put", USERS, user.model_dump(), condition="attribute_not_exists(username)"),
                Write(
                    "Put",
                    EMAILS,
                    {"email": user.email, "username": user.username},
                    condition="attribute_not_exists(email)",
                ),
            ]
        )
    except TransactionCanceled as exc:
        username_taken = f"The username {user.username!r} is already taken."
        raise _conflict(exc, {0: username_taken, 1: _EMAIL_TAKEN}) from exc
    return user


def get_user(store: DynamoInterface, *, username: str) -> UserItem:
    """The user called `username` (any case), or `NotFound`."""
    key = canonical_username(username)
    item = store.get(USERS, {"username": key}) if key else None
    if item is None:
        raise NotFound(f"There is no user {username!r}.")
    return UserItem.model_validate(item)


def view_of(user: UserItem, *, actor: UserItem | None) -> UserSelf | UserPublic:
    """What `actor` may see of `user`: everything but the hash for themself or an admin."""
    if actor is not None and (actor.is_admin or actor.username == user.username):
        return user.self_view()
    return user.public()


def list_users(
    store: DynamoInterface, *, limit: int, cursor: str | None = None
) -> tuple[list[UserPublic], str | None]:
    """One page of users' public views (a single Scan) and the next page's cursor, if any."""
    start = {"username": decode_cursor(cursor)} if cursor else None
    # Read only the public fields: less for DynamoDB to send, and no hash leaves the table.
    items, last = store.scan_page(
        USERS, limit=limit, start_key=start, attributes=tuple(UserPublic.model_fields)
    )
    next_cursor = encode_cursor(last["username"]) if last else None
    return [UserPublic.model_validate(item) for item in items], next_cursor


def update_user(
    store: DynamoInterface,
    *,
    passwords: PasswordHasher,
    actor: UserItem,
    username: str,
    changes: UserUpdate,
    now: float,
    current_session: SessionItem | None = None,
) -> UserItem:
    """Change a user's fields; the user themself or an admin, account type by an admin only.

    A new password needs the current one (unless an admin changes another user's) and ends
    every other session of the user.
    """
    target = _authorize(actor, username)
    fields: dict[str, Any] = changes.changes()
    if "account_type" in fields and not actor.is_admin:
        raise Forbidden("Only an admin can change an account type.")
    current = get_user(store, username=target)
    if not fields:
        return current
    keep: SessionItem | None = None
    if "password" in fields:
        password = fields.pop("password")
        if actor.username == target or not actor.is_admin:
            _prove_password(store, passwords, target, changes.current_password, now)
        _check_policy(password, username=target, email=fields.get("email", current.email))
        fields["password_hash"] = passwords.hash(password)
        fields["session_key"] = sessions.new_key()
        if current_session is not None and current_session.username == target:
            keep = current_session
    fields["updated_at"] = iso(now)
    user = _write_changes(store, current, fields, keep=keep)
    if "session_key" in fields:
        # Other sessions already fail (their key is not the user's); this tidies the table.
        sessions.purge(store, username=target, keep=keep.token_hash if keep else None)
    return user


def _write_changes(
    store: DynamoInterface, current: UserItem, fields: dict[str, Any], *, keep: SessionItem | None
) -> UserItem:
    """Write `fields` to the user; move the email claim and keep the caller's session with it."""
    names = {f"#{name}": name for name in fields}
    values = {f":{name}": value for name, value in fields.items()}
    update = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
    key = {"username": current.username}
    email_moves = fields.get("email", current.email) != current.email
    if not email_moves and keep is None:
        # Only the user item changes: one conditional update, nothing else to keep in step.
        try:
            item = store.update(
                USERS,
                key,
                update=update,
                condition="attribute_exists(username)",
                names=names,
                values=values,
            )
        except ConditionFailed as exc:
            raise NotFound(f"There is no user {current.username!r}.") from exc
        return UserItem.model_validate(item)
    # The user item, the email claims and the caller's session change together or not at
    # all, and only if the user is still as read.
    writes = [
        Write(
            "Update",
            USERS,
            key,
            update=update,
            condition="email = :email_was AND session_key = :key_was",
            names=names,
            values={**values, ":email_was": current.email, ":key_was": current.session_key},
        )
    ]
    if email_moves:
        writes += [
            Write(
                "Put",
                EMAILS,
                {"email": fields["email"], "username": current.username},
                condition="attribute_not_exists(email)",
            ),
            Write("Delete", EMAILS, {"email": current.email}),
        ]
    if keep is not None:
        writes.append(_adopt_key(keep, fields["session_key"]))
    try:
        store.transact_write(writes)
    except TransactionCanceled as exc:
        raise _conflict(exc, {1: _EMAIL_TAKEN} if email_moves else {}) from exc
    return current.model_copy(update=fields)


def delete_user(store: DynamoInterface, *, actor: UserItem, username: str) -> None:
    """Delete a user, release their email and end their sessions; themself or an admin."""
    target = _authorize(actor, username)
    current = get_user(store, username=target)
    try:
        store.transact_write(
            [
                Write(
                    "Delete",
                    USERS,
                    {"username": target},
                    condition="email = :email",
                    values={":email": current.email},
                ),
                Write(
                    "Delete",
                    EMAILS,
                    {"email": current.email},
                    condition="username = :username",
                    values={":username": target},
                ),
            ]
        )
    except TransactionCanceled as exc:
        raise Conflict(_RACE) from exc
    # Sessions already fail (their user is gone); this only tidies the table.
    sessions.purge(store, username=target)


def verify_credentials(
    store: DynamoInterface,
    *,
    passwords: PasswordHasher,
    username: str,
    password: str,
    now: float,
) -> UserItem:
    """The user whose credentials these are, or `Unauthorized` (same error, same time).

    Consecutive failures lock the account for a doubling time (`TooManyRequests`), whether
    or not the account exists, so the lockout tells nothing about which usernames exist.
    """
    key = canonical_username(username)
    if key is None:  # cannot exist: nothing to read, but the same bcrypt time
        passwords.check_nothing(password)
        raise Unauthorized()
    found = store.batch_get({USERS: {"username": key}, lockout.FAILURES: {"username": key}})
    failures = lockout.check(found[lockout.FAILURES], now=now)
    user = UserItem.model_validate(found[USERS]) if found[USERS] else None
    if user is None:
        passwords.check_nothing(password)
    if user is None or not passwords.check(password, user.password_hash):
        lockout.record_failure(store, username=key, now=now)
        raise Unauthorized()
    if failures:
        lockout.reset(store, username=key)
    if passwords.needs_rehash(user.password_hash):
        user = _rehash(store, passwords, user, password)
    return user


def _rehash(
    store: DynamoInterface, passwords: PasswordHasher, user: UserItem, password: str
) -> UserItem:
    """Store a hash at the configured cost, unless the password changed meanwhile."""
    new_hash = passwords.hash(password)
    try:
        store.update(
            USERS,
            {"username": user.username},
            update="SET password_hash = :new",
            condition="password_hash = :old",
            values={":new": new_hash, ":old": user.password_hash},
        )
    except ConditionFailed:
        return user
    return user.model_copy(update={"password_hash": new_hash})


def list_sessions(
    store: DynamoInterface,
    *,
    actor: UserItem,
    username: str,
    now: float,
    current_session: SessionItem | None = None,
) -> list[SessionPublic]:
    """A user's live sessions (no tokens); the user themself or an admin."""
    target = _authorize(actor, username, verb="see the sessions of")
    user = actor if actor.username == target else get_user(store, username=target)
    return [
        sessions.view(session, current=current_session)
        for session in sessions.of_user(store, username=target)
        if session.user_key == user.session_key and session.expires_at > now
    ]


def revoke_sessions(store: DynamoInterface, *, actor: UserItem, username: str) -> None:
    """End every session of a user at once ("log out everywhere"); themself or an admin."""
    target = _authorize(actor, username, verb="end the sessions of")
    try:
        store.update(
            USERS,
            {"username": target},
            update="SET session_key = :key",
            condition="attribute_exists(username)",
            values={":key": sessions.new_key()},
        )
    except ConditionFailed as exc:
        raise NotFound(f"There is no user {username!r}.") from exc
    sessions.purge(store, username=target)


def _prove_password(
    store: DynamoInterface,
    passwords: PasswordHasher,
    username: str,
    password: str | None,
    now: float,
) -> None:
    """Check the current password before a change, under the same lockout as a login."""
    if not password:
        raise _password_error("current_password", "is required to set a new password")
    try:
        verify_credentials(
            store, passwords=passwords, username=username, password=password, now=now
        )
    except Unauthorized as exc:
        raise _password_error("current_password", "is not the current password") from exc


def _check_policy(password: str, *, username: str, email: str) -> None:
    problem = policy_problem(password, username=username, email=email)
    if problem:
        raise _password_error("password", problem)


def _password_error(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"location": "json", "field": field, "detail": detail}])


def _adopt_key(session: SessionItem, key: str) -> Write:
    """Move the caller's own session to the user's new session key."""
    return Write(
        "Update",
        sessions.SESSIONS,
        {"token_hash": session.token_hash},
        update="SET user_key = :key",
        condition="attribute_exists(token_hash)",
        values={":key": key},
    )


def _authorize(actor: UserItem, username: str, *, verb: str = "change") -> str:
    """The canonical target username, if `actor` may act on it."""
    target = canonical_username(username)
    if target is None or (target != actor.username and not actor.is_admin):
        if actor.is_admin:
            raise NotFound(f"There is no user {username!r}.")
        raise Forbidden(f"You can only {verb} your own account.")
    return target


def _conflict(exc: TransactionCanceled, messages: dict[int, str]) -> Conflict:
    """Say which rule a cancelled transaction broke: `messages` maps a write to its rule."""
    for index, message in messages.items():
        if index < len(exc.reasons) and exc.reasons[index] == "ConditionalCheckFailed":
            return Conflict(message)
    return Conflict(_RACE)


def encode_cursor(username: str) -> str:
    """An opaque page cursor."""
    return encode_username(username)


def decode_cursor(cursor: str) -> str:
    """The username a cursor stands for; `BadRequest` when it is not one of ours."""
    username = decode_username(cursor)
    if username is None:
        raise BadRequest("The cursor is not valid; start again from the first page.")
    return username
