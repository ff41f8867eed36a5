"""How stored timestamps are written."""

from __future__ import annotations

import pytest

from app.helpers.clock import iso


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_800_000_000, "2027-01-15T08:00:00.000Z"),
        (1_800_000_000.2506, "2027-01-15T08:00:00.250Z"),  # milliseconds, truncated
        (1_800_000_000.9999, "2027-01-15T08:00:00.999Z"),
    ],
)
def test_iso_is_utc_with_milliseconds_and_z(epoch, text):
    assert iso(epoch) == text
