"""Checking a password: the one function every password check in the app goes through.

It spends one bcrypt check whatever happens (a dummy one for a name that cannot or does
not exist), counts the attempt under the per-account lockout before the check (so that
simultaneous guesses cannot all get past the threshold), and re-hashes a hash weaker than
the configured cost. Before all that, in a request, it spends one check of the client
address's login budget (`app.security.LoginBudget`): whichever route or field a password
comes in by, it counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import AccountDisabled, EmailNotVerified, TooManyRequests, Unauthorized
from app.helpers import events, lockout, tables
from app.models import UserItem, canonical_username

if TYPE_CHECKING:
    from app.helpers.state import AppState


def check_password(
    state: AppState, *, username: str, password: str, signing_in: bool = True
) -> UserItem:
    """The user whose credentials these are, or `Unauthorized` (same error, same time).

    A disabled account is `AccountDisabled`, and only to the right password; so is an email
    not verified yet (`EmailNotVerified`) when REQUIRE_VERIFIED_EMAIL is on and the caller
    is `signing_in` (not proving the password again inside a session).
    Consecutive failures lock the account for a doubling time (`TooManyRequests`), whether
    or not the account exists, so the lockout tells nothing about which usernames exist.
    """
    state.login_budget.spend()
    hasher = state.passwords
    key = canonical_username(username)
    if key is None:  # cannot exist: nothing to read, but the same bcrypt time
        hasher.check_nothing(password)
        events.warn("login_failed", username=events.typed(username), reason="malformed_username")
        raise Unauthorized()
    user, record = tables.login_failures.get_with_user(state.store, key)
    try:
        failures = lockout.reserve(state, username=key, record=record)  # until it is not one
    except TooManyRequests:
        events.warn("login_refused", username=key, reason="locked")
        raise
    if user is None:
        hasher.check_nothing(password)
    if user is None or not hasher.check(password, user.password_hash):
        reason = "unknown_user" if user is None else "wrong_password"
        events.warn("login_failed", username=key, reason=reason, failures=failures)
        wait = state.lockout.wait_seconds(failures)
        if wait:
            events.warn("account_locked", username=key, failures=failures, seconds=wait)
        raise Unauthorized()
    lockout.reset(state, username=key)
    if user.disabled:
        # Only to the right password: a guesser learns nothing they could not already.
        events.warn("login_refused", username=key, reason="disabled")
        raise AccountDisabled()
    if signing_in and state.email_policy.require_verified and not user.email_verified:
        events.warn("login_refused", username=key, reason="email_not_verified")
        raise EmailNotVerified()
    if hasher.needs_rehash(user.password_hash):
        # Only over the hash just checked: a password changed meanwhile stays as it is.
        new_hash = hasher.hash(password)
        tables.users.replace_hash(state.store, key, old=user.password_hash, new=new_hash)
    return user
