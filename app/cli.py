"""Operators' commands, on Flask's CLI: `flask --app app users --help`.

Each command builds nothing of its own: it calls the same services as the API, as the
operator (an admin named "(operator)" in the security events), against the app's DynamoDB.
Success exits 0; a failure exits 1 with one line. No command prints a password or a hash.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup
from pydantic import ValidationError

from app.errors import AppError, ValidationFailed
from app.helpers import consistency, factors, keyring, sessions, tables, transfer, users
from app.helpers.state import current_state
from app.models import UserCreate, UserItem, UserSummary, UserUpdate

group = AppGroup("users", help="Manage the users: create the first admin, and more.")
ACCOUNT_TYPES = click.Choice(["admin_user", "standard_user"])


@contextmanager
def _one_line_failures() -> Iterator[None]:
    """Turn the service's errors into one line on standard error and exit status 1."""
    try:
        yield
    except ValidationFailed as exc:
        fields = "; ".join(f"{e['field']}: {e['detail']}" for e in exc.errors or [])
        raise click.ClickException(f"{exc.detail} {fields}".strip()) from exc
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise click.ClickException(f"The request has invalid fields. {fields}") from exc
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc


def _command(name: str, **options: Any) -> Callable[[Callable[..., None]], Any]:
    """A command of the group whose service errors become one line and exit status 1."""

    def decorate(function: Callable[..., None]) -> Any:
        @functools.wraps(function)  # with the options and arguments click attached to it
        def run(*args: Any, **kwargs: Any) -> None:
            # A failure's own line says it all: not a second from the store's warning about
            # it. The security events still go to the app's loggers.
            store_log = logging.getLogger("app.helpers.dynamo")
            level = store_log.level
            store_log.setLevel(logging.ERROR)
            try:
                with _one_line_failures():
                    function(*args, **kwargs)
            finally:
                store_log.setLevel(level)
                # Mails the command caused (a notice of a new password) leave before the
                # process does: the mail workers are daemon threads.
                if not current_state().mailer.flush(timeout=_MAIL_WAIT):
                    click.echo(f"some mail was still unsent after {_MAIL_WAIT:.0f} s", err=True)

        return group.command(name, **options)(run)

    return decorate


_MAIL_WAIT = 30.0


def _new_password(from_stdin: bool) -> str:
    """The new password: one line of standard input, or typed twice without echo."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.ClickException("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _change(username: str, changes: UserUpdate) -> UserItem:
    """Apply `changes` to a user as the operator (an admin changing another's account)."""
    return users.update_user(
        current_state(), actor=users.OPERATOR, username=username, changes=changes
    )


def _describe(user: UserItem) -> str:
    return (
        f"{user.username}  {user.account_type}{'  DISABLED' if user.disabled else ''}  "
        f"{user.email} ({'verified' if user.email_verified else 'not verified'})  "
        f"{'TOTP  ' if user.totp_secret else ''}"
        f"{f'{len(user.passkey_ids)} passkeys  ' if user.passkey_ids else ''}"
        f"{user.first_name} {user.last_name}  (created {user.created_at})"
    )


password_stdin = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (one line)."
)


@_command("init-db")
def init_db() -> None:
    """Create every table, TTL and index that is missing; wait until each is active.

    Users stored before the search index are added to it.
    """
    store = current_state().store
    for table in store.table_names():
        created = store.ensure_table(table)
        added = store.ensure_indexes(table)
        done = "created" if created else "exists"
        click.echo(
            f"{store.table_name(table)}: {done}{''.join(f', index {i} added' for i in added)}"
        )
    shards = tables.users.add_shards(store)
    if shards:
        click.echo(f"{shards} user{'s' if shards != 1 else ''} added to the search index")


@_command("create")
@click.argument("username")
@click.option("--email", required=True)
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--admin", is_flag=True, help="Make an admin (how the first admin is made).")
@click.option(
    "--verified", is_flag=True, help="The email counts as verified: no verification mail."
)
@password_stdin
def create(
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    admin: bool,
    verified: bool,
    password_stdin: bool,
) -> None:
    """Create a user, with the API's validation and password policy.

    Without --verified, the user is mailed a verification link (MAIL_BACKEND).
    """
    password = _new_password(password_stdin)
    data = UserCreate(
        username=username,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        account_type="admin_user" if admin else "standard_user",
        email_verified=verified,
    )
    user = users.create_user(current_state(), data=data, actor=users.OPERATOR)
    mailed = "email verified" if user.email_verified else f"verification mail to {user.email}"
    click.echo(f"created {user.username} ({user.account_type}; {mailed})")


@_command("set-password")
@click.argument("username")
@password_stdin
def set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password; every session of the user ends."""
    user = _change(username, UserUpdate(password=_new_password(password_stdin)))
    click.echo(f"password of {user.username} set; their sessions have ended")


@_command("verify-email")
@click.argument("username")
def verify_email(username: str) -> None:
    """Mark a user's email verified, without a mail (the owner proved it another way)."""
    user = _change(username, UserUpdate(email_verified=True))
    click.echo(f"email of {user.username} ({user.email}) marked verified")


@_command("set-type")
@click.argument("username")
@click.argument("account_type", metavar="admin_user|standard_user", type=ACCOUNT_TYPES)
def set_type(username: str, account_type: str) -> None:
    """Make a user an admin or a standard user (there is always at least one admin)."""
    user = _change(username, UserUpdate(account_type=account_type))
    click.echo(f"{user.username} is {user.account_type}")


@_command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account: its sessions end and signing in is refused until it is enabled."""
    user = _change(username, UserUpdate(disabled=True))
    click.echo(f"{user.username} disabled; their sessions have ended")


@_command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a disabled account: the user can sign in again."""
    user = _change(username, UserUpdate(disabled=False))
    click.echo(f"{user.username} enabled")


@_command("unlock")
@click.argument("username")
def unlock(username: str) -> None:
    """Forget a user's failed logins: a locked account can log in at once."""
    users.unlock_user(current_state(), actor=users.OPERATOR, username=username)
    click.echo(f"{username} unlocked")


@_command("revoke-sessions")
@click.argument("username")
def revoke_sessions(username: str) -> None:
    """End every session of a user at once."""
    sessions.revoke_all(current_state(), actor=users.OPERATOR, username=username)
    click.echo(f"every session of {username} has ended")


@_command("reset-mfa")
@click.argument("username")
def reset_mfa(username: str) -> None:
    """Remove a user's second factors (TOTP, passkeys, recovery codes); end their sessions."""
    factors.reset(current_state(), username=username, by=users.OPERATOR.username)
    click.echo(f"{username}: second factors removed, every session ended")


@_command("new-key")
def new_key() -> None:
    """Print a new key for SECRET_KEYS (put it first; keep the old ones until rotate-keys)."""
    click.echo(keyring.new_key())


@_command("rotate-keys")
def rotate_keys() -> None:
    """Encrypt every stored TOTP secret again with the newest key of SECRET_KEYS."""
    count = factors.rotate_secrets(current_state())
    click.echo(f"{_plural(count, 'secret')} encrypted with the newest key; older keys may go")


@_command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(username: str, yes: bool) -> None:
    """Delete a user, release their email and end their sessions."""
    user = users.get_user(current_state(), username=username)
    if not yes:
        click.confirm(f"Delete {user.username} ({user.email}) for good?", abort=True)
    users.delete_user(current_state(), actor=users.OPERATOR, username=user.username)
    click.echo(f"deleted {user.username}")


@_command("list")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many.")
@click.option("--type", "account_type", type=ACCOUNT_TYPES, default=None)
@click.option("--disabled", is_flag=True, help="Only the disabled accounts.")
@click.option("--prefix", default=None, help="Only usernames starting with this, in order.")
def list_users(
    limit: int | None, account_type: str | None, disabled: bool, prefix: str | None
) -> None:
    """List users, 100 at a time: in no order, or in username order with --prefix."""
    state, cursor, shown = current_state(), None, 0
    while limit is None or shown < limit:
        page, cursor = users.list_users(
            state, limit=100, cursor=cursor, actor=users.OPERATOR, prefix=prefix
        )
        for user in page:
            if account_type and user.account_type != account_type:
                continue
            off = isinstance(user, UserSummary) and user.disabled
            if disabled and not off:
                continue
            state_mark = "  DISABLED" if off else ""
            name = f"{user.first_name} {user.last_name}"
            click.echo(f"{user.username}  {user.account_type}{state_mark}  {name}")
            shown += 1
            if limit is not None and shown >= limit:
                break
        if cursor is None:
            break
    click.echo(f"{shown} user{'s' if shown != 1 else ''}")


@_command("show")
@click.argument("username_or_email")
def show(username_or_email: str) -> None:
    """Show one user, found by username or by exact email."""
    user = users.find_user(current_state(), username_or_email=username_or_email)
    click.echo(_describe(user))


@_command("check")
@click.option("--fix", is_flag=True, help="Repair each problem, with conditional writes.")
def check(fix: bool) -> None:
    """Find leftovers that should never exist, and with --fix repair them.

    Email claims whose user is gone or has another email, users whose email is unclaimed,
    users missing from the search index, sessions of deleted users.
    """
    state = current_state()
    problems = consistency.find_problems(state)
    for problem in problems:
        if fix:
            repaired = consistency.repair(state, problem)
            outcome = "repaired" if repaired else "no longer a problem"
            click.echo(f"{outcome}: {problem.description}")
        else:
            click.echo(problem.description)
    if not problems:
        click.echo("no problems found")
    elif not fix:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise click.ClickException(f"{count} found: run `users check --fix` to repair them")


@contextmanager
def _progress(phase: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Click's progress bar on standard error: rows done (of how many) and rows per second."""
    started = time.monotonic()

    def rate(_item: object) -> str:
        return f"{bar.pos / max(time.monotonic() - started, 1e-9):,.0f} rows/s"

    # Without a total, click shows the rows done without a percentage.
    counting: Any = {"length": total} if total is not None else {"iterable": itertools.count()}
    bar = click.progressbar(
        **counting, label=phase, show_pos=True, item_show_func=rate, file=sys.stderr
    )
    with bar:
        yield bar.update


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


FORMATS = click.Choice(transfer.FORMATS)


@_command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=FORMATS, help="jsonl or csv (default: the file's extension).")
@click.option(
    "--on-conflict",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="When another user has a row's username or email: stop, or report it and go on.",
)
@click.option("--dry-run", is_flag=True, help="Check every row against the file and the table.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the rejected rows here (default: standard error).",
)
@click.option(
    "--retry-for",
    type=click.FloatRange(0),
    default=transfer.RETRY_FOR,
    show_default=True,
    help="Seconds to wait out a throttled or unreachable DynamoDB before stopping.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=transfer.WRITERS,
    show_default=True,
    help="Users written at once, each in its own transaction.",
)
def import_users(
    file: str,
    fmt: str | None,
    on_conflict: str,
    dry_run: bool,
    report_path: str | None,
    retry_for: float,
    workers: int,
) -> None:
    """Import users from FILE (JSON Lines or CSV; `-`: standard input).

    Each row is the registration body with a `password`, or a `password_hash` and its
    `hash_scheme` (bcrypt-sha256, bcrypt or argon2id); optionally `disabled` and
    `created_at`. Every row is checked before any is written; a user already there with
    the same email is left as it is, so running an import again finishes it.
    """
    fmt = transfer.format_of(file, fmt)
    with contextlib.ExitStack() as stack:
        source = sys.stdin.buffer if file == "-" else stack.enter_context(open(file, "rb"))
        report_to = (
            stack.enter_context(open(report_path, "w", encoding="utf-8"))
            if report_path
            else sys.stderr
        )
        result = transfer.import_users(
            current_state(),
            source,
            fmt=fmt,
            on_conflict="skip" if on_conflict == "skip" else "fail",
            dry_run=dry_run,
            workers=workers,
            retry_for=retry_for,
            report=lambda line: click.echo(str(line), file=report_to),
            progress=_progress,
        )
    rows = _plural(result.rows, "row")
    if dry_run:
        click.echo(
            f"dry run, {rows}: {result.written:,} to write, {result.present:,} already present, "
            f"{len(result.conflicts):,} in conflict, {result.rejected:,} rejected; nothing "
            f"written ({result.seconds:.1f} s)"
        )
    else:
        click.echo(
            f"{rows}: {result.written:,} written, {result.present:,} already present, "
            f"{result.skipped:,} skipped (conflict), {result.rejected:,} rejected in "
            f"{result.seconds:.1f} s ({result.rate:,.0f} rows/s)"
        )
    where = f" in {report_path}" if report_path else ""
    if result.rejected:
        raise click.ClickException(
            f"{_plural(result.rejected, 'row')} rejected: see the report{where}"
        )
    if dry_run and result.conflicts and on_conflict == "fail":
        first = min(conflict.line for conflict in result.conflicts)
        raise click.ClickException(
            f"the import would stop at line {first} (--on-conflict skip imports the others)"
        )


@_command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, writable=True))
@click.option("--format", "fmt", type=FORMATS, help="jsonl or csv (default: the file's extension).")
@click.option(
    "--include-hashes",
    is_flag=True,
    help="Also write each password hash with its scheme (to move users, signing in as before).",
)
def export_users(file: str, fmt: str | None, include_hashes: bool) -> None:
    """Export every user to FILE (JSON Lines or CSV; `-`: standard output), never a session.

    The file is readable by its owner only, and appears only once complete.
    """
    fmt = transfer.format_of(file, fmt)
    started = time.monotonic()
    with transfer.private_output(file) as out:
        count = transfer.export_users(
            current_state(), out, fmt=fmt, include_hashes=include_hashes, progress=_progress
        )
    seconds = time.monotonic() - started
    hashes = ", with their password hashes" if include_hashes else ""
    click.echo(
        f"exported {_plural(count, 'user')}{hashes} to {file} in {seconds:.1f} s "
        f"({count / max(seconds, 1e-9):,.0f} rows/s)",
        err=file == "-",
    )
