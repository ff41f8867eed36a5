"""Second factors, on the users table: a TOTP secret (encrypted), its last step, recovery codes.

Every write holds only in the state its caller read, so two requests at once cannot both
use one code, and a factor removed meanwhile cannot be switched on again by a stale request.
"""

from __future__ import annotations

from app.helpers.dynamo import ConditionFailed, DynamoInterface, Write
from app.helpers.tables.conditional import Changed, update_existing
from app.helpers.tables.users import USERS, key
from app.models import UserItem

_TOTP_FIELDS = "totp_secret, totp_pending, totp_last_step"
_FACTOR_FIELDS = f"{_TOTP_FIELDS}, recovery_codes, passkey_ids"


def start_totp(store: DynamoInterface, user: UserItem, *, pending: str) -> None:
    """Keep a TOTP secret being set up; `Changed` when TOTP is on, or the user changed."""
    update_existing(
        store,
        USERS,
        key(user.username),
        {"totp_pending": pending},
        condition="session_key = :key_was AND attribute_not_exists(totp_secret)",
        values={":key_was": user.session_key},
    )


def enable_totp(
    store: DynamoInterface, user: UserItem, *, secret: str, step: int, codes: set[str]
) -> None:
    """Turn on the TOTP secret being set up, with its first step and recovery codes' hashes.

    `Changed` unless the pending secret is still the one read (and TOTP is still off).
    """
    try:
        store.update(
            USERS,
            key(user.username),
            update=(
                "SET totp_secret = :secret, totp_last_step = :step, recovery_codes = :codes "
                "REMOVE totp_pending"
            ),
            condition="totp_pending = :pending AND attribute_not_exists(totp_secret)",
            values={
                ":secret": secret,
                ":step": step,
                ":codes": codes,
                ":pending": user.totp_pending,
            },
        )
    except ConditionFailed as exc:
        raise Changed() from exc


def accept_step(user: UserItem, step: int) -> Write:
    """The write that records `step` as used: holds only for a later step of the same secret."""
    return Write(
        "Update",
        USERS,
        key(user.username),
        update="SET totp_last_step = :step",
        condition=(
            "totp_secret = :secret AND "
            "(attribute_not_exists(totp_last_step) OR totp_last_step < :step)"
        ),
        values={":step": step, ":secret": user.totp_secret},
    )


def use_recovery_code(user: UserItem, code_hash: str) -> Write:
    """The write that uses a recovery code up: holds only while it is still unused."""
    return Write(
        "Update",
        USERS,
        key(user.username),
        update="DELETE recovery_codes :used",
        condition="contains(recovery_codes, :code)",
        values={":used": {code_hash}, ":code": code_hash},
    )


def replace_recovery_codes(store: DynamoInterface, user: UserItem, codes: set[str]) -> None:
    """New recovery codes for all the old ones, while a second factor (TOTP, passkey) remains.

    `Changed` when the last one went meanwhile.
    """
    update_existing(
        store,
        USERS,
        key(user.username),
        {"recovery_codes": codes},
        condition="attribute_exists(totp_secret) OR attribute_exists(passkey_ids)",
    )


def clear_totp(store: DynamoInterface, user: UserItem, *, codes: bool) -> None:
    """Remove the user's TOTP (with `codes`, the recovery codes); `Changed` if they changed."""
    try:
        store.update(
            USERS,
            key(user.username),
            update=f"REMOVE {_TOTP_FIELDS}" + (", recovery_codes" if codes else ""),
            condition="session_key = :key_was AND totp_secret = :secret",
            values={":key_was": user.session_key, ":secret": user.totp_secret},
        )
    except ConditionFailed as exc:
        raise Changed() from exc


def clear(store: DynamoInterface, user: UserItem, *, session_key: str | None = None) -> None:
    """Remove every second factor (and with `session_key`, end every session too).

    `Changed` when the user is gone or their sessions were renewed meanwhile.
    """
    update = f"REMOVE {_FACTOR_FIELDS}"
    values = {":key_was": user.session_key}
    if session_key is not None:
        update = f"SET session_key = :key {update}"
        values[":key"] = session_key
    try:
        store.update(
            USERS,
            key(user.username),
            update=update,
            condition="session_key = :key_was",
            values=values,
        )
    except ConditionFailed as exc:
        raise Changed() from exc


def rotate_secret(store: DynamoInterface, user: UserItem, field: str, stored: str) -> None:
    """Store a secret encrypted again with the newest key; `Changed` when it changed meanwhile."""
    update_existing(
        store,
        USERS,
        key(user.username),
        {field: stored},
        condition=f"{field} = :was",
        values={":was": getattr(user, field)},
    )
