"""One module per DynamoDB table: its shape, and every read and write of it as a named function.

Services call these and read as business rules; no service writes an expression. A write
that finds the item in another state than required raises `Changed` (or `Claimed` for a
uniqueness claim), which the service turns into what it means for the caller.
"""

from __future__ import annotations

from app.helpers.dynamo import TableSpec
from app.helpers.tables import (
    factors,
    login_failures,
    passkeys,
    rate_limits,
    sessions,
    tokens,
    users,
)
from app.helpers.tables.conditional import Changed, Claimed, LastAdmin

SPECS: tuple[TableSpec, ...] = (
    *users.SPECS,
    sessions.SPEC,
    login_failures.SPEC,
    rate_limits.SPEC,
    tokens.SPEC,
    passkeys.SPEC,
)

__all__ = [
    "SPECS",
    "Changed",
    "Claimed",
    "LastAdmin",
    "factors",
    "login_failures",
    "passkeys",
    "rate_limits",
    "sessions",
    "tokens",
    "users",
]
