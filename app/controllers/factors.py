"""Second factors: an authenticator app (TOTP), passkeys, recovery codes, an admin's reset."""

from __future__ import annotations

from apiflask import APIBlueprint

from app.controllers.access import ADMIN, REQUIRED, Caller, access
from app.helpers import factors, passkeys
from app.helpers.state import current_state
from app.models import (
    CodeProof,
    PasskeyAdded,
    PasskeyPublic,
    PasskeyRegistration,
    RecoveryCodes,
    TotpEnrolment,
    TotpRemoval,
    WebAuthnOptions,
)
from app.openapi import responses
from app.security import token_budget

bp = APIBlueprint("factors", __name__, url_prefix="/api", tag="Second factors")


@bp.post("/users/<username>/totp")
@bp.output(TotpEnrolment, status_code=201)
@bp.doc(responses=responses(403, 404, 409))
@access(REQUIRED)
def start_totp(username: str, caller: Caller) -> tuple:
    """Set up an authenticator app: a new secret, its otpauth:// URI and QR code (SVG).

    Nothing changes at sign-in until POST .../totp/confirm proves the app has it. Starting
    again replaces a set-up not confirmed yet; 409 while TOTP is on. One's own account only.
    """
    enrolment = factors.start_totp(current_state(), actor=caller.user, username=username)
    return enrolment, 201


@bp.post("/users/<username>/totp/confirm")
@bp.input(CodeProof, arg_name="proof")
@bp.output(RecoveryCodes)
@bp.doc(responses=responses(403, 404, 409))
@token_budget
@access(REQUIRED)
def confirm_totp(username: str, proof: CodeProof, caller: Caller) -> RecoveryCodes:
    """Turn TOTP on with a code from the app: ten recovery codes, shown this once.

    Needs the password proven within REAUTH_WINDOW (403 reauthentication-required). From
    now on, a login answers 202 and asks for a code (POST /api/sessions/mfa).
    """
    return factors.confirm_totp(
        current_state(),
        actor=caller.user,
        username=username,
        code=proof.code,
        session=caller.session,
        password_checked=caller.password_checked,
    )


@bp.delete("/users/<username>/totp")
@bp.input(TotpRemoval, arg_name="proof")
@bp.doc(responses={204: "TOTP and its recovery codes removed", **responses(403, 404, 409)})
@token_budget
@access(REQUIRED, password_fields=("password",))
def remove_totp(username: str, proof: TotpRemoval, caller: Caller) -> tuple:
    """Turn TOTP off, and its recovery codes with it: the password and a code, both."""
    factors.remove_totp(
        current_state(),
        actor=caller.user,
        username=username,
        password=proof.password,
        code=proof.code,
    )
    return "", 204


@bp.post("/users/<username>/recovery-codes")
@bp.output(RecoveryCodes)
@bp.doc(responses=responses(403, 404, 409))
@access(REQUIRED)
def renew_recovery_codes(username: str, caller: Caller) -> RecoveryCodes:
    """Ten new recovery codes, shown this once; the old ones stop working at once.

    Needs the password (or a code) proven within REAUTH_WINDOW.
    """
    return factors.new_recovery_codes(
        current_state(),
        actor=caller.user,
        username=username,
        session=caller.session,
        password_checked=caller.password_checked,
    )


@bp.post("/users/<username>/passkey-options")
@bp.output(WebAuthnOptions)
@bp.doc(responses=responses(403, 404, 409))
@access(REQUIRED)
def passkey_options(username: str, caller: Caller) -> WebAuthnOptions:
    """Options for navigator.credentials.create(): a passkey for one's own account.

    Single use, for MFA_CHALLENGE_TTL. Needs the password proven within REAUTH_WINDOW: a
    passkey signs in on its own. 409 at 10 passkeys.
    """
    return passkeys.registration_options(
        current_state(),
        actor=caller.user,
        username=username,
        session=caller.session,
        password_checked=caller.password_checked,
    )


@bp.post("/users/<username>/passkeys")
@bp.input(PasskeyRegistration, arg_name="registration")
@bp.output(PasskeyAdded, status_code=201)
@bp.doc(responses=responses(403, 404, 409))
@token_budget
@access(REQUIRED)
def add_passkey(username: str, registration: PasskeyRegistration, caller: Caller) -> tuple:
    """Add the passkey the browser made from the options, with a name.

    With the account's first second factor, ten recovery codes come back, shown this once.
    A 422 on `credential` when the answer does not verify (options used or expired).
    """
    added = passkeys.register(
        current_state(),
        actor=caller.user,
        username=username,
        name=registration.name,
        credential=registration.credential,
    )
    return added, 201


@bp.get("/users/<username>/passkeys")
@bp.output(list[PasskeyPublic])
@bp.doc(responses=responses(403, 404))
@access(REQUIRED)
def list_passkeys(username: str, caller: Caller) -> list[PasskeyPublic]:
    """A user's passkeys, newest first: name, when added and last used, whether synced."""
    return passkeys.list_passkeys(current_state(), actor=caller.user, username=username)


@bp.delete("/users/<username>/passkeys/<passkey_id>")
@bp.doc(responses={204: "The passkey removed", **responses(403, 404, 409)})
@access(REQUIRED)
def remove_passkey(username: str, passkey_id: str, caller: Caller) -> tuple:
    """Remove one of one's passkeys (the password proven within REAUTH_WINDOW).

    The last second factor takes the recovery codes along.
    """
    passkeys.remove(
        current_state(),
        actor=caller.user,
        username=username,
        passkey_id=passkey_id,
        session=caller.session,
        password_checked=caller.password_checked,
    )
    return "", 204


@bp.delete("/users/<username>/second-factors")
@bp.doc(responses={204: "Second factors removed, sessions ended", **responses(403, 404, 409)})
@access(ADMIN)
def reset_second_factors(username: str, caller: Caller) -> tuple:
    """Remove every second factor of a user and end their sessions (an admin).

    For a user who lost both their authenticator and their recovery codes: they sign in
    with the password alone again, and can set up a new app.
    """
    factors.reset_by_admin(current_state(), actor=caller.user, username=username)
    return "", 204
