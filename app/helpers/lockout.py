"""Per-account lockout: consecutive failed logins, counted atomically in DynamoDB."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from app.errors import TooManyRequests
from app.helpers.dynamo import DynamoInterface, Item, TableSpec

FAILURES = "login_failures"
TABLE = TableSpec(FAILURES, hash_key="username", ttl_attribute="expires_at")

# As Cognito does: from the 5th consecutive failure the wait doubles from 1 s, up to 15 min.
THRESHOLD = 5
MAX_WAIT = 15 * 60
# A counter nobody touched for a day is forgotten (DynamoDB's TTL deletes it).
FORGET_AFTER = 24 * 3600


def wait_seconds(failures: int) -> int:
    """How long an account stays locked after `failures` consecutive failures."""
    if failures < THRESHOLD:
        return 0
    return min(2 ** (failures - THRESHOLD), MAX_WAIT)


def check(record: Item | None, *, now: float) -> int:
    """The failure count in `record`; `TooManyRequests` while the account is locked."""
    if record is None:
        return 0
    failures = int(record["failures"])
    wait = wait_seconds(failures)
    # Capped at `wait`: another instance's clock may run ahead of ours (or a concurrent
    # request wrote a later time), and that must neither lock early nor lock longer.
    remaining = min(wait, float(record["last_failure_at"]) + wait - now)
    if remaining > 0:
        raise TooManyRequests(
            "Too many failed logins for this account; try again later.",
            retry_after=max(1, math.ceil(remaining)),
        )
    return failures


def record_failure(store: DynamoInterface, *, username: str, now: float) -> int:
    """Count one more failure (atomically, whatever other processes do); the new count."""
    item = store.update(
        FAILURES,
        {"username": username},
        update="ADD failures :one SET last_failure_at = :now, expires_at = :forget",
        values=_numbers(one=1, now=now, forget=now + FORGET_AFTER),
    )
    return int(item["failures"])


def reset(store: DynamoInterface, *, username: str) -> None:
    """Forget the failures after a successful login."""
    store.delete(FAILURES, {"username": username})


def _numbers(**values: float) -> dict[str, Any]:
    # DynamoDB numbers go through Decimal: floats are refused by boto3's serializer.
    return {f":{name}": Decimal(str(value)) for name, value in values.items()}
