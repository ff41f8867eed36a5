"""Users in and out of the tables in bulk: `flask users import FILE` and `flask users export FILE`.

A file is JSON Lines (one object a line) or CSV (a header, then one row a line), each row
the API's registration body with either a `password` or a `password_hash` and its
`hash_scheme` (see `app.helpers.passwords`). Import reads and checks every row before it
writes any, reports each rejected row by line, field and reason (never a password or a
hash), hashes plain passwords on every core, and writes each user with the API's own
transaction (`users.insert_user`), a few at a time. Writing is idempotent: a user already
there with the same email counts as already imported, so running an interrupted import
again finishes it. Export streams the users table a Scan page at a time.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import Conflict, ServiceUnavailable, ValidationFailed
from app.helpers import passwords, tables
from app.helpers.clock import iso
from app.helpers.users import insert_user, new_session_key
from app.models import AccountType, Email, Name, Password, UserItem, Username, printable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from app.helpers.state import AppState

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
# A longer line is refused without being read into memory (a user is well under 2 KiB).
MAX_LINE_BYTES = 64 * 1024
# The columns an import reads; export writes these but the password, and the hash columns
# only when asked to.
COLUMNS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "account_type",
    "password",
    "password_hash",
    "hash_scheme",
    "disabled",
    "created_at",
)
REQUIRED = ("username", "email", "first_name", "last_name")
EXPORT_COLUMNS = ("username", "email", "first_name", "last_name", "account_type", "disabled")
HASH_COLUMNS = ("hash_scheme", "password_hash")
WRITERS = 4  # concurrent writes: each one DynamoDB transaction
# A bulk write meets throttling where a request would not: wait it out this long (seconds),
# pausing from half a second, doubling up to eight, before an import stops.
RETRY_FOR = 30.0
_FIRST_WAIT, _LONGEST_WAIT = 0.5, 8.0
EXPORT_PAGE = 500
# A write that lost a race with another (on the count of admins) is tried this often.
_ATTEMPTS = 3
_NAME_LENGTH = 40  # of a field name quoted in the report (the file may hold anything there)

_T = TypeVar("_T")
Advance = Callable[[int], None]
# `progress(phase, total)` is entered once per phase; what it yields is told each step done.
Progress = Callable[[str, "int | None"], "AbstractContextManager[Advance]"]


@contextlib.contextmanager
def no_progress(_phase: str, _total: int | None) -> Iterator[Advance]:
    """A progress display that shows nothing."""
    yield lambda _count: None


@dataclass(frozen=True)
class ReportLine:
    """A rejected (or skipped) row: its line, the field at fault, and why; never its values."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


class ImportRow(BaseModel):
    """One row of an import file: the registration body, with a password or a hash."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    username: Username
    email: Email
    first_name: Name
    last_name: Name
    account_type: AccountType = "standard_user"
    password: Password = None  # type: ignore[assignment]
    password_hash: str | None = Field(None, max_length=512, repr=False)
    hash_scheme: str | None = Field(None, max_length=32)
    disabled: bool = False
    created_at: str | None = Field(None, max_length=64)

    @field_validator("created_at")
    @classmethod
    def _a_time(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ValueError("must be an ISO 8601 time with its time zone")
        return iso(moment.astimezone(UTC).timestamp())


@dataclass
class _Valid:
    """A row that passed every check, and its hash as it will be stored."""

    line: int
    row: ImportRow
    stored_hash: str | None  # None until its plain password is hashed


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


def format_of(name: str, chosen: str | None = None) -> str:
    """The file format: `chosen`, else the name's extension's (`ValidationFailed`: neither)."""
    if chosen:
        return chosen
    if name == "-":
        raise ValidationFailed("Give --format jsonl|csv to use standard input or output ('-').")
    found = _EXTENSIONS.get(Path(name).suffix.lower())
    if found is None:
        raise ValidationFailed(
            f"Cannot tell the format of {name!r}: name it .jsonl, .ndjson or .csv, or give "
            "--format jsonl|csv."
        )
    return found


# -- import -----------------------------------------------------------------------------------


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


@dataclass
class CheckedFile:
    """A file read and checked: how many rows, the valid ones, and why each other was not."""

    rows: int = 0
    valid: list[_Valid] = field(default_factory=list)
    rejected: list[ReportLine] = field(default_factory=list)


def check_file(source: IO[bytes], *, fmt: str) -> CheckedFile:
    """Read every row of `source` and check it, as the API checks a registration, and more.

    A CSV header that is not usable refuses the whole file (`ValidationFailed`).
    """
    records = _jsonl_records(source) if fmt == "jsonl" else _csv_records(source)
    checked = CheckedFile()
    usernames: dict[str, int] = {}
    emails: dict[str, int] = {}
    for line, record in records:
        checked.rows += 1
        problem = record if isinstance(record, ReportLine) else None
        entry = None
        if isinstance(record, dict):
            entry, problem = _validate(line, record)
        if entry is not None:
            row = entry.row
            if row.username in usernames:
                problem = ReportLine(line, "username", f"repeats line {usernames[row.username]}")
            elif row.email in emails:
                problem = ReportLine(line, "email", f"repeats line {emails[row.email]}")
            else:
                usernames[row.username], emails[row.email] = line, line
                checked.valid.append(entry)
        if problem is not None:
            checked.rejected.append(problem)
    return checked


def _validate(line: int, record: dict[str, Any]) -> tuple[_Valid | None, ReportLine | None]:
    """The row, or the first thing wrong with it (one report line per row)."""
    try:
        row = ImportRow.model_validate(record)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else "(row)"
        reason = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            name, reason = printable(name)[:_NAME_LENGTH], "is not a known field"
        return None, ReportLine(line, name, reason)
    if row.password is not None:
        if row.password_hash is not None or row.hash_scheme is not None:
            return None, ReportLine(line, "password", "give a password or a hash, not both")
        problem = passwords.policy_problem(row.password, username=row.username, email=row.email)
        if problem:
            return None, ReportLine(line, "password", problem)
        return _Valid(line, row, None), None
    if row.password_hash is None:
        return None, ReportLine(line, "password", "a password, or a password_hash, is required")
    if row.hash_scheme is None:
        return None, ReportLine(line, "hash_scheme", "is required with a password_hash")
    if row.hash_scheme not in passwords.SCHEMES:
        known = ", ".join(passwords.SCHEMES)
        return None, ReportLine(line, "hash_scheme", f"is not one of {known}")
    try:
        stored = passwords.stored_form(row.hash_scheme, row.password_hash)
    except ValueError as exc:
        return None, ReportLine(line, "password_hash", str(exc))
    return _Valid(line, row, stored), None


Record = dict[str, Any] | ReportLine


def _physical_lines(source: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Each line's number and bytes; None for a line too long to read (skipped, not kept)."""
    number = 0
    while raw := source.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := source.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark (Excel's CSV)
        yield number, raw


def _too_long(line: int) -> ReportLine:
    return ReportLine(line, "(line)", f"is longer than {MAX_LINE_BYTES // 1024} KiB")


def _not_text(line: int, exc: UnicodeDecodeError) -> ReportLine:
    return ReportLine(line, "(line)", f"is not UTF-8 text (byte {exc.start + 1} of the line)")


def _jsonl_records(source: IO[bytes]) -> Iterator[tuple[int, Record]]:
    """Each non-blank line as an object, or why it is not one."""
    for line, raw in _physical_lines(source):
        if raw is None:
            yield line, _too_long(line)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield line, _not_text(line, exc)
            continue
        if not text.strip():
            continue
        try:
            value = json.loads(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield line, ReportLine(line, "(line)", f"is not JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            yield line, ReportLine(line, "(line)", "is not JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            yield line, ReportLine(line, "(line)", "is not a JSON object")
            continue
        yield line, {key: item for key, item in value.items() if item is not None}


def _csv_records(source: IO[bytes]) -> Iterator[tuple[int, Record]]:
    """Each row after the header as {column: value}, empty cells left out; or what is wrong.

    A header that names an unknown column, or lacks a required one, refuses the whole file
    (`ValidationFailed`, before any row is read).
    """
    bad: dict[int, ReportLine] = {}

    def texts() -> Iterator[str]:
        for line, raw in _physical_lines(source):
            if raw is None:
                bad[line] = _too_long(line)
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad[line] = _not_text(line, exc)
                yield raw.decode("utf-8", "replace")  # its quotes still delimit fields

    reader = csv.reader(texts(), strict=True)
    header: list[str] | None = None
    last = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first, last = last + 1, reader.line_num
            yield first, bad.get(first) or ReportLine(first, "(line)", f"is not CSV: {exc}")
            continue
        first, last = last + 1, reader.line_num
        problems = [bad[n] for n in range(first, last + 1) if n in bad]
        if header is None:
            header = [name.strip() for name in record]
            refused = problems[0] if problems else _header_problem(header)
            if refused is not None:
                raise ValidationFailed(f"{refused}: nothing was imported")
            continue
        if problems:
            yield first, problems[0]
        elif not any(cell.strip() for cell in record):
            continue  # a blank line
        elif len(record) != len(header):
            reason = f"has {len(record)} fields; the header has {len(header)}"
            yield first, ReportLine(first, "(line)", reason)
        else:
            yield first, {name: cell for name, cell in zip(header, record, strict=True) if cell}


def _header_problem(header: list[str]) -> ReportLine | None:
    """Why a CSV header cannot be read as columns of users, or None."""
    if not any(header):
        return ReportLine(1, "(header)", "is empty: a CSV file starts with its column names")
    for name in header:
        if name not in COLUMNS:
            known = ", ".join(COLUMNS)
            quoted = printable(name)[:_NAME_LENGTH] or "(empty)"
            return ReportLine(1, quoted, f"is not a column ({known})")
        if header.count(name) > 1:
            return ReportLine(1, name, "is named twice")
    for name in REQUIRED:
        if name not in header:
            return ReportLine(1, name, "is a required column")
    return None


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


# -- export -----------------------------------------------------------------------------------


def export_rows(
    state: AppState, *, include_hashes: bool = False, page_size: int = EXPORT_PAGE
) -> Iterator[dict[str, Any]]:
    """Every user as an import row, a Scan page at a time; hashes (with scheme) if asked."""
    for user in tables.users.all_items(state.store, page_size=page_size):
        row: dict[str, Any] = {name: getattr(user, name, False) for name in EXPORT_COLUMNS}
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
                writer.writerow({**row, "disabled": str(row["disabled"]).lower()})
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
            advance(1)
    return count


@contextlib.contextmanager
def private_output(path: str) -> Iterator[IO[str]]:
    """A text file only its owner can read, there only once complete (standard output: `-`).

    It is written beside `path` and renamed over it at the end: an export that fails
    leaves no half-written file and whatever `path` held before.
    """
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    handle, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
