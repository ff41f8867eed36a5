"""The users service: registration, look-up, listing, changes, deletion and credential checks."""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from app.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from app.helpers.dynamo import (
    ConditionFailed,
    DynamoInterface,
    TableSpec,
    TransactionCanceled,
    Write,
)
from app.helpers.passwords import PasswordHasher
from app.models import (
    UserCreate,
    UserItem,
    UserPublic,
    UserSelf,
    UserUpdate,
    canonical_username,
    now_iso,
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
) -> UserItem:
    """Register a user; only an admin may create another admin."""
    if data.account_type == "admin_user" and not (actor and actor.is_admin):
        raise Forbidden("Only an admin can create an admin account.")
    return _insert(store, passwords=passwords, data=data)


def seed_demo_users(store: DynamoInterface, *, passwords: PasswordHasher) -> None:
    """Add the tutorial's two demo users, never overwriting an existing user."""
    for data in DEMO_USERS:
        try:
            _insert(store, passwords=passwords, data=data)
            log.info("seeded demo user %s", data.username)
        except Conflict:
            log.info("demo user %s already exists; left as it is", data.username)


def _insert(store: DynamoInterface, *, passwords: PasswordHasher, data: UserCreate) -> UserItem:
    stamp = now_iso()
    user = UserItem(
        **data.model_dump(exclude={"password"}),
        password_hash=passwords.hash(data.password),
        created_at=stamp,
        updated_at=stamp,
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


def list_users(
    store: DynamoInterface, *, limit: int, cursor: str | None = None
) -> tuple[list[UserItem], str | None]:
    """One page of users (a single Scan call) and the cursor of the next page, if any."""
    start = {"username": decode_cursor(cursor)} if cursor else None
    items, last = store.scan_page(USERS, limit=limit, start_key=start)
    next_cursor = encode_cursor(last["username"]) if last else None
    return [UserItem.model_validate(item) for item in items], next_cursor


def update_user(
    store: DynamoInterface,
    *,
    passwords: PasswordHasher,
    actor: UserItem,
    username: str,
    changes: UserUpdate,
) -> UserItem:
    """Change a user's fields; the user themself or an admin, account type by an admin only."""
    target = _authorize(actor, username)
    fields: dict[str, Any] = changes.changes()
    if "account_type" in fields and not actor.is_admin:
        raise Forbidden("Only an admin can change an account type.")
    current = get_user(store, username=target)
    if not fields:
        return current
    if "password" in fields:
        fields["password_hash"] = passwords.hash(fields.pop("password"))
    fields["updated_at"] = now_iso()
    names = {f"#{name}": name for name in fields}
    values = {f":{name}": value for name, value in fields.items()}
    update = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
    if fields.get("email", current.email) == current.email:
        # Only the user item changes: one conditional update, the email claim untouched.
        try:
            item = store.update(
                USERS,
                {"username": target},
                update=update,
                condition="attribute_exists(username)",
                names=names,
                values=values,
            )
        except ConditionFailed as exc:
            raise NotFound(f"There is no user {username!r}.") from exc
        return UserItem.model_validate(item)
    # A new email moves the uniqueness claim: the three writes happen together or not at all,
    # and only if the email read above is still the user's.
    try:
        store.transact_write(
            [
                Write(
                    "Update",
                    USERS,
                    {"username": target},
                    update=update,
                    condition="email = :email_was",
                    names=names,
                    values={**values, ":email_was": current.email},
                ),
                Write(
                    "Put",
                    EMAILS,
                    {"email": fields["email"], "username": target},
                    condition="attribute_not_exists(email)",
                ),
                Write("Delete", EMAILS, {"email": current.email}),
            ]
        )
    except TransactionCanceled as exc:
        raise _conflict(exc, {1: _EMAIL_TAKEN}) from exc
    return current.model_copy(update=fields)


def delete_user(store: DynamoInterface, *, actor: UserItem, username: str) -> None:
    """Delete a user and release their email; the user themself or an admin."""
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


def verify_credentials(
    store: DynamoInterface, *, passwords: PasswordHasher, username: str, password: str
) -> UserItem:
    """The user whose credentials these are, or `Unauthorized` (same error, same time, always)."""
    key = canonical_username(username)
    item = store.get(USERS, {"username": key}) if key else None
    if item is None:
        passwords.check_nothing(password)
        raise Unauthorized()
    user = UserItem.model_validate(item)
    if not passwords.check(password, user.password_hash):
        raise Unauthorized()
    return user


def _authorize(actor: UserItem, username: str) -> str:
    """The canonical target username, if `actor` may change it."""
    target = canonical_username(username)
    if target is None or (target != actor.username and not actor.is_admin):
        if actor.is_admin:
            raise NotFound(f"There is no user {username!r}.")
        raise Forbidden("You can only change your own account.")
    return target


def _conflict(exc: TransactionCanceled, messages: dict[int, str]) -> Conflict:
    """Say which rule a cancelled transaction broke: `messages` maps a write to its rule."""
    for index, message in messages.items():
        if index < len(exc.reasons) and exc.reasons[index] == "ConditionalCheckFailed":
            return Conflict(message)
    return Conflict(_RACE)


def encode_cursor(username: str) -> str:
    """An opaque page cursor."""
    return base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The username a cursor stands for; `BadRequest` when it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        username = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid; start again from the first page.") from exc
    if canonical_username(username) != username:
        raise BadRequest("The cursor is not valid; start again from the first page.")
    return username


def view_of(user: UserItem, *, actor: UserItem | None) -> UserSelf | UserPublic:
    """What `actor` may see of `user`: everything but the hash for themself or an admin."""
    if actor is not None and (actor.is_admin or actor.username == user.username):
        return user.self_view()
    return user.public()
