"""The rate limits table: one counter per client address, limit and window."""

from __future__ import annotations

from app.helpers.dynamo import DynamoInterface, TableSpec

RATE_LIMITS = "rate_limits"
SPEC = TableSpec(RATE_LIMITS, hash_key="key", ttl_attribute="expires_at")
PAGE = 100
KEY = ("key",)


def add(store: DynamoInterface, key: str, *, amount: int, expires_at: int) -> int:
    """Add `amount` to a window's counter, creating it if new: one write; the new count."""
    item = store.update(
        RATE_LIMITS,
        {"key": key},
        update="ADD hits :amount SET expires_at = :expires_at",
        values={":amount": amount, ":expires_at": expires_at},
    )
    return int(item["hits"])


def get(store: DynamoInterface, key: str) -> int:
    """A window's count so far (0 when nothing was counted)."""
    item = store.get(RATE_LIMITS, {"key": key})
    return int(item["hits"]) if item else 0


def delete(store: DynamoInterface, key: str) -> None:
    """Forget a window's counter."""
    store.delete(RATE_LIMITS, {"key": key})


def delete_all(store: DynamoInterface) -> int:
    """Forget every counter, a page at a time; how many there were."""
    deleted, start = 0, None
    while True:
        items, start = store.scan_page(RATE_LIMITS, limit=PAGE, start_key=start, attributes=KEY)
        store.delete_many(RATE_LIMITS, items)
        deleted += len(items)
        if start is None:
            return deleted
