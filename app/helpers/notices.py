"""What the service mails, and the one-time tokens its links carry.

Every mail is composed and sent off the request path (`Mailer.submit`): the reading of the
account, the budget, the token and the delivery happen in a worker thread. A request that
asks for a reset therefore takes the same time whether or not the account exists.

A token is 256 random bits, mailed once, stored only as its SHA-256 with what it is for,
and used up by the transaction that does what it allows (app/helpers/recovery.py). A reset
token also carries a digest of the password hash and the email it was issued under: any
new password or new address, by whatever route, ends it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import has_request_context, request
from limits import RateLimitItem, parse_many

from app.helpers import events, tables
from app.helpers.mail import Message
from app.helpers.messages import masked
from app.models import TokenItem, TokenPurpose, UserItem, canonical_username

if TYPE_CHECKING:
    from app.helpers.state import AppState

log = logging.getLogger(__name__)

RESET = "password_reset"
VERIFICATION = "email_verification"
# For each kind of mailed link: the dashboard's view it opens, and its security events
# (its mail's templates are named after the kind itself: mail/password_reset.txt...).
_VIEWS: dict[str, str] = {RESET: "reset", VERIFICATION: "verify"}
_MAILED = {RESET: "password_reset_mailed", VERIFICATION: "verification_mailed"}
_REFUSED = {RESET: "password_reset_refused", VERIFICATION: "verification_mail_refused"}


@dataclass(frozen=True)
class EmailPolicy:
    """How long mailed links live, how many mails an account gets, whether sign-in needs one."""

    reset_ttl: int = 30 * 60
    verification_ttl: int = 24 * 60 * 60
    per_account: tuple[RateLimitItem, ...] = ()
    require_verified: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EmailPolicy:
        """Read the *_TTL settings of links, MAIL_PER_ACCOUNT and REQUIRE_VERIFIED_EMAIL."""
        return cls(
            reset_ttl=config["PASSWORD_RESET_TTL"],
            verification_ttl=config["EMAIL_VERIFICATION_TTL"],
            per_account=tuple(parse_many(config["MAIL_PER_ACCOUNT"])),
            require_verified=config["REQUIRE_VERIFIED_EMAIL"],
        )


def hash_of(token: str) -> str | None:
    """The key a mailed token is stored under; None for a string that cannot be one."""
    try:
        return hashlib.sha256(token.encode("ascii")).hexdigest()
    except UnicodeError:
        return None


def account_stamp(user: UserItem) -> str:
    """A digest of a user's password hash and email: a reset token keeps its account's.

    A new password or a new address then ends the token: a link mailed to an address the
    owner has since left (perhaps because someone else reads it) must not reset anything.
    """
    material = f"{user.password_hash}\n{user.email}".encode()
    return hashlib.sha256(material).hexdigest()


# -- asking for mails (each returns at once; the work happens in a mail worker) -------------


def mail_reset(state: AppState, *, username: str | None, email: str | None) -> None:
    """Queue a password reset mail for the account named, if there is one to send it to."""
    address = _client_address()
    state.mailer.submit(
        lambda: _reset_mail(state, username=username, email=email, address=address),
        what="password reset",
    )


def mail_verification(
    state: AppState,
    *,
    user: UserItem | None = None,
    username: str | None = None,
    email: str | None = None,
) -> None:
    """Queue a verification mail: for `user`, or for the account named, if it needs one."""
    address = _client_address()
    state.mailer.submit(
        lambda: _verification_mail(
            state, user=user, username=username, email=email, address=address
        ),
        what="email verification",
    )


def mail_password_changed(state: AppState, *, user: UserItem) -> None:
    """Queue the notice that a user's password changed, to their address."""
    when = _readable(state.now())
    state.mailer.submit(
        lambda: state.messages.compose("password_changed", to=user.email, user=user, when=when),
        what="password changed notice",
    )


def mail_email_changed(state: AppState, *, user: UserItem, old_email: str) -> None:
    """Queue the notice of a new address to the old one (where its owner still reads)."""
    when, new = _readable(state.now()), masked(user.email)
    state.mailer.submit(
        lambda: state.messages.compose(
            "email_changed", to=old_email, user=user, when=when, new_email=new
        ),
        what="email changed notice",
    )


def mail_second_factors_changed(state: AppState, *, user: UserItem, change: str) -> None:
    """Queue the notice that a second factor was added or removed (`change` says which)."""
    when = _readable(state.now())
    state.mailer.submit(
        lambda: state.messages.compose(
            "second_factors_changed", to=user.email, user=user, when=when, change=change
        ),
        what="second factors notice",
    )


def _client_address() -> str:
    """The address of the request being served ("" outside one), for the worker's events.

    `events.emit` adds it by itself in a request; the worker runs after it, so the jobs
    take it along.
    """
    return (request.remote_addr or "") if has_request_context() else ""


def _readable(moment: float) -> str:
    """A time as a mail shows it: to the minute, in UTC."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


# -- the jobs -----------------------------------------------------------------------------


def _reset_mail(
    state: AppState, *, username: str | None, email: str | None, address: str
) -> Message | None:
    asked = username if username is not None else email or ""
    user = _named(state, username=username, email=email)
    if user is None:
        typed = events.typed(asked)
        events.emit("password_reset_requested", account=typed, found=False, address=address)
        return None
    events.emit("password_reset_requested", username=user.username, found=True, address=address)
    if user.disabled:
        events.warn(
            "password_reset_refused", username=user.username, reason="disabled", address=address
        )
        return None
    minutes = state.email_policy.reset_ttl // 60
    return _with_link(state, user, RESET, (user.username,), address=address, minutes=minutes)


def _verification_mail(
    state: AppState, *, user: UserItem | None, username: str | None, email: str | None, address: str
) -> Message | None:
    if user is None:
        user = _named(state, username=username, email=email)
        if user is None or user.email_verified or user.disabled:
            return None  # nothing to verify: the asker learns nothing either way
    hours = state.email_policy.verification_ttl // 3600
    # Counted per address, whichever account asks: re-registering under new names cannot
    # bury an inbox, and a new address gets its mail even after a few resends to the old.
    keys = (user.email,)
    return _with_link(state, user, VERIFICATION, keys, address=address, hours=hours)


def _with_link(
    state: AppState,
    user: UserItem,
    purpose: TokenPurpose,
    budget: tuple[str, ...],
    *,
    address: str,
    **context: Any,
) -> Message | None:
    """The mail of `purpose` with a new token's link, if the account's `budget` allows one."""
    if not _spend_account_budget(state, purpose, *budget):
        event = _REFUSED[purpose]
        events.warn(event, username=user.username, reason="account_budget", address=address)
        return None
    token = issue_token(state, user, purpose)
    events.emit(_MAILED[purpose], username=user.username, address=address)
    link = state.messages.link(_VIEWS[purpose], token)
    return state.messages.compose(purpose, to=user.email, user=user, link=link, **context)


def _named(state: AppState, *, username: str | None, email: str | None) -> UserItem | None:
    """The account a request names by username or email, or None."""
    if email is not None:
        return tables.users.with_email(state.store, email.strip().lower())
    key = canonical_username(username or "")
    return tables.users.get(state.store, key) if key else None


def _spend_account_budget(state: AppState, purpose: TokenPurpose, *keys: str) -> bool:
    """Whether the account (`keys`) may get one more mail of this kind (MAIL_PER_ACCOUNT).

    Counted in the limiter's storage (DynamoDB in production): every worker and instance
    spends the same budget.
    """
    if not state.limiter.enabled:
        return True
    strategy = state.limiter.limiter
    limits = state.email_policy.per_account
    return all(strategy.hit(limit, "mail", purpose, *keys) for limit in limits)


def issue_token(state: AppState, user: UserItem, purpose: TokenPurpose) -> str:
    """A new token for `user` and `purpose`, stored by its hash only: the token itself."""
    policy = state.email_policy
    ttl = policy.reset_ttl if purpose == RESET else policy.verification_ttl
    stamp = account_stamp(user) if purpose == RESET else ""
    token = secrets.token_urlsafe(32)
    now = int(state.now())
    tables.tokens.insert(
        state.store,
        TokenItem(
            token_hash=hash_of(token) or "",
            purpose=purpose,
            username=user.username,
            email=user.email,
            account_stamp=stamp,
            created_at=now,
            expires_at=now + ttl,
        ),
    )
    return token
