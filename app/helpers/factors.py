"""Second factors: setting up TOTP, recovery codes, and checking a code.

A code is checked under a lockout of its own (the password's is untouched by wrong codes,
and a locked second step leaves the password's count alone), and is used up by a
conditional write in the same transaction as what it allows: a TOTP step is accepted
once, a recovery code once, across every instance.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import segno

from app.errors import (
    Conflict,
    Forbidden,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from app.helpers import events, lockout, notices, recovery_codes, tables, totp, users
from app.helpers.credentials import check_password
from app.helpers.dynamo import TransactionCanceled, Write
from app.helpers.keyring import Undecryptable
from app.helpers.tables import Changed
from app.models import (
    AuthenticationMethod,
    RecoveryCodes,
    SessionItem,
    TotpEnrolment,
    UserItem,
)

if TYPE_CHECKING:
    from app.helpers.state import AppState

_SET_UP_FIRST = "Set up an authenticator app first: POST /api/users/<username>/totp."
_WRONG_CODE = "is not a valid code: check the app's clock, or use a recovery code"
_AGAIN = "prove it again with POST /api/sessions/current/reauthentication, then retry."
_PROOF = f"New recovery codes need your password (or a code): {_AGAIN}"
_CONFIRM = f"Turning two-step sign-in on needs your password: {_AGAIN}"
_LOCKED = "Too many wrong codes for this account; try again later."
TURNED_OFF = "Second factors are turned off on this service (SECOND_FACTORS)."


@dataclass(frozen=True)
class FactorPolicy:
    """Whether second factors may be set up, who must use one, how long a sign-in waits."""

    enabled: bool = True
    require_admin: bool = False  # REQUIRE_ADMIN_MFA
    challenge_ttl: int = 300
    issuer: str = "User accounts"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FactorPolicy:
        """Read SECOND_FACTORS, REQUIRE_ADMIN_MFA, MFA_CHALLENGE_TTL and PRODUCT_NAME."""
        return cls(
            enabled=config["SECOND_FACTORS"],
            require_admin=config["REQUIRE_ADMIN_MFA"],
            challenge_ttl=config["MFA_CHALLENGE_TTL"],
            issuer=config["PRODUCT_NAME"],
        )

    def withholds(self, user: UserItem, session: SessionItem | None) -> bool:
        """Whether `user`'s admin powers wait for a second factor in this session."""
        proven = session is not None and session.has_second_factor
        return self.require_admin and user.account_type == "admin_user" and not proven


# -- setting up and removing -------------------------------------------------------------------


def start_totp(state: AppState, *, actor: UserItem, username: str) -> TotpEnrolment:
    """A new TOTP secret for the caller's own account, on once confirmed with a code."""
    user = own(state, actor, username)
    if user.totp_secret:
        raise Conflict("Two-step sign-in is on already: turn it off before setting up another.")
    secret = totp.new_secret()
    try:
        tables.factors.start_totp(state.store, user, pending=state.keyring.encrypt(secret))
    except Changed as exc:
        raise Conflict(users.RACE) from exc
    uri = totp.provisioning_uri(secret, account=user.username, issuer=state.factors.issuer)
    events.emit("totp_setup_started", username=user.username)
    return TotpEnrolment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))


def confirm_totp(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    code: str,
    session: SessionItem | None,
    password_checked: bool,
) -> RecoveryCodes:
    """Turn TOTP on with a first code from the app: the recovery codes, shown this once."""
    user = own(state, actor, username, proof=(session, password_checked, _CONFIRM))
    if user.totp_secret:
        raise Conflict("Two-step sign-in is on already.")
    if not user.totp_pending:
        raise Conflict(f"There is no authenticator app being set up. {_SET_UP_FIRST}")
    try:
        secret = state.keyring.decrypt(user.totp_pending)
    except Undecryptable as exc:
        raise Conflict(f"The set-up has expired. {_SET_UP_FIRST}") from exc
    step = totp.accepted_step(secret, code, now=state.now(), last_step=None)
    if step is None:
        raise wrong("code")
    codes, stored = recovery_codes.issue()
    try:
        tables.factors.enable_totp(
            state.store, user, secret=user.totp_pending, step=step, codes=stored
        )
    except Changed as exc:
        raise Conflict(users.RACE) from exc
    events.emit("totp_enabled", username=user.username)
    notices.mail_second_factors_changed(
        state, user=user, change="an authenticator app was turned on"
    )
    return RecoveryCodes(recovery_codes=codes)


def remove_totp(
    state: AppState, *, actor: UserItem, username: str, password: str, code: str
) -> None:
    """Turn TOTP off (and its recovery codes): the password and a code, both, are needed."""
    user = own(state, actor, username)
    if not user.totp_secret:
        raise Conflict("Two-step sign-in with an authenticator app is not on.")
    try:
        check_password(state, username=user.username, password=password, signing_in=False)
    except Unauthorized as exc:
        raise ValidationFailed(
            errors=[{"location": "json", "field": "password", "detail": "is not the password"}]
        ) from exc
    _, spend = check_code(state, user, code)
    try:
        state.store.transact_write(spend)
    except TransactionCanceled as exc:  # used meanwhile, by another request
        raise wrong("code") from exc
    forgive(state, user)
    try:
        # Recovery codes stay while a passkey remains.
        tables.factors.clear_totp(state.store, user, codes=not user.passkey_ids)
    except Changed as exc:
        raise Conflict(users.RACE) from exc
    events.emit("totp_disabled", username=user.username)
    notices.mail_second_factors_changed(
        state, user=user, change="the authenticator app was turned off"
    )


def new_recovery_codes(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    session: SessionItem | None,
    password_checked: bool,
) -> RecoveryCodes:
    """Ten new recovery codes in place of the old ones, which stop working at once."""
    user = own(state, actor, username, proof=(session, password_checked, _PROOF))
    if not user.has_second_factor:
        raise Conflict(f"Recovery codes come with a second factor. {_SET_UP_FIRST}")
    codes, stored = recovery_codes.issue()
    try:
        tables.factors.replace_recovery_codes(state.store, user, stored)
    except Changed as exc:
        raise Conflict(users.RACE) from exc
    events.emit("recovery_codes_renewed", username=user.username)
    notices.mail_second_factors_changed(
        state, user=user, change="new recovery codes were made (the old ones no longer work)"
    )
    return RecoveryCodes(recovery_codes=codes)


def reset(state: AppState, *, username: str, by: str) -> None:
    """Remove every second factor of a user and end their sessions (an admin, or the CLI)."""
    user = users.get_user(state, username=username)
    try:
        tables.factors.clear(state.store, user, session_key=users.new_session_key())
    except Changed as exc:
        raise Conflict(users.RACE) from exc
    tables.passkeys.delete_many(state.store, user.passkey_ids)  # tidying: no longer hers
    tables.sessions.delete_of_user(state.store, user.username)
    forgive(state, user)
    events.warn("second_factors_reset", username=user.username, by=by)
    notices.mail_second_factors_changed(
        state, user=user, change="an administrator removed every second factor"
    )


def reset_by_admin(state: AppState, *, actor: UserItem, username: str) -> None:
    """An admin removes a user's second factors (they lost their phone and their codes)."""
    users.require_admin(actor, "Only an admin can reset another user's second factors.")
    reset(state, username=users.authorize(actor, username), by=actor.username)


def rotate_secrets(state: AppState) -> int:
    """Encrypt every stored TOTP secret again with the newest key; how many were."""
    rotated = 0
    for user in tables.users.all_items(state.store, page_size=500):
        for field in ("totp_secret", "totp_pending"):
            stored = getattr(user, field)
            if not stored:
                continue
            try:
                tables.factors.rotate_secret(state.store, user, field, state.keyring.rotate(stored))
            except Changed:
                continue  # changed meanwhile: written with the newest key anyway
            rotated += 1
    return rotated


# -- checking a code ----------------------------------------------------------------------------


def check_code(
    state: AppState, user: UserItem, code: str
) -> tuple[AuthenticationMethod, list[Write]]:
    """What `code` proves and the writes that use it up (to make with what it allows).

    A TOTP code (6 digits) or a recovery code. Each attempt counts under the second step's
    lockout before it is checked (`TooManyRequests` when locked); a wrong code is a 422 on
    `code`. `forgive` once the writes have been made.
    """
    return checked(state, user, "code", lambda: _match(state, user, code))


def checked(
    state: AppState,
    user: UserItem,
    field: str,
    match: Callable[[], tuple[AuthenticationMethod, list[Write]] | None],
) -> tuple[AuthenticationMethod, list[Write]]:
    """`match()` under the second step's lockout; a 422 on `field` when it finds nothing."""
    key = _lockout_key(user.username)
    try:
        failures = lockout.reserve(
            state, username=key, record=tables.login_failures.get(state.store, key)
        )
    except TooManyRequests as exc:
        events.warn("second_factor_refused", username=user.username, reason="locked")
        raise TooManyRequests(_LOCKED, retry_after=exc.retry_after) from exc
    found = match()
    if found is None:
        events.warn("second_factor_failed", username=user.username, failures=failures)
        wait = state.lockout.wait_seconds(failures)
        if wait:
            events.warn(
                "second_factor_locked", username=user.username, failures=failures, seconds=wait
            )
        raise wrong(field)
    return found


def forgive(state: AppState, user: UserItem) -> None:
    """Forget the second step's failures (a right code, or a reset)."""
    lockout.reset(state, username=_lockout_key(user.username))


def _match(state: AppState, user: UserItem, code: str) -> tuple[AuthenticationMethod, Write] | None:
    typed = code.strip()
    if typed.isascii() and typed.isdigit():
        if not user.totp_secret:
            return None
        try:
            secret = state.keyring.decrypt(user.totp_secret)
        except Undecryptable as exc:
            # The key that made it was dropped from SECRET_KEYS too soon: an operator's fix.
            events.warn("totp_secret_unreadable", username=user.username)
            raise ServiceUnavailable() from exc
        step = totp.accepted_step(secret, typed, now=state.now(), last_step=user.totp_last_step)
        return None if step is None else ("otp", [tables.factors.accept_step(user, step)])
    position = recovery_codes.matching(code, sorted(user.recovery_codes))
    if position is None:
        return None
    used = recovery_codes.hash_of(code)
    return "recovery_code", [tables.factors.use_recovery_code(user, used)]


def _lockout_key(username: str) -> str:
    # Beside the password's failures in the same table; "#" is never in a username.
    return f"{username}#second-factor"


def own(
    state: AppState,
    actor: UserItem,
    username: str,
    *,
    proof: tuple[SessionItem | None, bool, str] | None = None,
    what: str = "Second factors are",
) -> UserItem:
    """The caller, when `username` is their own account: second factors are set up in person.

    With `proof` (the session, whether the password came with the request, the refusal's
    text): only with the password proven within REAUTH_WINDOW.
    """
    if not state.factors.enabled:
        raise Forbidden(TURNED_OFF)
    target = users.authorize(actor, username, verb="set up second factors for")
    if target != actor.username:
        raise Forbidden(f"{what} set up by their owner, signed in.")
    if proof is not None:
        session, password_checked, what = proof
        users.require_recent_proof(
            state,
            actor.username,
            None,
            session=session,
            password_checked=password_checked,
            what=what,
        )
    return actor


def wrong(field: str) -> ValidationFailed:
    """The 422 of a code (or a passkey's answer) that proves nothing."""
    detail = _WRONG_CODE if field == "code" else "was not accepted"
    return ValidationFailed(errors=[{"location": "json", "field": field, "detail": detail}])


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as a standalone SVG image (no script, no external reference)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=4, border=2, xmldecl=False, svgns=True, title="TOTP set-up"
    )
    return out.getvalue().decode("utf-8")
