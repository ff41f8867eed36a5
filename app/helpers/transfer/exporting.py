"""`flask users export FILE`: every user, a Scan page at a time, as rows an import reads."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from app.helpers import passwords, tables
from app.helpers.transfer.files import Progress, no_progress

if TYPE_CHECKING:
    from app.helpers.state import AppState

EXPORT_COLUMNS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "account_type",
    "disabled",
    "email_verified",
)
_FLAGS = ("disabled", "email_verified")
HASH_COLUMNS = ("hash_scheme", "password_hash")
EXPORT_PAGE = 500


def export_rows(
    state: AppState, *, include_hashes: bool = False, page_size: int = EXPORT_PAGE
) -> Iterator[dict[str, Any]]:
    """Every user as an import row, a Scan page at a time; hashes (with scheme) if asked."""
    for user in tables.users.all_items(state.store, page_size=page_size):
        row: dict[str, Any] = {name: getattr(user, name) for name in EXPORT_COLUMNS}
        row["created_at"] = user.created_at
        if include_hashes:
            row["hash_scheme"], row["password_hash"] = passwords.origin_form(user.password_hash)
        yield row


def export_users(
    state: AppState,
    out: IO[str],
    *,
    fmt: str,
    include_hashes: bool = False,
    page_size: int = EXPORT_PAGE,
    progress: Progress = no_progress,
) -> int:
    """Write every user to `out` as `fmt`, row by row as the pages come; how many."""
    columns = [*EXPORT_COLUMNS, "created_at", *(HASH_COLUMNS if include_hashes else ())]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    with progress("exporting users", None) as advance:
        for row in export_rows(state, include_hashes=include_hashes, page_size=page_size):
            if writer is not None:
                writer.writerow({**row, **{flag: str(row[flag]).lower() for flag in _FLAGS}})
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            advance(1)
    return count
