"""Time: one injected clock for every stored timestamp, and how timestamps are written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

# Seconds since the epoch. The app holds one (`AppState.clock`); tests replace it.
Clock = Callable[[], float]


def iso(epoch: float) -> str:
    """An epoch time as stored timestamps are written: ISO 8601, UTC, milliseconds, `Z`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
