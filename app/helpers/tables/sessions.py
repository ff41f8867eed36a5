"""The sessions table: one item per session, keyed by the SHA-256 of its token."""

from __future__ import annotations

from app.helpers.dynamo import DynamoInterface, Index, TableSpec, TransactionCanceled, Write
from app.helpers.tables import users
from app.helpers.tables.conditional import Changed, update_existing
from app.models import SessionItem, UserItem

SESSIONS = "sessions"
BY_USERNAME = "by_username"
_EXISTS = "attribute_exists(token_hash)"
SPEC = TableSpec(
    SESSIONS,
    hash_key="token_hash",
    indexes={BY_USERNAME: Index("username")},
    ttl_attribute="expires_at",
)


def key(token_hash: str) -> dict[str, str]:
    """The key of a session's item."""
    return {"token_hash": token_hash}


def insert(store: DynamoInterface, session: SessionItem) -> None:
    """Store a new session (never over another: token hashes are unique)."""
    store.put(SESSIONS, session.model_dump(), condition="attribute_not_exists(token_hash)")


def get_with_user(
    store: DynamoInterface, token_hash: str, username: str
) -> tuple[SessionItem | None, UserItem | None]:
    """A session and the user it names, read together in one round trip."""
    found = store.batch_get({SESSIONS: key(token_hash), users.USERS: users.key(username)})
    session, user = found[SESSIONS], found[users.USERS]
    return (
        SessionItem.model_validate(session) if session else None,
        UserItem.model_validate(user) if user else None,
    )


def touch(store: DynamoInterface, token_hash: str, *, last_seen: int, expires: int) -> None:
    """Record a session's use and its new deadline; `Changed` when it was ended meanwhile."""
    fields = {"last_seen_at": last_seen, "expires_at": expires}
    update_existing(store, SESSIONS, key(token_hash), fields, condition=_EXISTS)


def set_authenticated(store: DynamoInterface, token_hash: str, *, at: int) -> None:
    """Record that the password was proven in a session; `Changed` when it has ended."""
    fields = {"authenticated_at": at}
    update_existing(store, SESSIONS, key(token_hash), fields, condition=_EXISTS)


def step_up(
    store: DynamoInterface, token_hash: str, *, at: int, amr: list[str], spend: list[Write]
) -> None:
    """Record a second factor proven in a session, and use its code up, both or neither.

    `Changed` when the session has ended or the code was used meanwhile.
    """
    try:
        store.transact_write([stepped_up(token_hash, at=at, amr=amr), *spend])
    except TransactionCanceled as exc:
        raise Changed() from exc


def stepped_up(token_hash: str, *, at: int, amr: list[str]) -> Write:
    """The write that records a second factor proven in a session (while it lasts)."""
    return Write(
        "Update",
        SESSIONS,
        key(token_hash),
        update="SET authenticated_at = :at, second_factor_at = :at, amr = :amr",
        condition=_EXISTS,
        values={":at": at, ":amr": amr},
    )


def delete(store: DynamoInterface, token_hash: str) -> None:
    """Delete one session."""
    store.delete(SESSIONS, key(token_hash))


def of_user(
    store: DynamoInterface, username: str, *, limit: int | None = None
) -> list[SessionItem]:
    """A user's stored sessions, through the username index (eventually consistent)."""
    items = store.query_index(SESSIONS, BY_USERNAME, value=username, limit=limit)
    return [SessionItem.model_validate(item) for item in items]


def delete_of_user(store: DynamoInterface, username: str, *, keep: str | None = None) -> None:
    """Delete every session the index lists for a user, but `keep` (a token hash)."""
    doomed = [s.token_hash for s in of_user(store, username) if s.token_hash != keep]
    store.delete_many(SESSIONS, [key(token_hash) for token_hash in doomed])


def adopt_key(session: SessionItem, user_key: str) -> Write:
    """The write that moves a session to its user's new session key (inside a transaction)."""
    return Write(
        "Update",
        SESSIONS,
        key(session.token_hash),
        update="SET user_key = :key",
        condition="attribute_exists(token_hash)",
        values={":key": user_key},
    )
