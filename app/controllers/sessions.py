"""Sessions: log in for a token, see and end sessions."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint
from flask import g, jsonify, make_response, request, url_for

from app.controllers.access import ANONYMOUS, BEARER_ONLY, LOGIN, REQUIRED, Caller, access
from app.helpers import passkeys, sessions
from app.helpers.state import current_state
from app.models import (
    Client,
    Credentials,
    LoginResult,
    PasskeyAssertion,
    Reauthentication,
    SecondFactorChallenge,
    SecondFactorProof,
    SessionPublic,
    WebAuthnOptions,
)
from app.openapi import responses, second_step
from app.security import token_budget

bp = APIBlueprint("sessions", __name__, url_prefix="/api", tag="Sessions")


@bp.post("/sessions")
@bp.input(Credentials, arg_name="credentials")
@bp.output(LoginResult, status_code=201)
@bp.doc(
    responses={
        **responses(status=201, headers={"Location": "The session's URL"}),
        202: second_step("The password is right; the account asks for a second factor"),
    }
)
@access(LOGIN)
def login(credentials: Credentials) -> Any:
    """Log in: a new bearer token for every login, shown once.

    For an account with a second factor, the right password answers 202 with a challenge
    instead: send it with a code to POST /api/sessions/mfa within MFA_CHALLENGE_TTL.
    """
    result = sessions.login(current_state(), credentials=credentials, client=_client())
    if isinstance(result, SecondFactorChallenge):
        # Not the declared output: a response of its own, documented by `second_step`.
        return make_response(jsonify(result.model_dump(mode="json", exclude_none=True)), 202)
    return _opened(result)


@bp.post("/sessions/mfa")
@bp.input(SecondFactorProof, arg_name="proof")
@bp.output(LoginResult, status_code=201)
@bp.doc(responses=responses(401, status=201, headers={"Location": "The session's URL"}))
@token_budget
@access(ANONYMOUS)
def complete_login(proof: SecondFactorProof) -> tuple:
    """The second step of a login: the challenge and a TOTP or recovery code, or a passkey.

    `credential` is a passkey's answer to the 202's `webauthn` options. Answers as a login
    does. A wrong code is a 422 on `code` (a refused passkey, on `credential`), and the
    challenge stays usable; an unknown, used or expired challenge is a 401: log in again.
    Wrong codes lock the second step as wrong passwords lock the first, each on its own count.
    """
    result = sessions.complete_sign_in(
        current_state(),
        challenge=proof.challenge,
        code=proof.code,
        credential=proof.credential,
        client=_client(),
    )
    return _opened(result)


@bp.post("/sessions/passkey-options")
@bp.output(WebAuthnOptions)
@token_budget
@access(ANONYMOUS)
def passkey_sign_in_options() -> WebAuthnOptions:
    """Options for navigator.credentials.get() to sign in with a passkey alone.

    No account is named: the passkey (a discoverable credential) says whose it is. Single
    use, for MFA_CHALLENGE_TTL.
    """
    return passkeys.sign_in_options(current_state())


@bp.post("/sessions/passkey")
@bp.input(PasskeyAssertion, arg_name="assertion")
@bp.output(LoginResult, status_code=201)
@bp.doc(responses=responses(401, 403, status=201, headers={"Location": "The session's URL"}))
@token_budget
@access(ANONYMOUS)
def passkey_login(assertion: PasskeyAssertion) -> tuple:
    """Log in with a passkey: its answer to the options. Answers as a login does.

    Anything wrong with it (unknown or removed, a stale sign counter, options used or
    expired) is a 401. The session's amr is ["webauthn"], which counts as a second factor.
    """
    result = sessions.sign_in_with_passkey(
        current_state(), credential=assertion.credential, client=_client()
    )
    return _opened(result)


def _client() -> Client:
    return Client(address=request.remote_addr or "", user_agent=request.user_agent.string)


def _opened(result: LoginResult) -> tuple:
    g.username = result.user.username
    return result, 201, {"Location": url_for(".get_current_session")}


@bp.get("/sessions/current")
@bp.output(SessionPublic)
@access(BEARER_ONLY)
def get_current_session(caller: Caller) -> SessionPublic:
    """The session of the token this request carries: when it began, when it expires."""
    session = caller.bearer_session()
    return sessions.view(session, current=session)


@bp.post("/sessions/current/reauthentication")
@bp.input(Reauthentication, arg_name="proof")
@bp.output(SessionPublic)
@access(BEARER_ONLY, password_fields=("password",))
def reauthenticate(proof: Reauthentication, caller: Caller) -> SessionPublic:
    """Prove the password, or a second factor, again in this session.

    Changing one's own email, deleting one's own account and second-factor changes need a
    proof within REAUTH_WINDOW (10 minutes by default). A code (TOTP or recovery), or a
    passkey's answer to POST /api/sessions/passkey-options, also steps the session up to a
    second factor, as REQUIRE_ADMIN_MFA asks of admins. A wrong password, code or passkey
    is a 422 on its field: the session stays valid.
    """
    return sessions.reauthenticate(
        current_state(),
        session=caller.bearer_session(),
        password=proof.password,
        code=proof.code,
        credential=proof.credential,
    )


@bp.delete("/sessions/current")
@bp.doc(responses={204: "Logged out"})
@access(BEARER_ONLY)
def logout(caller: Caller) -> tuple:
    """Log out: the token fails from now on."""
    sessions.logout(current_state(), session=caller.bearer_session())
    return "", 204


@bp.get("/users/<username>/sessions")
@bp.output(list[SessionPublic])
@bp.doc(responses=responses(403, 404))
@access(REQUIRED)
def list_sessions(username: str, caller: Caller) -> list[SessionPublic]:
    """A user's live sessions, newest first (the user themself or an admin)."""
    return sessions.list_sessions(
        current_state(), actor=caller.user, username=username, current=caller.session
    )


@bp.delete("/users/<username>/sessions")
@bp.doc(responses={204: "Every session ended", **responses(403, 404)})
@access(REQUIRED)
def revoke_sessions(username: str, caller: Caller) -> tuple:
    """Log out everywhere: end every session of the user at once (themself or an admin)."""
    sessions.revoke_all(current_state(), actor=caller.user, username=username)
    return "", 204


@bp.delete("/users/<username>/sessions/<session_id>")
@bp.doc(responses={204: "The session ended", **responses(403, 404)})
@access(REQUIRED)
def end_session(username: str, session_id: str, caller: Caller) -> tuple:
    """End one session of a user, by its id (themself or an admin): its token fails at once."""
    sessions.end_session(
        current_state(), actor=caller.user, username=username, session_id=session_id
    )
    return "", 204
