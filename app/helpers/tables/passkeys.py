"""The passkeys table: one item per credential (its public key and sign counter), by its id.

Which passkeys are a user's is said by the user item (`passkey_ids`, read strongly
consistently with every sign-in): a passkey item alone signs no one in. Adding and removing
one change both in one transaction.
"""

from __future__ import annotations

from typing import Any

from app.helpers.dynamo import DynamoInterface, TableSpec, Write
from app.helpers.tables.conditional import update_existing
from app.helpers.tables.users import USERS
from app.helpers.tables.users import key as user_key
from app.models import PasskeyItem, UserItem

PASSKEYS = "passkeys"
SPEC = TableSpec(PASSKEYS, hash_key="credential_id")
MOST = 10  # passkeys per user


def key(credential_id: str) -> dict[str, str]:
    """The key of a passkey's item."""
    return {"credential_id": credential_id}


def get(store: DynamoInterface, credential_id: str) -> PasskeyItem | None:
    """A passkey by its credential id, or None."""
    item = store.get(PASSKEYS, key(credential_id))
    return PasskeyItem.model_validate(item) if item else None


def of_user(store: DynamoInterface, user: UserItem) -> list[PasskeyItem]:
    """The user's passkeys, newest first (read by their ids, strongly consistent)."""
    # Side by side: up to MOST reads, each waiting on the network.
    found = store.map_calls(lambda credential_id: get(store, credential_id), user.passkey_ids)
    return sorted((p for p in found if p), key=lambda p: p.created_at, reverse=True)


def give_handle(store: DynamoInterface, user: UserItem, handle: str) -> None:
    """Give the user their WebAuthn user handle; `Changed` when they have one already."""
    update_existing(
        store,
        USERS,
        user_key(user.username),
        {"webauthn_handle": handle},
        condition="attribute_exists(username) AND attribute_not_exists(webauthn_handle)",
    )


def add(user: UserItem, passkey: PasskeyItem, handle: str, *, codes: set[str]) -> list[Write]:
    """The writes that store a new passkey and make it the user's (at most MOST of them).

    They hold only while the user has `handle` and their sessions' key as read. With
    `codes` (the hashes of the first second factor's recovery codes), those are stored too,
    only while the user has no second factor.
    """
    update = "ADD passkey_ids :id"
    condition = (
        "session_key = :key_was AND webauthn_handle = :handle AND "
        "(attribute_not_exists(passkey_ids) OR size(passkey_ids) < :most)"
    )
    values: dict[str, Any] = {
        ":id": {passkey.credential_id},
        ":handle": handle,
        ":key_was": user.session_key,
        ":most": MOST,
    }
    if codes:
        update += " SET recovery_codes = :codes"
        condition += " AND attribute_not_exists(passkey_ids) AND attribute_not_exists(totp_secret)"
        values[":codes"] = codes
    return [
        Write(
            "Put", PASSKEYS, passkey.model_dump(), condition="attribute_not_exists(credential_id)"
        ),
        Write(
            "Update",
            USERS,
            user_key(user.username),
            update=update,
            condition=condition,
            values=values,
        ),
    ]


def remove(user: UserItem, credential_id: str, *, last: bool) -> list[Write]:
    """The writes that remove one of the user's passkeys (holding while it is still theirs).

    `last`: it is the user's last second factor, and the recovery codes go with it.
    """
    return [
        Write(
            "Update",
            USERS,
            user_key(user.username),
            update="DELETE passkey_ids :id" + (" REMOVE recovery_codes" if last else ""),
            condition="contains(passkey_ids, :credential)",
            values={":id": {credential_id}, ":credential": credential_id},
        ),
        Write("Delete", PASSKEYS, key(credential_id)),
    ]


def used(user: UserItem, passkey: PasskeyItem, *, sign_count: int, at: int) -> list[Write]:
    """The writes that record a sign-in with a passkey: its new counter and last use.

    They hold only while the passkey is still the user's and its counter is as read, so two
    sign-ins with one counter value (a cloned authenticator) cannot both pass.
    """
    return [
        Write(
            "Update",
            PASSKEYS,
            key(passkey.credential_id),
            update="SET sign_count = :count, last_used_at = :at",
            condition="sign_count = :count_was",
            values={":count": sign_count, ":at": at, ":count_was": passkey.sign_count},
        ),
        Write(
            "ConditionCheck",
            USERS,
            user_key(user.username),
            condition="contains(passkey_ids, :credential) AND session_key = :key_was",
            values={":credential": passkey.credential_id, ":key_was": user.session_key},
        ),
    ]


def delete_many(store: DynamoInterface, credential_ids: set[str]) -> None:
    """Delete passkey items (tidying after a reset: the user no longer names them)."""
    store.delete_many(PASSKEYS, [key(credential_id) for credential_id in credential_ids])
