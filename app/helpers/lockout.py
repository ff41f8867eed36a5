"""Per-account lockout: consecutive failed logins, counted in DynamoDB before each check.

An attempt is counted as a failure *before* its password is checked, by a conditional
write; a success then forgets the count. So however many guesses arrive at once, on however
many workers and instances, no more password checks run than the rule allows: with the
default threshold of 5, 20 simultaneous guesses at an unlocked account run 5 checks, and
the other 15 are refused at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from app.errors import TooManyRequests
from app.helpers.dynamo import Item
from app.helpers.tables import Changed, login_failures

if TYPE_CHECKING:
    from app.helpers.state import AppState

LOCKED = "Too many failed logins for this account; try again later."
# A count that keeps changing under us this many times running is under a storm of guesses.
_ATTEMPTS = 3


@dataclass(frozen=True)
class LockoutPolicy:
    """When an account locks, for how long, and when its failures are forgiven.

    Cognito's rule: from the `threshold`-th consecutive failure the wait doubles from 1 s up
    to `max_wait`; `reset_after` quiet seconds after a lock has expired, the count starts
    again.
    """

    threshold: int = 5
    max_wait: int = 15 * 60
    reset_after: int = 15 * 60

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LockoutPolicy:
        """Read the LOCKOUT_* settings."""
        return cls(**{f.name: config[f"LOCKOUT_{f.name.upper()}"] for f in fields(cls)})

    def wait_seconds(self, failures: int) -> int:
        """How long an account stays locked after `failures` consecutive failures."""
        if failures < self.threshold:
            return 0
        return min(2 ** min(failures - self.threshold, 64), self.max_wait)

    def standing(self, record: Item | None, *, now: float) -> int:
        """The failures that count in `record` now; `TooManyRequests` while it is locked."""
        if record is None:
            return 0
        failures = int(record["failures"])
        last = float(record["last_failure_at"])
        wait = self.wait_seconds(failures)
        # Capped at `wait`: another instance's clock may run ahead of ours, and that must
        # neither lock early nor lock longer.
        remaining = min(wait, last + wait - now)
        if remaining > 0:
            raise TooManyRequests(LOCKED, retry_after=max(1, math.ceil(remaining)))
        if now - last >= wait + self.reset_after:
            return 0  # forgiven: the lock (if any) is over and it has been quiet since
        return failures

    def forget_at(self, now: float) -> float:
        """When a record written now no longer matters (DynamoDB's TTL may delete it)."""
        return now + self.max_wait + self.reset_after


def reserve(state: AppState, *, username: str, record: Item | None) -> int:
    """Count this attempt as a failure before its password is checked; the count with it.

    `record` is the failure record as read; `TooManyRequests` when the account is locked,
    now or by attempts that got there first.
    """
    policy, store = state.lockout, state.store
    for _ in range(_ATTEMPTS):
        now = state.now()
        failures = policy.standing(record, now=now)
        try:
            if record is not None and failures == int(record["failures"]) < policy.threshold:
                # The usual case: one more, unless others reach the threshold meanwhile.
                return login_failures.add_below(
                    store,
                    username,
                    threshold=policy.threshold,
                    now=now,
                    forget_at=policy.forget_at(now),
                )
            # No record, a forgiven one, or the one try after a wait: exactly one of the
            # attempts that read this record may take its place.
            login_failures.replace(
                store,
                username,
                seen=record,
                failures=failures + 1,
                now=now,
                forget_at=policy.forget_at(now),
            )
            return failures + 1
        except Changed:
            record = login_failures.get(store, username)
    raise TooManyRequests(LOCKED, retry_after=1)


def reset(state: AppState, *, username: str) -> None:
    """Forget the failures after a successful login, or when an admin unlocks the account."""
    login_failures.clear(state.store, username)
