"""`flask users import FILE`: check every row, hash plain passwords on every core, write.

Each user is written with the API's own transaction (`users.insert_user`), a few at a time.
Writing is idempotent: a user already there with the same email counts as already
imported, so running an interrupted import again finishes it.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from itertools import repeat
from typing import IO, TYPE_CHECKING, Literal, TypeVar

from app.errors import Conflict, ServiceUnavailable
from app.helpers import passwords, tables
from app.helpers.clock import iso
from app.helpers.transfer.files import (
    Advance,
    Progress,
    ReportLine,
    _Valid,
    check_file,
    no_progress,
)
from app.helpers.users import insert_user, new_session_key
from app.models import UserItem

if TYPE_CHECKING:
    from app.helpers.state import AppState

WRITERS = 4  # concurrent writes: each one DynamoDB transaction
# A bulk write meets throttling where a request would not: wait it out this long (seconds),
# pausing from half a second, doubling up to eight, before an import stops.
RETRY_FOR = 30.0
_FIRST_WAIT, _LONGEST_WAIT = 0.5, 8.0
# A write that lost a race with another (on the count of admins) is tried this often.
_ATTEMPTS = 3
_T = TypeVar("_T")


@dataclass
class ImportResult:
    """What an import did, or (dry run) would do."""

    rows: int = 0
    rejected: int = 0
    written: int = 0
    present: int = 0
    skipped: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    conflicts: list[ReportLine] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows handled per second, rejected ones included."""
        return self.rows / self.seconds if self.seconds else 0.0


def import_users(
    state: AppState,
    source: IO[bytes],
    *,
    fmt: str,
    on_conflict: Literal["skip", "fail"] = "fail",
    dry_run: bool = False,
    workers: int = WRITERS,
    retry_for: float = RETRY_FOR,
    pause: Callable[[float], None] = time.sleep,
    report: Callable[[ReportLine], None] = lambda _line: None,
    progress: Progress = no_progress,
) -> ImportResult:
    """Check every row of `source`, then write the valid ones; each rejected row is `report`ed.

    A user already stored with the same username and email is left as it is and counted as
    present. Another user holding the username or the email is a conflict: reported and
    skipped, or (`fail`) the import stops with `Conflict`. A row that DynamoDB does not take
    (throttled, unreachable) is tried again for `retry_for` seconds, waiting with `pause`,
    then the import stops with `ServiceUnavailable`. Both say how many rows were written,
    and running the same import again finishes it. `dry_run` writes nothing, but reads
    whether each row is present or in conflict.
    """
    started = time.monotonic()
    patience = _Patience(retry_for, pause)
    result = ImportResult(dry_run=dry_run)
    checked = check_file(source, fmt=fmt)
    result.rows, result.rejected = checked.rows, len(checked.rejected)
    for line in checked.rejected:
        report(line)
    valid = checked.valid
    plain = [entry for entry in valid if entry.stored_hash is None]
    if plain and not dry_run:
        # Hashing is what costs: not for the users a rerun finds already there.
        with progress("checking users", len(plain)) as advance:
            present = _present(state, plain, workers, patience, advance)
        result.present += len(present)
        valid = [entry for entry in valid if entry.line not in present]
        plain = [entry for entry in plain if entry.line not in present]
    if plain and not dry_run:
        with progress("hashing passwords", len(plain)) as advance:
            _hash_passwords(plain, rounds=state.passwords.rounds, advance=advance)
    label = "checking users" if dry_run else "writing users"
    with progress(label, len(valid)) as advance:
        writing = _Writing(on_conflict, dry_run, workers, patience, report, advance)
        _write_all(state, valid, result, writing)
    result.seconds = time.monotonic() - started
    return result


def _present(
    state: AppState, rows: list[_Valid], workers: int, patience: _Patience, advance: Advance
) -> set[int]:
    """The lines of the rows whose user is stored already, with the same email (one read each)."""

    def stored(entry: _Valid) -> bool:
        user = patience.run(lambda: tables.users.get(state.store, entry.row.username))
        return user is not None and user.email == entry.row.email

    found = set()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for entry, there in zip(rows, pool.map(stored, rows), strict=True):
                if there:
                    found.add(entry.line)
                advance(1)
    except ServiceUnavailable as exc:
        raise _stopped(0, exc) from exc
    return found


def _stopped(written: int, exc: ServiceUnavailable) -> ServiceUnavailable:
    """What stops an import when DynamoDB fails: how far it got, and how to finish it."""
    reason = exc.detail.rstrip(".")
    return ServiceUnavailable(
        f"stopped: {written} rows written; run the same command again to finish ({reason})"
    )


def _hash_passwords(rows: list[_Valid], *, rounds: int, advance: Advance) -> None:
    """Hash each row's plain password in our scheme, in a process per core."""
    secrets = [entry.row.password or "" for entry in rows]
    cores = os.cpu_count() or 1
    if len(rows) < 2 or cores < 2:
        hashes: Iterable[str] = map(passwords.hash_password, secrets, repeat(rounds))
        _store_hashes(rows, hashes, advance)
        return
    # fork where there is one: the workers need no import of their own before they start.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    chunk = max(1, min(64, len(rows) // (cores * 4)))
    with ProcessPoolExecutor(max_workers=cores, mp_context=context) as pool:
        hashes = pool.map(passwords.hash_password, secrets, repeat(rounds), chunksize=chunk)
        _store_hashes(rows, hashes, advance)


def _store_hashes(rows: list[_Valid], hashes: Iterable[str], advance: Advance) -> None:
    for entry, hashed in zip(rows, hashes, strict=True):
        entry.stored_hash = hashed
        entry.row.password = None  # not kept any longer than needed
        advance(1)


@dataclass(frozen=True)
class _Patience:
    """How long a row waits out a DynamoDB that does not take it, and how it waits."""

    seconds: float
    pause: Callable[[float], None]

    def run(self, work: Callable[[], _T]) -> _T:
        """`work()`, tried again after doubling pauses while DynamoDB is unavailable."""
        waited, wait = 0.0, _FIRST_WAIT
        while True:
            try:
                return work()
            except ServiceUnavailable:
                if waited + wait > self.seconds:
                    raise
                self.pause(wait)
                waited, wait = waited + wait, min(2 * wait, _LONGEST_WAIT)


@dataclass(frozen=True)
class _Writing:
    """How the rows are written: the options of the import, and where progress goes."""

    on_conflict: str
    dry_run: bool
    workers: int
    patience: _Patience
    report: Callable[[ReportLine], None]
    advance: Advance


# What writing (or checking) one row came to.
_WRITTEN, _PRESENT = "written", "present"


def _write_all(state: AppState, valid: list[_Valid], result: ImportResult, how: _Writing) -> None:
    """Write (or check) the rows, `workers` at a time, in the file's order; stop on failure."""
    work = _check_one if how.dry_run else _write_one
    stop: Exception | None = None
    workers = max(1, how.workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="import") as pool:
        pending: set[Future[str | ReportLine]] = set()

        def settle(until: int) -> None:
            nonlocal pending, stop
            while len(pending) > until:
                done, pending = wait_for(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        outcome = future.result()
                    except ServiceUnavailable as exc:
                        stop = stop or exc
                        continue
                    how.advance(1)
                    if outcome == _WRITTEN:
                        result.written += 1
                    elif outcome == _PRESENT:
                        result.present += 1
                    else:
                        result.conflicts.append(outcome)
                        if how.on_conflict == "fail" and not how.dry_run:
                            stop = stop or Conflict()

        for entry in valid:
            if stop is not None:
                break
            pending.add(pool.submit(how.patience.run, functools.partial(work, state, entry)))
            settle(until=workers - 1)
        settle(until=0)
    result.conflicts.sort(key=lambda conflict: conflict.line)  # they end in any order
    if isinstance(stop, Conflict):
        raise Conflict(
            f"{result.conflicts[0]}; stopped: {result.written} rows written (--on-conflict "
            "skip imports the others)"
        )
    result.skipped = len(result.conflicts)
    for conflict in result.conflicts:
        how.report(conflict)
    if isinstance(stop, ServiceUnavailable):
        raise _stopped(result.written, stop)


def _user_of(state: AppState, entry: _Valid) -> UserItem:
    row, stamp = entry.row, iso(state.now())
    return UserItem(
        username=row.username,
        email=row.email,
        first_name=row.first_name,
        last_name=row.last_name,
        account_type=row.account_type,
        password_hash=entry.stored_hash or "",
        created_at=row.created_at or stamp,
        updated_at=stamp,
        session_key=new_session_key(),
        disabled=row.disabled,
        email_verified=row.email_verified,
    )


def _write_one(state: AppState, entry: _Valid) -> str | ReportLine:
    """Write one user in the API's transaction; what came of it."""
    user = _user_of(state, entry)
    for _attempt in range(_ATTEMPTS):
        try:
            insert_user(state, user)
        except Conflict:
            found = _existing(state, entry.line, user)
            if found is not None:
                return found
            continue  # neither is taken: it lost a race (on the count of admins); again
        return _WRITTEN
    return ReportLine(entry.line, "(row)", "collided with other writes; run the import again")


def _check_one(state: AppState, entry: _Valid) -> str | ReportLine:
    """What writing one user would come to (a dry run): read, never write."""
    return _existing(state, entry.line, _user_of(state, entry)) or _WRITTEN


def _existing(state: AppState, line: int, user: UserItem) -> str | ReportLine | None:
    """Whether the user is there already (present), another holds its name or email, or None."""
    stored = tables.users.get(state.store, user.username)
    if stored is not None:
        if stored.email == user.email:
            return _PRESENT
        return ReportLine(line, "username", "is taken by a user with another email")
    owner = tables.users.owner_of_email(state.store, user.email)
    if owner == user.username:
        reason = "is claimed for a user who is gone (`users check --fix` releases it)"
        return ReportLine(line, "email", reason)
    if owner is not None:
        return ReportLine(line, "email", f"is the email of another user, {owner!r}")
    return None
