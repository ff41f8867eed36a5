"""The users table and the email claims that keep addresses unique."""

from __future__ import annotations

from typing import Any

from app.helpers.dynamo import DynamoInterface, Item, TableSpec, TransactionCanceled, Write
from app.helpers.tables.conditional import Changed, Claimed, assignments, update_existing
from app.models import UserItem, UserPublic

USERS = "users"
EMAILS = "user_emails"
SPECS = (TableSpec(USERS, hash_key="username"), TableSpec(EMAILS, hash_key="email"))
# A page of the list reads only these: less for DynamoDB to send, and no hash leaves the table.
PUBLIC_FIELDS = tuple(UserPublic.model_fields)


def key(username: str) -> dict[str, str]:
    """The key of a user's item."""
    return {"username": username}


def get(store: DynamoInterface, username: str) -> UserItem | None:
    """The stored user, or None."""
    item = store.get(USERS, key(username))
    return UserItem.model_validate(item) if item else None


def insert(store: DynamoInterface, user: UserItem) -> None:
    """Store a new user and claim their email, both or neither; `Claimed` names the loser."""
    try:
        store.transact_write(
            [
                Write("Put", USERS, user.model_dump(), condition="attribute_not_exists(username)"),
                Write("Put", EMAILS, _claim(user.email, user.username), condition=_UNCLAIMED),
            ]
        )
    except TransactionCanceled as exc:
        raise _claimed(exc, ("username", "email")) from exc


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


def update(store: DynamoInterface, current: UserItem, fields: dict[str, Any]) -> UserItem:
    """Write `fields` to a user that still exists; `Changed` when it is gone."""
    return UserItem.model_validate(_update_fields(store, current.username, fields))


def update_together(
    store: DynamoInterface, current: UserItem, fields: dict[str, Any], *, also: list[Write]
) -> UserItem:
    """Write `fields` (moving the email claim if the email changes) and `also`, all or none.

    Only if the user is still as read (same email, same session key): `Changed` otherwise,
    `Claimed` when the new email is someone else's.
    """
    update, names, values = assignments(fields)
    writes = [
        Write(
            "Update",
            USERS,
            key(current.username),
            update=update,
            condition="email = :email_was AND session_key = :key_was",
            names=names,
            values={**values, ":email_was": current.email, ":key_was": current.session_key},
        )
    ]
    new_email = fields.get("email", current.email)
    claims: tuple[str | None, ...] = (None,)  # the user's own write claims nothing
    if new_email != current.email:
        claims = (None, "email")
        writes += [
            Write("Put", EMAILS, _claim(new_email, current.username), condition=_UNCLAIMED),
            Write("Delete", EMAILS, {"email": current.email}),
        ]
    try:
        store.transact_write([*writes, *also])
    except TransactionCanceled as exc:
        raise _claimed(exc, claims) from exc
    return current.model_copy(update=fields)


def delete(store: DynamoInterface, user: UserItem) -> None:
    """Delete a user and release their email, if both are still as read; `Changed` if not."""
    try:
        store.transact_write(
            [
                Write(
                    "Delete",
                    USERS,
                    key(user.username),
                    condition="email = :email",
                    values={":email": user.email},
                ),
                Write(
                    "Delete",
                    EMAILS,
                    {"email": user.email},
                    condition="username = :username",
                    values={":username": user.username},
                ),
            ]
        )
    except TransactionCanceled as exc:
        raise Changed() from exc


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


def _claimed(exc: TransactionCanceled, fields: tuple[str | None, ...]) -> Exception:
    """`Claimed` for the first unique field whose write failed its condition, else `Changed`.

    `fields` names what each write of the transaction claims (None: claims nothing).
    """
    for field, reason in zip(fields, exc.reasons, strict=False):
        if field and reason == "ConditionalCheckFailed":
            return Claimed(field)
    return Changed()
