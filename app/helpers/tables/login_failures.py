"""The login failures table: a counter of consecutive failures per username."""

from __future__ import annotations

from decimal import Decimal

from app.helpers.dynamo import DynamoInterface, Item, TableSpec
from app.helpers.tables import users
from app.models import UserItem

FAILURES = "login_failures"
SPEC = TableSpec(FAILURES, hash_key="username", ttl_attribute="expires_at")


def get_with_user(store: DynamoInterface, username: str) -> tuple[UserItem | None, Item | None]:
    """A user and their failure record, read together in one round trip."""
    found = store.batch_get({users.USERS: users.key(username), FAILURES: users.key(username)})
    user = found[users.USERS]
    return (UserItem.model_validate(user) if user else None), found[FAILURES]


def add_failure(store: DynamoInterface, username: str, *, now: float, forget_at: float) -> int:
    """Count one more failure, atomically whatever other processes do; the new count."""
    item = store.update(
        FAILURES,
        users.key(username),
        update="ADD failures :one SET last_failure_at = :now, expires_at = :forget",
        # DynamoDB numbers go through Decimal: boto3's serializer refuses floats.
        values={":one": 1, ":now": Decimal(str(now)), ":forget": Decimal(str(forget_at))},
    )
    return int(item["failures"])


def clear(store: DynamoInterface, username: str) -> None:
    """Forget a username's failures."""
    store.delete(FAILURES, users.key(username))
