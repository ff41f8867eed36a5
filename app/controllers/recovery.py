"""Account recovery and email verification: ask for a mailed link, then use its token."""

from __future__ import annotations

from apiflask import APIBlueprint

from app.controllers.access import ANONYMOUS, BEARER, Access, Caller, access
from app.helpers import recovery
from app.helpers.state import current_state
from app.models import (
    Accepted,
    AccountReference,
    PasswordResetConfirm,
    TokenConfirm,
    VerificationRequest,
)
from app.openapi import responses
from app.security import mail_budget, token_budget

bp = APIBlueprint("recovery", __name__, url_prefix="/api", tag="Recovery")
# A bearer token names the caller; without one, the body names the account.
MAYBE_BEARER = Access(schemes=(BEARER,))


@bp.post("/password-resets")
@bp.input(AccountReference, arg_name="account")
@bp.output(Accepted, status_code=202)
@mail_budget
@access(ANONYMOUS)
def request_reset(account: AccountReference) -> tuple:
    """Ask for a password reset link by mail, for a username or an email.

    Always 202 with the same body, in the same time, whether or not the account exists:
    the mail is composed and sent off the request path. At most MAIL_PER_ACCOUNT mails per
    account, whoever asks; the link works once, for PASSWORD_RESET_TTL seconds.
    """
    detail = recovery.request_reset(current_state(), username=account.username, email=account.email)
    return Accepted(detail=detail), 202


@bp.post("/password-resets/confirm")
@bp.input(PasswordResetConfirm, arg_name="reset")
@bp.doc(responses={204: "Password changed", **responses(400, 403, 409)})
@token_budget
@access(ANONYMOUS)
def confirm_reset(reset: PasswordResetConfirm) -> tuple:
    """Choose a new password with a reset link's token.

    Every session ends, the lockout clears, the email counts as verified and a notice is
    mailed. An unknown, used or expired token is a 400 of type
    `tag:users-api,2026:invalid-token`; a password the policy refuses is a 422 and leaves the
    token usable.
    """
    recovery.confirm_reset(current_state(), token=reset.token, password=reset.password)
    return "", 204


@bp.post("/email-verifications")
@bp.input(VerificationRequest, arg_name="account")
@bp.output(Accepted, status_code=202)
@mail_budget
@access(MAYBE_BEARER)
def request_verification(account: VerificationRequest, caller: Caller | None) -> tuple:
    """Ask for a verification mail: for yourself (a bearer token, `{}`), or a named account.

    Always 202 with the same body; a mail goes only to an account whose email is not
    verified yet, at most MAIL_PER_ACCOUNT per account.
    """
    detail = recovery.request_verification(
        current_state(),
        actor=caller.user if caller else None,
        username=account.username,
        email=account.email,
    )
    return Accepted(detail=detail), 202


@bp.post("/email-verifications/confirm")
@bp.input(TokenConfirm, arg_name="confirmation")
@bp.doc(responses={204: "Email verified", **responses(400)})
@token_budget
@access(ANONYMOUS)
def confirm_verification(confirmation: TokenConfirm) -> tuple:
    """Verify an email address with the token of the link mailed to it."""
    recovery.confirm_verification(current_state(), token=confirmation.token)
    return "", 204
