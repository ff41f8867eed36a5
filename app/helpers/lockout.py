"""Per-account lockout: consecutive failed logins, counted atomically in DynamoDB."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from app.errors import TooManyRequests
from app.helpers.dynamo import Item
from app.helpers.tables import login_failures

if TYPE_CHECKING:
    from app.helpers.state import AppState

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


def record_failure(state: AppState, *, username: str) -> int:
    """Count one more failure for `username`; the new count."""
    now = state.now()
    return login_failures.add_failure(state.store, username, now=now, forget_at=now + FORGET_AFTER)


def reset(state: AppState, *, username: str) -> None:
    """Forget the failures after a successful login."""
    login_failures.clear(state.store, username)
