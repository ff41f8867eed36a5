"""The one-time tokens table: mailed links (password reset, email verification), by hash."""

from __future__ import annotations

from app.helpers.dynamo import DynamoInterface, TableSpec, TransactionCanceled, Write
from app.helpers.tables.conditional import Changed
from app.models import TokenItem, TokenPurpose

TOKENS = "one_time_tokens"
SPEC = TableSpec(TOKENS, hash_key="token_hash", ttl_attribute="expires_at")


def key(token_hash: str) -> dict[str, str]:
    """The key of a token's item."""
    return {"token_hash": token_hash}


def insert(store: DynamoInterface, token: TokenItem) -> None:
    """Store a new token (never over another: 256 random bits do not collide)."""
    store.put(TOKENS, token.model_dump(), condition="attribute_not_exists(token_hash)")


def get(store: DynamoInterface, token_hash: str) -> TokenItem | None:
    """The stored token, or None (expired ones too: DynamoDB's TTL deletes late, if ever)."""
    item = store.get(TOKENS, key(token_hash))
    return TokenItem.model_validate(item) if item else None


def live(
    store: DynamoInterface, token_hash: str | None, purpose: TokenPurpose, *, now: float
) -> TokenItem | None:
    """The stored token of `purpose` under `token_hash`, while unexpired; else None."""
    token = get(store, token_hash) if token_hash else None
    if token is None or token.purpose != purpose or token.expires_at <= now:
        return None
    return token


def _spend(token: TokenItem, *, now: int) -> Write:
    """The write that uses a token up, inside the transaction that does what it allows.

    It holds only while the token is stored and unexpired: of two requests with one token,
    one transaction wins and the other is cancelled.
    """
    return Write(
        "Delete",
        TOKENS,
        key(token.token_hash),
        condition="attribute_exists(token_hash) AND expires_at > :now",
        values={":now": now},
    )


def discard(store: DynamoInterface, token_hash: str) -> None:
    """Delete a token that can no longer be used (tidying: it is refused either way)."""
    store.delete(TOKENS, key(token_hash))


class Spent(Exception):
    """The token was used (or expired) before this use could happen."""


def use(store: DynamoInterface, token: TokenItem, *, now: int, writes: list[Write]) -> None:
    """Use a token up and make `writes`, all or none.

    `Spent` when the token is gone or expired; `Changed` when one of `writes` found its
    item in another state than required (the token is then left as it was).
    """
    try:
        store.transact_write([_spend(token, now=now), *writes])
    except TransactionCanceled as exc:
        if exc.reasons and exc.reasons[0] == "ConditionalCheckFailed":
            raise Spent() from exc
        raise Changed() from exc
