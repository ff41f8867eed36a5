"""Import and export files: their formats, reading and checking each row, writing safely.

A file is JSON Lines (one object a line) or CSV (a header, then one row a line), each row
the API's registration body with either a `password` or a `password_hash` and its
`hash_scheme` (see `app.helpers.passwords`). Every row is read and checked before anything
is written; a rejected one is reported by line, field and reason, never with its values.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import ValidationFailed
from app.helpers import passwords
from app.helpers.clock import iso
from app.models import AccountType, Email, Name, Password, Username, printable

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

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
    "email_verified",
    "created_at",
)
REQUIRED = ("username", "email", "first_name", "last_name")
_NAME_LENGTH = 40  # of a field name quoted in the report (the file may hold anything there)
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
    # Whether the system it comes from had proven the address (no verification mail is sent).
    email_verified: bool = False
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
