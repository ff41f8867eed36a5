"""Flask-Limiter's counts in DynamoDB, shared by every worker and instance (`dynamodb://`).

A storage for the `limits` library, registered under its own URI scheme. Windows are fixed
and aligned on the clock (a one-minute limit counts from each minute's start), so that each
window is its own item: counting a request is one `UpdateItem` with `ADD`, whatever other
processes do, and never a read. DynamoDB's TTL deletes a window's item after it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from limits.limits import TIME_TYPES
from limits.storage import Storage

from app.errors import ServiceUnavailable
from app.helpers.dynamo import DynamoInterface, StoreError
from app.helpers.tables import rate_limits

SCHEME = "dynamodb"


class DynamoDBStorage(Storage):
    """Rate-limit counters in the app's own DynamoDB (`RATELIMIT_STORAGE_URI=dynamodb://`)."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 - the limits registry reads this class attribute

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        *,
        store: DynamoInterface | None = None,
        **options: Any,
    ) -> None:
        if store is None:
            raise ValueError(f"{SCHEME}:// counts in the app's own tables: pass its store")
        super().__init__(uri, wrap_exceptions, **options)
        self.store = store
        # Wall time, as every storage of `limits` counts; tests set their own.
        self.clock: Callable[[], float] = time.time

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:  # noqa: D102
        return (StoreError, ServiceUnavailable)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` more in the current window of `key`; the window's count."""
        # `expiry` is the window's length: the same one `window_seconds(key)` reads.
        window, ends = _window(expiry, self.clock())
        return rate_limits.add(self.store, f"{key}@{window}", amount=amount, expires_at=ends)

    def get(self, key: str) -> int:
        """The count of the current window of `key`."""
        return rate_limits.get(self.store, self._current(key)[0])

    def get_expiry(self, key: str) -> float:
        """When the current window of `key` ends (no DynamoDB call: windows are aligned)."""
        return float(self._current(key)[1])

    def check(self) -> bool:
        """Whether DynamoDB answers."""
        try:
            rate_limits.get(self.store, "health-check")
        except (StoreError, ServiceUnavailable):
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter (a Scan: for tests and operators, not for requests)."""
        return rate_limits.delete_all(self.store)

    def clear(self, key: str) -> None:
        """Forget the current window of `key`."""
        rate_limits.delete(self.store, self._current(key)[0])

    def _current(self, key: str) -> tuple[str, int]:
        """The item key of the current window of a limit's `key`, and when that window ends."""
        window, ends = _window(window_seconds(key), self.clock())
        return f"{key}@{window}", ends


def window_seconds(key: str) -> int:
    """The window length of a limit's key, which `limits` ends with amount/multiples/unit."""
    _, multiples, unit = key.rsplit("/", 2)
    return int(multiples) * TIME_TYPES[unit].seconds


def _window(seconds: int, now: float) -> tuple[int, int]:
    """The number of the window `now` falls in, and when that window ends."""
    window = int(now // seconds)
    return window, (window + 1) * seconds
