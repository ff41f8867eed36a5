"""The users table, the email claims that keep addresses unique, and the count of admins."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from app.helpers.dynamo import (
    ConditionFailed,
    DynamoInterface,
    Item,
    TableSpec,
    TransactionCanceled,
    Write,
)
from app.helpers.tables.conditional import (
    Changed,
    Claimed,
    LastAdmin,
    assignments,
    update_existing,
)
from app.models import UserItem, UserPublic

USERS = "users"
EMAILS = "user_emails"
# One item, {"name": "admins", "count": n}: every write that makes or unmakes an admin
# changes it in the same transaction, and none may take it below 1.
COUNTS = "user_counts"
SPECS = (
    TableSpec(USERS, hash_key="username"),
    TableSpec(EMAILS, hash_key="email"),
    TableSpec(COUNTS, hash_key="name"),
)
_ADMINS = {"name": "admins"}
# A page of the list reads only these: less for DynamoDB to send, and no hash leaves the table.
PUBLIC_FIELDS = tuple(UserPublic.model_fields)


def key(username: str) -> dict[str, str]:
    """The key of a user's item."""
    return {"username": username}


def get(store: DynamoInterface, username: str) -> UserItem | None:
    """The stored user, or None."""
    item = store.get(USERS, key(username))
    return UserItem.model_validate(item) if item else None


def owner_of_email(store: DynamoInterface, email: str) -> str | None:
    """The username that holds the claim on `email` (one read), or None."""
    claim = store.get(EMAILS, {"email": email})
    return str(claim["username"]) if claim else None


def insert(store: DynamoInterface, user: UserItem) -> None:
    """Store a new user and claim their email, both or neither; `Claimed` names the loser.

    An admin also counts one more admin (`Changed` if the count has not been started).
    """
    writes = [
        Write("Put", USERS, user.model_dump(), condition="attribute_not_exists(username)"),
        Write("Put", EMAILS, _claim(user.email, user.username), condition=_UNCLAIMED),
    ]
    if user.is_admin:
        writes.append(_count_admins(+1))
    try:
        store.transact_write(writes)
    except TransactionCanceled as exc:
        raise _claimed(exc, ("username", "email", None)) from exc


def admin_count(store: DynamoInterface) -> int | None:
    """How many admins there are (None: not counted yet)."""
    item = store.get(COUNTS, _ADMINS)
    return int(item["count"]) if item else None


def start_admin_count(store: DynamoInterface, count: int) -> None:
    """Start counting admins at `count`, unless another process started first."""
    # If another process started it first, its count stands: it was made the same way.
    with contextlib.suppress(ConditionFailed):
        store.put(
            COUNTS,
            {**_ADMINS, "count": count},
            condition="attribute_not_exists(#name)",
            names={"#name": "name"},
        )


def page(
    store: DynamoInterface, *, limit: int, after: str | None
) -> tuple[list[UserPublic], str | None]:
    """At most `limit` users' public fields (one Scan) and the username to continue after."""
    items, last = store.scan_page(
        USERS,
        limit=limit,
        start_key=key(after) if after else None,
        attributes=PUBLIC_FIELDS,
    )
    return [UserPublic.model_validate(item) for item in items], last["username"] if last else None


def all_items(store: DynamoInterface, *, page_size: int) -> Iterator[UserItem]:
    """Every stored user, whole, read a Scan page of `page_size` at a time as it is consumed."""
    start: Item | None = None
    while True:
        items, start = store.scan_page(USERS, limit=page_size, start_key=start)
        yield from (UserItem.model_validate(item) for item in items)
        if start is None:
            return


def update(store: DynamoInterface, current: UserItem, fields: dict[str, Any]) -> UserItem:
    """Write `fields` to the user as read; `Changed` when it is gone or its key changed.

    The session key tells this user from one deleted and registered again under the same
    name, and from the same user after a password change or "log out everywhere".
    """
    item = update_existing(
        store,
        USERS,
        key(current.username),
        fields,
        condition="session_key = :key_was",
        values={":key_was": current.session_key},
    )
    return UserItem.model_validate(item)


def update_together(
    store: DynamoInterface,
    current: UserItem,
    fields: dict[str, Any],
    *,
    also: list[Write],
    admins: int = 0,
) -> UserItem:
    """Write `fields` (moving the email claim if the email changes) and `also`, all or none.

    Only if the user is still as read (same email, same session key): `Changed` otherwise,
    `Claimed` when the new email is someone else's. `admins` (+1, -1) changes the count of
    admins with it: `LastAdmin` when that would leave none.
    """
    update, names, values = assignments(fields)
    writes = [
        Write(
            "Update",
            USERS,
            key(current.username),
            update=update,
            condition=(
                "email = :email_was AND session_key = :key_was AND account_type = :type_was"
            ),
            names=names,
            values={
                **values,
                ":email_was": current.email,
                ":key_was": current.session_key,
                ":type_was": current.account_type,
            },
        )
    ]
    # What each write claims, in order (None: nothing), for `_claimed` to read its failure.
    claims: list[str | None] = [None]
    new_email = fields.get("email", current.email)
    if new_email != current.email:
        writes += [
            Write("Put", EMAILS, _claim(new_email, current.username), condition=_UNCLAIMED),
            Write("Delete", EMAILS, {"email": current.email}),
        ]
        claims += ["email", None]
    writes += also
    claims += [None] * len(also)
    if admins:
        writes.append(_count_admins(admins))
        claims.append("admins" if admins < 0 else None)
    try:
        store.transact_write(writes)
    except TransactionCanceled as exc:
        raise _claimed(exc, tuple(claims)) from exc
    return current.model_copy(update=fields)


def delete(store: DynamoInterface, user: UserItem) -> None:
    """Delete a user and release their email, if both are still as read; `Changed` if not.

    An admin also counts one admin less: `LastAdmin` when they are the last.
    """
    writes = [
        Write(
            "Delete",
            USERS,
            key(user.username),
            condition="email = :email AND account_type = :type",
            values={":email": user.email, ":type": user.account_type},
        ),
        Write(
            "Delete",
            EMAILS,
            {"email": user.email},
            condition="username = :username",
            values={":username": user.username},
        ),
    ]
    if user.is_admin:
        writes.append(_count_admins(-1))
    try:
        store.transact_write(writes)
    except TransactionCanceled as exc:
        raise _claimed(exc, (None, None, "admins")) from exc


def replace_hash(store: DynamoInterface, username: str, *, old: str, new: str) -> bool:
    """Swap a password hash for a stronger one, unless it changed meanwhile (then False)."""
    fields, unchanged = {"password_hash": new}, "password_hash = :old"
    try:
        update_existing(
            store, USERS, key(username), fields, condition=unchanged, values={":old": old}
        )
    except Changed:
        return False
    return True


def set_session_key(store: DynamoInterface, username: str, session_key: str) -> None:
    """Give an existing user a new session key; `Changed` when there is no such user."""
    _update_fields(store, username, {"session_key": session_key})


def _update_fields(store: DynamoInterface, username: str, fields: dict[str, Any]) -> Item:
    return update_existing(store, USERS, key(username), fields, condition=_EXISTS)


_EXISTS = "attribute_exists(username)"
_UNCLAIMED = "attribute_not_exists(email)"


def _claim(email: str, username: str) -> dict[str, str]:
    return {"email": email, "username": username}


def _count_admins(delta: int) -> Write:
    """The write that adds `delta` to the count of admins, never taking it below 1."""
    # +1 needs a started count (ADD would start one at 1); -1 needs another admin left.
    condition = "attribute_exists(#count)" if delta > 0 else "#count > :one"
    values = {":delta": delta, **({":one": 1} if delta < 0 else {})}
    return Write(
        "Update",
        COUNTS,
        _ADMINS,
        update="ADD #count :delta",
        condition=condition,
        names={"#count": "count"},
        values=values,
    )


def _claimed(exc: TransactionCanceled, fields: tuple[str | None, ...]) -> Exception:
    """`Claimed` for the first unique field whose write failed its condition, else `Changed`.

    `fields` names what each write of the transaction claims (None: claims nothing;
    "admins": the count of admins, whose failure is `LastAdmin`).
    """
    for field, reason in zip(fields, exc.reasons, strict=False):
        if field == "admins" and reason == "ConditionalCheckFailed":
            return LastAdmin()
        if field and reason == "ConditionalCheckFailed":
            return Claimed(field)
    return Changed()
