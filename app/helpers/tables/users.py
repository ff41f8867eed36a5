"""The users table, the email claims that keep addresses unique, and the count of admins."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import itertools
import math
from collections.abc import Iterator
from typing import Any

from app.helpers.dynamo import (
    ConditionFailed,
    DynamoInterface,
    Index,
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
from app.models import UserItem, UserSummary

USERS = "users"
EMAILS = "user_emails"
# One item, {"name": "admins", "count": n}: every write that makes, unmakes, disables or
# enables an admin changes it in the same transaction, and none may take it below 1.
COUNTS = "user_counts"
# Users in username order: an index whose partition is one of SHARDS numbers (from a hash
# of the username) and whose range is the username. One partition for every user would be
# one hot key at scale; SHARDS of them are queried side by side and merged (`search`).
# Changing SHARDS means rewriting every user's `shard`: it is fixed.
SHARDS = 8
BY_NAME = "by_name"
# A page of users reads only these: less for DynamoDB to send, and no hash leaves the table.
SUMMARY_FIELDS = tuple(UserSummary.model_fields)
SPECS = (
    TableSpec(
        USERS,
        hash_key="username",
        indexes={
            BY_NAME: Index(
                "shard",
                hash_type="N",
                range_key="username",
                projected=tuple(f for f in SUMMARY_FIELDS if f != "username"),
            )
        },
    ),
    TableSpec(EMAILS, hash_key="email"),
    TableSpec(COUNTS, hash_key="name"),
)
_ADMINS = {"name": "admins"}
# Usernames are made of "-", ".", 0-9, "_" and a-z: "-" sorts first, and "~" after them all.
_FIRST, _AFTER_ALL = "-", "~"


def shard_of(username: str) -> int:
    """The index partition a username belongs to: spread evenly, never changing."""
    return int.from_bytes(hashlib.sha256(username.encode("ascii")).digest()[:4]) % SHARDS


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


def with_email(store: DynamoInterface, email: str) -> UserItem | None:
    """The user whose email this is: its claim (one read), then that user (one more)."""
    owner = owner_of_email(store, email)
    user = get(store, owner) if owner else None
    # A claim whose user is gone or has moved on finds no one (`users check` repairs it).
    return user if user is not None and user.email == email else None


def insert(store: DynamoInterface, user: UserItem) -> None:
    """Store a new user and claim their email, both or neither; `Claimed` names the loser.

    An admin also counts one more admin (`Changed` if the count has not been started).
    """
    item = {**user.model_dump(), "shard": shard_of(user.username)}
    writes = [
        Write("Put", USERS, item, condition="attribute_not_exists(username)"),
        Write("Put", EMAILS, _claim(user.email, user.username), condition=_UNCLAIMED),
    ]
    if user.counts_as_admin:
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
) -> tuple[list[UserSummary], str | None]:
    """At most `limit` users, in no order (one Scan), and the username to continue after."""
    items, last = store.scan_page(
        USERS,
        limit=limit,
        start_key=key(after) if after else None,
        attributes=SUMMARY_FIELDS,
    )
    return [UserSummary.model_validate(item) for item in items], last["username"] if last else None


def search(
    store: DynamoInterface, *, prefix: str, limit: int, after: str | None
) -> tuple[list[UserSummary], bool]:
    """At most `limit` users whose username starts with `prefix`, after `after`, in order.

    Whether more follow. Each shard of the index is read in order, a few items at a time,
    and the shards are merged: a page costs one Query per shard (all at once), plus one for
    each shard that runs out of read items before the page is full (rare when users spread
    evenly).
    """
    low = prefix or _FIRST
    if after is not None and after >= low:
        low = after + _FIRST  # the first username after `after`
    high = prefix + _AFTER_ALL
    if low > high:
        return [], False
    # Enough per Query for an even spread, with a margin; a shard with more reads again.
    chunk = math.ceil(limit / SHARDS) + 2

    def first_page(shard: int) -> tuple[list[Item], Item | None]:
        return store.query_page(USERS, BY_NAME, value=shard, between=(low, high), limit=chunk)

    # The first Query of every shard at once: a page waits for one round trip, not eight.
    firsts = store.map_calls(first_page, range(SHARDS))
    shards = [
        _in_order(store, shard, (low, high), chunk, first)
        for shard, first in zip(range(SHARDS), firsts, strict=True)
    ]
    merged = heapq.merge(*shards, key=lambda item: item["username"])
    items = list(itertools.islice(merged, limit + 1))
    users = [UserSummary.model_validate({f: i[f] for f in SUMMARY_FIELDS if f in i}) for i in items]
    return users[:limit], len(items) > limit


def _in_order(
    store: DynamoInterface,
    shard: int,
    between: tuple[str, str],
    chunk: int,
    first: tuple[list[Item], Item | None],
) -> Iterator[Item]:
    """One shard's users within `between`, in username order: `first`, then `chunk` at a time."""
    items, start = first
    while True:
        yield from items
        if start is None:
            return
        items, start = store.query_page(
            USERS, BY_NAME, value=shard, between=between, limit=chunk, start_key=start
        )


def add_shards(store: DynamoInterface) -> int:
    """Give the users stored before the index their shard, so the index lists them.

    How many were given one. Each write holds only while the user exists without a shard.
    """
    added, after = 0, None
    while True:
        items, last = store.scan_page(
            USERS,
            limit=500,
            start_key=key(after) if after else None,
            attributes=("username", "shard"),
        )
        for item in items:
            if "shard" in item:
                continue
            with contextlib.suppress(TransactionCanceled):  # deleted or given one meanwhile
                store.transact_write([give_shard(item["username"])])
                added += 1
        if last is None:
            return added
        after = last["username"]


def give_shard(username: str) -> Write:
    """The write that puts a user stored before the index in it, if still without a shard."""
    return Write(
        "Update",
        USERS,
        key(username),
        update="SET #shard = :shard",
        condition="attribute_exists(username) AND attribute_not_exists(#shard)",
        names={"#shard": "shard"},
        values={":shard": shard_of(username)},
    )


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
    admins who can act with it: `LastAdmin` when that would leave none.
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
                f" AND {_DISABLED_WAS[current.disabled]}"
            ),
            names={**names, "#disabled": "disabled"},
            values={
                **values,
                ":email_was": current.email,
                ":key_was": current.session_key,
                ":type_was": current.account_type,
                ":disabled_was": current.disabled,
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
            condition=(
                f"email = :email AND account_type = :type AND {_DISABLED_WAS[user.disabled]}"
            ),
            names={"#disabled": "disabled"},
            values={
                ":email": user.email,
                ":type": user.account_type,
                ":disabled_was": user.disabled,
            },
        ),
        Write(
            "Delete",
            EMAILS,
            {"email": user.email},
            condition="username = :username",
            values={":username": user.username},
        ),
    ]
    if user.counts_as_admin:
        writes.append(_count_admins(-1))
    try:
        store.transact_write(writes)
    except TransactionCanceled as exc:
        raise _claimed(exc, (None, None, "admins")) from exc


def prove_email(username: str, email: str) -> Write:
    """The write that marks a user's email verified, only while it is still `email`."""
    return Write(
        "Update",
        USERS,
        key(username),
        update="SET email_verified = :yes",
        condition="email = :email",
        values={":yes": True, ":email": email},
    )


def change_as_read(current: UserItem, fields: dict[str, Any]) -> Write:
    """The write that sets `fields`, only while the user's password, email and key are as read.

    For a transaction with the use of a token: a password reset.
    """
    update, names, values = assignments(fields)
    return Write(
        "Update",
        USERS,
        key(current.username),
        update=update,
        condition="session_key = :key_was AND password_hash = :hash_was AND email = :email_was",
        names=names,
        values={
            **values,
            ":key_was": current.session_key,
            ":hash_was": current.password_hash,
            ":email_was": current.email,
        },
    )


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
# Users stored before accounts could be disabled have no `disabled`: they are enabled.
_DISABLED_WAS = {
    True: "#disabled = :disabled_was",
    False: "(attribute_not_exists(#disabled) OR #disabled = :disabled_was)",
}
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
