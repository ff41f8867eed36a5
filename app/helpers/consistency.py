"""What must never exist in the tables, found and repaired (`flask --app app users check`).

Every write of the app keeps the tables consistent, in transactions. What an operator does
by hand does not: deleting the users table under a running app leaves email claims whose
user is gone, and those addresses can never be registered again. This finds such leftovers
with paginated Scans, and repairs each with a transaction that holds only if it is still a
leftover when the repair lands (a user registering that email meanwhile wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.helpers.dynamo import Item, TransactionCanceled, Write
from app.helpers.tables import sessions, users

if TYPE_CHECKING:
    from app.helpers.dynamo import DynamoInterface
    from app.helpers.state import AppState

PAGE = 500


@dataclass(frozen=True)
class Problem:
    """One leftover: what it is, and the transaction that repairs it."""

    description: str
    repair: tuple[Write, ...]


def find_problems(state: AppState) -> list[Problem]:
    """Every leftover in the users, email claims and sessions tables."""
    store = state.store
    stored = list(_scan(store, users.USERS, "username", "email", "shard"))
    emails = {item["username"]: item["email"] for item in stored}
    claims = {
        item["email"]: item["username"] for item in _scan(store, users.EMAILS, "email", "username")
    }
    problems = []
    for email, owner in sorted(claims.items()):
        if emails.get(owner) != email:
            problems.append(_orphan_claim(email, owner, gone=owner not in emails))
    for username, email in sorted(emails.items()):
        if claims.get(email) != username:
            problems.append(_unclaimed_email(username, email))
    for item in stored:
        if "shard" not in item:
            problems.append(_not_in_index(item["username"]))
    for session in _scan(store, sessions.SESSIONS, "token_hash", "username", "id"):
        if session["username"] not in emails:
            problems.append(_orphan_session(session))
    return problems


def repair(state: AppState, problem: Problem) -> bool:
    """Apply a problem's repair; False when it was no longer a problem (nothing written)."""
    try:
        state.store.transact_write(problem.repair)
    except TransactionCanceled:
        return False
    return True


def _scan(store: DynamoInterface, table: str, *attributes: str) -> Iterator[Item]:
    store.ensure_table(table)
    start = None
    while True:
        items, start = store.scan_page(table, limit=PAGE, start_key=start, attributes=attributes)
        yield from items
        if start is None:
            return


def _orphan_claim(email: str, owner: str, *, gone: bool) -> Problem:
    """A claim on `email` by a user who is gone or has another email: delete it, if still so."""
    why = "is gone" if gone else "has another email"
    return Problem(
        f"email claim {email!r} belongs to {owner!r}, who {why}",
        (
            Write(
                "Delete",
                users.EMAILS,
                {"email": email},
                condition="username = :u",
                values={":u": owner},
            ),
            # Only while the user is still gone, or still has another email.
            Write(
                "ConditionCheck",
                users.USERS,
                users.key(owner),
                condition="attribute_not_exists(username) OR email <> :e",
                values={":e": email},
            ),
        ),
    )


def _unclaimed_email(username: str, email: str) -> Problem:
    """A user whose email has no claim (or another's): claim it, if still unclaimed."""
    return Problem(
        f"user {username!r} has the email {email!r}, which is not claimed for them",
        (
            Write(
                "Put",
                users.EMAILS,
                {"email": email, "username": username},
                condition="attribute_not_exists(email)",
            ),
            Write(
                "ConditionCheck",
                users.USERS,
                users.key(username),
                condition="email = :e",
                values={":e": email},
            ),
        ),
    )


def _not_in_index(username: str) -> Problem:
    """A user stored before the search index, so missing from it: give them their shard."""
    return Problem(
        f"user {username!r} is not in the search index (stored before it)",
        (users.give_shard(username),),
    )


def _orphan_session(session: Item) -> Problem:
    """A stored session whose user is gone: dead already (no user), so only tidied."""
    return Problem(
        f"session {session['id']!r} belongs to {session['username']!r}, who is gone",
        (
            Write(
                "Delete",
                sessions.SESSIONS,
                sessions.key(session["token_hash"]),
                condition="username = :u",
                values={":u": session["username"]},
            ),
            Write(
                "ConditionCheck",
                users.USERS,
                users.key(session["username"]),
                condition="attribute_not_exists(username)",
            ),
        ),
    )
