"""Second factors: an authenticator app (TOTP) set up and removed, recovery codes, a reset."""

from __future__ import annotations

from apiflask import APIBlueprint

from app.controllers.access import ADMIN, REQUIRED, Caller, access
from app.helpers import factors
from app.helpers.state import current_state
from app.models import CodeProof, RecoveryCodes, TotpEnrolment, TotpRemoval
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
