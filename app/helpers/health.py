"""Readiness: whether DynamoDB answers, asked at most every few seconds."""

from __future__ import annotations

import threading

from app.errors import AppError, ServiceUnavailable
from app.helpers.dynamo import DynamoInterface


class Readiness:
    """Remembers DynamoDB's last answer to a cheap call (DescribeTable) for a few seconds.

    Orchestrators probe often; caching keeps the probe from adding load on DynamoDB.
    """

    def __init__(self, store: DynamoInterface, *, table: str, cache_seconds: float) -> None:
        self.store = store
        self.table = table
        self.cache_seconds = cache_seconds
        self._checked_at = float("-inf")
        self._problem: str | None = None
        self._lock = threading.Lock()

    def check(self, *, now: float) -> None:
        """Return when DynamoDB answered lately; `ServiceUnavailable` with the reason if not."""
        with self._lock:
            if now - self._checked_at >= self.cache_seconds:
                self._problem = self._ask()
                self._checked_at = now
            problem = self._problem
        if problem:
            raise ServiceUnavailable(f"Not ready: {problem}")

    def _ask(self) -> str | None:
        try:
            status = self.store.describe(self.table)
        except AppError as exc:
            cause = exc.__cause__
            reason = type(cause).__name__ if cause else type(exc).__name__
            return f"DynamoDB did not answer ({reason})."
        if status not in ("ACTIVE", "UPDATING"):
            return f"the {self.table} table is {status}."
        return None
