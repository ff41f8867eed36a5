"""Session storage: tokens known only by their SHA-256, expiring, revocable."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import Unauthorized
from app.helpers.dynamo import ConditionFailed, DynamoInterface, Item, TableSpec
from app.models import SessionItem, SessionPublic, decode_username, encode_username, iso

SESSIONS = "sessions"
BY_USERNAME = "by_username"
TABLE = TableSpec(
    SESSIONS,
    hash_key="token_hash",
    indexes={BY_USERNAME: "username"},
    ttl_attribute="expires_at",
)
# A token is "<username, base64url>.<32 random bytes, base64url>". The username part lets
# one BatchGetItem read the session and its user together; it grants nothing by itself,
# since the session is found by the SHA-256 of the whole token.
_TOKEN = re.compile(r"([A-Za-z0-9_-]{4,43})\.([A-Za-z0-9_-]{43})")
MAX_LISTED = 100


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live: absolute lifetime, idle timeout, write-back interval."""

    ttl: int
    idle_timeout: int
    refresh_interval: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        """Read the SESSION_* settings."""
        return cls(
            ttl=config["SESSION_TTL"],
            idle_timeout=config["SESSION_IDLE_TIMEOUT"],
            refresh_interval=config["SESSION_REFRESH_INTERVAL"],
        )

    def deadline(self, *, absolute: int, last_seen: int) -> int:
        """When a session last used at `last_seen` expires."""
        return min(absolute, last_seen + self.idle_timeout)


def hash_token(token: str) -> str:
    """The key a token is stored under. The token itself is never stored or logged."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_key() -> str:
    """A random value that ties sessions to one state of a user (see UserItem.session_key)."""
    return secrets.token_urlsafe(16)


def owner_of(token: str) -> str:
    """The username a token names (not yet proof of anything); `Unauthorized` if malformed."""
    match = _TOKEN.fullmatch(token)
    username = decode_username(match[1]) if match else None
    if username is None:
        raise Unauthorized()
    return username


def start(
    store: DynamoInterface, *, username: str, user_key: str, policy: SessionPolicy, now: float
) -> tuple[str, SessionItem]:
    """Open a session; returns the new token (shown once) and the stored session."""
    token = f"{encode_username(username)}.{secrets.token_urlsafe(32)}"
    moment = int(now)
    absolute = moment + policy.ttl
    session = SessionItem(
        token_hash=hash_token(token),
        id=secrets.token_urlsafe(12),
        username=username,
        user_key=user_key,
        created_at=moment,
        last_seen_at=moment,
        expires_at=policy.deadline(absolute=absolute, last_seen=moment),
        absolute_expires_at=absolute,
    )
    store.put(SESSIONS, session.model_dump(), condition="attribute_not_exists(token_hash)")
    return token, session


def key_of(token: str) -> dict[str, str]:
    """The key of a token's session item."""
    return {"token_hash": hash_token(token)}


def alive(item: Item | None, *, owner: str, now: float) -> SessionItem:
    """The session in `item` if it exists, belongs to `owner` and has not expired."""
    if item is None:
        raise Unauthorized()
    session = SessionItem.model_validate(item)
    # DynamoDB's TTL deletes expired items late (up to days): check on every read.
    if session.username != owner or now >= session.expires_at:
        raise Unauthorized()
    return session


def touch(
    store: DynamoInterface, *, session: SessionItem, policy: SessionPolicy, now: float
) -> SessionItem:
    """Record use, at most once per refresh interval, so most requests cost no write."""
    moment = int(now)
    if moment - session.last_seen_at < policy.refresh_interval:
        return session
    expires = policy.deadline(absolute=session.absolute_expires_at, last_seen=moment)
    try:
        store.update(
            SESSIONS,
            {"token_hash": session.token_hash},
            update="SET last_seen_at = :now, expires_at = :expires",
            condition="attribute_exists(token_hash)",
            values={":now": moment, ":expires": expires},
        )
    except ConditionFailed as exc:  # logged out by a concurrent request
        raise Unauthorized() from exc
    return session.model_copy(update={"last_seen_at": moment, "expires_at": expires})


def end(store: DynamoInterface, *, session: SessionItem) -> None:
    """Delete a session: its token fails from now on."""
    store.delete(SESSIONS, {"token_hash": session.token_hash})


def of_user(store: DynamoInterface, *, username: str) -> list[SessionItem]:
    """A user's stored sessions, live or not, newest first (at most MAX_LISTED)."""
    items = store.query_index(SESSIONS, BY_USERNAME, value=username, limit=MAX_LISTED)
    sessions = [SessionItem.model_validate(item) for item in items]
    return sorted(sessions, key=lambda s: s.created_at, reverse=True)


def purge(store: DynamoInterface, *, username: str, keep: str | None = None) -> None:
    """Delete every stored session of a user but `keep` (a token hash).

    Tidying, not revocation: the index may not list the newest sessions yet (DynamoDB's
    indexes are eventually consistent); those already fail on their stale user key.
    """
    items = store.query_index(SESSIONS, BY_USERNAME, value=username)
    doomed = [item["token_hash"] for item in items if item["token_hash"] != keep]
    store.delete_many(SESSIONS, [{"token_hash": token_hash} for token_hash in doomed])


def view(session: SessionItem, *, current: SessionItem | None) -> SessionPublic:
    """What the owner sees of a session: times and an id, never the token or its hash."""
    return SessionPublic(
        id=session.id,
        created_at=iso(session.created_at),
        last_seen_at=iso(session.last_seen_at),
        expires_at=iso(session.expires_at),
        current=current is not None and session.id == current.id,
    )
