"""The login failures table: a counter of consecutive failures per username."""

from __future__ import annotations

from decimal import Decimal

from app.helpers.dynamo import ConditionFailed, DynamoInterface, Item, TableSpec
from app.helpers.tables import users
from app.helpers.tables.conditional import Changed
from app.models import UserItem

FAILURES = "login_failures"
SPEC = TableSpec(FAILURES, hash_key="username", ttl_attribute="expires_at")


def get_with_user(store: DynamoInterface, username: str) -> tuple[UserItem | None, Item | None]:
    """A user and their failure record, read together in one round trip."""
    found = store.batch_get({users.USERS: users.key(username), FAILURES: users.key(username)})
    user = found[users.USERS]
    return (UserItem.model_validate(user) if user else None), found[FAILURES]


def get(store: DynamoInterface, username: str) -> Item | None:
    """A username's failure record, or None."""
    return store.get(FAILURES, users.key(username))


def add_below(
    store: DynamoInterface, username: str, *, threshold: int, now: float, forget_at: float
) -> int:
    """Count one more failure, only while the count is below `threshold`; the new count.

    `Changed` when the count had reached `threshold` (or there was no record).
    """
    try:
        item = store.update(
            FAILURES,
            users.key(username),
            update="ADD failures :one SET last_failure_at = :now, expires_at = :forget",
            condition="failures < :threshold",
            values={":one": 1, ":threshold": threshold, **_times(now, forget_at)},
        )
    except ConditionFailed as exc:
        raise Changed() from exc
    return int(item["failures"])


def replace(
    store: DynamoInterface,
    username: str,
    *,
    seen: Item | None,
    failures: int,
    now: float,
    forget_at: float,
) -> None:
    """Write a new count over the record as `seen` (None: none), if unchanged; `Changed` if not."""
    item = {"username": username, "failures": failures}
    values = _times(now, forget_at)
    item.update(last_failure_at=values[":now"], expires_at=values[":forget"])
    if seen is None:
        condition, values = "attribute_not_exists(username)", {}
    else:
        condition = "failures = :failures AND last_failure_at = :last"
        values = {":failures": seen["failures"], ":last": seen["last_failure_at"]}
    try:
        store.put(FAILURES, item, condition=condition, values=values)
    except ConditionFailed as exc:
        raise Changed() from exc


def clear(store: DynamoInterface, username: str) -> None:
    """Forget a username's failures."""
    store.delete(FAILURES, users.key(username))


def _times(now: float, forget_at: float) -> dict[str, Decimal]:
    # DynamoDB numbers go through Decimal: boto3's serializer refuses floats.
    return {":now": Decimal(str(now)), ":forget": Decimal(str(forget_at))}
