"""Account recovery and email verification: using the tokens that app/helpers/notices.py mails.

Asking (for a reset link, for a verification mail) returns at once and says nothing of the
account: the work happens in a mail worker. Using a token is one transaction that deletes
the token and makes the change, so a token works once, even for two requests at the same
moment; a token that is unknown, used, expired, or no longer for its account is one
`InvalidToken`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from app.errors import AccountDisabled, Conflict, InvalidToken, ValidationFailed
from app.helpers import events, lockout, notices, tables
from app.helpers.clock import iso
from app.helpers.tables import Changed
from app.helpers.tables.tokens import Spent
from app.helpers.users import check_policy, new_session_key
from app.models import TokenItem, TokenPurpose, UserItem

if TYPE_CHECKING:
    from app.helpers.state import AppState

ASKED = (
    "If an account matches, a mail with a link is on its way to its email address."
    " The link works once and expires; ask again if it does not arrive."
)
_RACE = "A concurrent request changed this account; retry."


def request_reset(state: AppState, *, username: str | None, email: str | None) -> str:
    """Ask for a password reset link for an account; what to tell the asker, always the same."""
    notices.mail_reset(state, username=username, email=email)
    return ASKED


def request_verification(
    state: AppState,
    *,
    actor: UserItem | None,
    username: str | None,
    email: str | None,
) -> str:
    """Ask for a verification mail: for the caller, or an account named by username or email."""
    if username is None and email is None:
        if actor is None:
            detail = "give username or email, or sign in"
            raise ValidationFailed(
                errors=[{"location": "json", "field": "username", "detail": detail}]
            )
        if not actor.email_verified:
            notices.mail_verification(state, user=actor)
    else:
        notices.mail_verification(state, username=username, email=email)
    return ASKED


def confirm_reset(state: AppState, *, token: str, password: str) -> None:
    """Set a new password with a reset token: sessions end, the lockout clears, a notice goes.

    The password policy is checked first: a refused password leaves the token usable. The
    email counts as verified: the link was mailed to it (a token dies with its address).
    """
    stored = _stored(state, token, notices.RESET)
    user = tables.users.get(state.store, stored.username)
    if user is None or notices.account_stamp(user) != stored.account_stamp:
        _refuse(state, stored, reason="account_changed" if user else "user_deleted")
    if user.disabled:
        raise AccountDisabled()
    check_policy(password, username=user.username, email=user.email)
    fields = {
        "password_hash": state.passwords.hash(password),
        "session_key": new_session_key(),
        "email_verified": True,
        "updated_at": iso(state.now()),
    }
    try:
        tables.tokens.use(
            state.store,
            stored,
            now=int(state.now()),
            writes=[tables.users.change_as_read(user, fields)],
        )
    except Spent as exc:
        raise InvalidToken() from exc
    except Changed as exc:  # the user changed between the read and the write: try again
        raise Conflict(_RACE) from exc
    lockout.reset(state, username=user.username)
    # Sessions already fail (their key is not the user's); this tidies the table.
    tables.sessions.delete_of_user(state.store, user.username)
    events.emit("password_reset", username=user.username)
    notices.mail_password_changed(state, user=user)


def confirm_verification(state: AppState, *, token: str) -> None:
    """Mark an email verified with a verification token mailed to it."""
    stored = _stored(state, token, notices.VERIFICATION)
    user = tables.users.get(state.store, stored.username)
    if user is None or user.email != stored.email:
        _refuse(state, stored, reason="email_changed" if user else "user_deleted")
    try:
        tables.tokens.use(
            state.store,
            stored,
            now=int(state.now()),
            writes=[tables.users.prove_email(user.username, stored.email)],
        )
    except Spent as exc:
        raise InvalidToken() from exc
    except Changed as exc:  # the email changed meanwhile: the link was for the old one
        _refuse(state, stored, reason="email_changed", cause=exc)
    events.emit("email_verified", username=user.username)


def _stored(state: AppState, token: str, purpose: TokenPurpose) -> TokenItem:
    """The stored token for `purpose`, unexpired; `InvalidToken` otherwise."""
    token_hash = notices.hash_of(token)
    stored = tables.tokens.get(state.store, token_hash) if token_hash else None
    if stored is None or stored.purpose != purpose:
        events.warn("token_refused", purpose=purpose, reason="unknown")
        raise InvalidToken()
    if stored.expires_at <= state.now():
        _refuse(state, stored, reason="expired")
    return stored


def _refuse(
    state: AppState, stored: TokenItem, *, reason: str, cause: Exception | None = None
) -> NoReturn:
    """Delete a token that can no longer work, and refuse it."""
    tables.tokens.discard(state.store, stored.token_hash)
    events.warn("token_refused", purpose=stored.purpose, username=stored.username, reason=reason)
    raise InvalidToken() from cause
