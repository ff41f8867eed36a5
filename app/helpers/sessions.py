"""Sessions: tokens, logging in and out, who a token belongs to, listing and revoking.

A token is "<username, base64url>.<32 random bytes, base64url>". The username part lets one
BatchGetItem read the session and its user together; it grants nothing by itself, since
the session is found by the SHA-256 of the whole token, the only form ever stored.

Every session carries the session key its user had when it began. A new key on the user
(a password change, "log out everywhere", a new account under an old name) ends them all at
once, in one strongly consistent write. Deleting the stored sessions afterwards is tidying:
it goes through an eventually consistent index, which may not list the newest ones yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.errors import AccountDisabled, EmailNotVerified, NotFound, Unauthorized, ValidationFailed
from app.helpers import events, factors, notices, passkeys, tables, users
from app.helpers.clock import iso
from app.helpers.credentials import check_password
from app.helpers.dynamo import TransactionCanceled
from app.helpers.tables import Changed
from app.models import (
    AuthenticationMethod,
    Client,
    Credentials,
    LoginResult,
    SecondFactorChallenge,
    SecondFactorMethod,
    SessionItem,
    SessionPublic,
    TokenItem,
    UserItem,
    canonical_username,
    printable,
)

if TYPE_CHECKING:
    from app.helpers.state import AppState

_TOKEN = re.compile(r"([A-Za-z0-9_-]{4,43})\.([A-Za-z0-9_-]{43})")
MAX_LISTED = 100
USER_AGENT_LENGTH = 256


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live, how often their use is written back, how long a proof lasts.

    `reauth_window`: how long a password proven in a session counts for a sensitive change.
    """

    ttl: int
    idle_timeout: int
    refresh_interval: int
    reauth_window: int = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        """Read the SESSION_* settings and REAUTH_WINDOW."""
        return cls(
            ttl=config["SESSION_TTL"],
            idle_timeout=config["SESSION_IDLE_TIMEOUT"],
            refresh_interval=config["SESSION_REFRESH_INTERVAL"],
            reauth_window=config["REAUTH_WINDOW"],
        )

    def deadline(self, *, absolute: int, last_seen: int) -> int:
        """When a session last used at `last_seen` expires."""
        return min(absolute, last_seen + self.idle_timeout)


# -- tokens ---------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """The key a token is stored under. The token itself is never stored or logged."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_token(username: str) -> str:
    """A new token for `username`: its owner part, then 256 random bits."""
    owner = base64.urlsafe_b64encode(username.encode("ascii")).decode("ascii").rstrip("=")
    return f"{owner}.{secrets.token_urlsafe(32)}"


def parse_token(token: str) -> tuple[str, str]:
    """The username a token names (not yet proof of anything) and its hash; or `Unauthorized`."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise Unauthorized()
    try:
        # Padding beyond what is missing is ignored: two "=" always restore enough.
        owner = base64.urlsafe_b64decode(match[1].encode("ascii") + b"==").decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise Unauthorized() from exc
    if canonical_username(owner) != owner:
        raise Unauthorized()
    return owner, hash_token(token)


# -- the lifecycle --------------------------------------------------------------------------


def login(
    state: AppState, *, credentials: Credentials, client: Client | None = None
) -> LoginResult | SecondFactorChallenge:
    """Check the credentials (under the lockout) and open a new session: a new token.

    For an account with a second factor, the right password opens nothing yet: it gives
    a challenge for `complete_sign_in`, single use and short-lived.
    """
    user = check_password(state, username=credentials.username, password=credentials.password)
    if user.has_second_factor:
        return _challenge(state, user)
    return open_session(state, user, client=client or Client(), amr=["pwd"])


def complete_sign_in(
    state: AppState,
    *,
    challenge: str,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
    client: Client | None = None,
) -> LoginResult:
    """The second step of a sign-in: the first's challenge, and a code or a passkey's answer.

    An unknown, used or expired challenge (or one whose account has changed since: a new
    password, disabled) is `Unauthorized`: start again. A wrong code is a 422 on `code` and
    counts under the second step's own lockout; the challenge stays usable until it expires.
    """
    now = state.now()
    token = tables.tokens.live(state.store, notices.hash_of(challenge), "sign_in", now=now)
    if token is None:
        raise Unauthorized()
    user = tables.users.get(state.store, token.username)
    if user is None or user.disabled or _stamp(user) != token.account_stamp:
        tables.tokens.discard(state.store, token.token_hash)
        raise Unauthorized()
    if credential is not None:
        method, spend = passkeys.check_passkey(state, user, credential, challenge=challenge)
    else:
        method, spend = factors.check_code(state, user, code or "")
    try:
        tables.tokens.use(state.store, token, now=int(now), writes=spend)
    except tables.tokens.Spent as exc:
        raise Unauthorized() from exc
    except Changed as exc:  # the code (or the passkey's counter) was used meanwhile
        raise factors.wrong("code" if credential is None else "credential") from exc
    factors.forgive(state, user)
    events.emit("second_factor_passed", username=user.username, method=method)
    return open_session(state, user, client=client or Client(), amr=["pwd", method])


def _challenge(state: AppState, user: UserItem) -> SecondFactorChallenge:
    """Store a new sign-in challenge for `user` (its hash only); the challenge."""
    challenge = secrets.token_urlsafe(32)
    moment = int(state.now())
    expires = moment + state.factors.challenge_ttl
    tables.tokens.insert(
        state.store,
        TokenItem(
            token_hash=notices.hash_of(challenge) or "",
            purpose="sign_in",
            username=user.username,
            email=user.email,
            account_stamp=_stamp(user),
            created_at=moment,
            expires_at=expires,
        ),
    )
    events.emit("second_factor_asked", username=user.username)
    methods: list[SecondFactorMethod] = ["totp"] if user.totp_secret else []
    options = None
    if user.passkey_ids:
        methods.append("webauthn")
        options = passkeys.second_step_options(state, user, challenge)
    if user.recovery_codes:
        methods.append("recovery_code")
    return SecondFactorChallenge(
        challenge=challenge, methods=methods, expires_at=iso(expires), webauthn=options
    )


def sign_in_with_passkey(
    state: AppState, *, credential: dict[str, Any], client: Client | None = None
) -> LoginResult:
    """A sign-in with a passkey alone: its answer to the options of `passkeys.sign_in_options`.

    Whatever is wrong with it (unknown, removed, forged, a stale sign counter, options
    expired or used) is one `Unauthorized`. A disabled account, or an unverified email under
    REQUIRE_VERIFIED_EMAIL, is told so, as after a right password.
    """
    try:
        parsed, answered = passkeys.parse_assertion(credential)
        token = passkeys.stored_sign_in_challenge(state, answered)
        if token is None:
            raise passkeys.Refused()
        user, writes = passkeys.check_assertion(state, parsed, challenge=answered)
    except passkeys.Refused as exc:
        events.warn("passkey_sign_in_failed")
        raise Unauthorized() from exc
    if user.disabled:
        events.warn("login_refused", username=user.username, reason="disabled")
        raise AccountDisabled()
    if state.email_policy.require_verified and not user.email_verified:
        events.warn("login_refused", username=user.username, reason="email_not_verified")
        raise EmailNotVerified()
    try:
        tables.tokens.use(state.store, token, now=int(state.now()), writes=writes)
    except (tables.tokens.Spent, Changed) as exc:  # used meanwhile: a replay, or a clone
        events.warn("passkey_sign_in_failed", username=user.username, reason="replayed")
        raise Unauthorized() from exc
    events.emit("passkey_sign_in", username=user.username)
    return open_session(state, user, client=client or Client(), amr=["webauthn"])


def _stamp(user: UserItem) -> str:
    """What a challenge keeps of its account: a new password, email or session key ends it."""
    return f"{notices.account_stamp(user)}:{user.session_key}"


def open_session(
    state: AppState, user: UserItem, *, client: Client, amr: list[AuthenticationMethod]
) -> LoginResult:
    """A new session for `user`, authenticated by `amr`: its token, shown once."""
    token = issue_token(user.username)
    moment = int(state.now())
    absolute = moment + state.session_policy.ttl
    session = SessionItem(
        token_hash=hash_token(token),
        id=secrets.token_urlsafe(12),
        username=user.username,
        user_key=user.session_key,
        created_at=moment,
        authenticated_at=moment,
        last_seen_at=moment,
        expires_at=state.session_policy.deadline(absolute=absolute, last_seen=moment),
        absolute_expires_at=absolute,
        # What the client says of itself: kept short and printable, it is shown back.
        user_agent=printable(client.user_agent)[:USER_AGENT_LENGTH],
        address=client.address,
        amr=amr,
        second_factor_at=moment if amr != ["pwd"] else None,
    )
    tables.sessions.insert(state.store, session)
    return LoginResult(token=token, expires_at=iso(session.expires_at), user=user.self_view())


def authenticate(state: AppState, *, token: str) -> tuple[UserItem, SessionItem]:
    """The user and session a bearer token stands for; one `Unauthorized` for every failure.

    The user is read on every request, so a demotion or deletion counts at once, and a
    session whose key is not the user's current one is dead.
    """
    owner, token_hash = parse_token(token)
    session, user = tables.sessions.get_with_user(state.store, token_hash, owner)
    now = state.now()
    # DynamoDB's TTL deletes expired items late (up to days): check on every read.
    if session is None or session.username != owner or now >= session.expires_at:
        raise Unauthorized()
    # A disabled user's sessions have the key they had before: dead on both counts.
    if user is None or user.session_key != session.user_key or user.disabled:
        raise Unauthorized()
    return user, _touch(state, session, now=now)


def _touch(state: AppState, session: SessionItem, *, now: float) -> SessionItem:
    """Record use, at most once per refresh interval, so most requests cost no write."""
    policy = state.session_policy
    moment = int(now)
    if moment - session.last_seen_at < policy.refresh_interval:
        return session
    expires = policy.deadline(absolute=session.absolute_expires_at, last_seen=moment)
    try:
        tables.sessions.touch(state.store, session.token_hash, last_seen=moment, expires=expires)
    except Changed as exc:  # logged out by a concurrent request
        raise Unauthorized() from exc
    return session.model_copy(update={"last_seen_at": moment, "expires_at": expires})


def reauthenticate(
    state: AppState,
    *,
    session: SessionItem,
    password: str | None = None,
    code: str | None = None,
    credential: dict[str, Any] | None = None,
) -> SessionPublic:
    """Prove the password, or a second factor, again in a session (REAUTH_WINDOW's changes).

    A second factor (a code, or a passkey's answer to sign-in options) also steps the
    session up: it then counts as signed in with one (for REQUIRE_ADMIN_MFA). A wrong
    password, code or passkey is a 422 on its field (the session stays valid) and counts
    under its own lockout.
    """
    moment = int(state.now())
    if code is None and credential is None:
        _prove_password(state, session, password or "", at=moment)
        update: dict[str, Any] = {"authenticated_at": moment}
        method: AuthenticationMethod = "pwd"
    else:
        method, amr = _step_up(state, session, code=code, credential=credential, at=moment)
        update = {"authenticated_at": moment, "second_factor_at": moment, "amr": amr}
    events.emit("reauthenticated", username=session.username, session=session.id, method=method)
    return view(session.model_copy(update=update), current=session)


def _prove_password(state: AppState, session: SessionItem, password: str, *, at: int) -> None:
    try:
        check_password(state, username=session.username, password=password, signing_in=False)
    except Unauthorized as exc:
        detail = "is not the current password"
        errors = [{"location": "json", "field": "password", "detail": detail}]
        raise ValidationFailed(errors=errors) from exc
    try:
        tables.sessions.set_authenticated(state.store, session.token_hash, at=at)
    except Changed as exc:  # logged out by a concurrent request
        raise Unauthorized() from exc


def _step_up(
    state: AppState,
    session: SessionItem,
    *,
    code: str | None,
    credential: dict[str, Any] | None,
    at: int,
) -> tuple[AuthenticationMethod, list[AuthenticationMethod]]:
    """Check a second factor in a session and record it there; the method and the new amr."""
    field = "code" if credential is None else "credential"
    user = users.get_user(state, username=session.username)
    if not user.has_second_factor or (credential is not None and not user.passkey_ids):
        detail = "no second factor is set up" if field == "code" else "no passkey is set up"
        raise ValidationFailed(errors=[{"location": "json", "field": field, "detail": detail}])
    token = None
    if credential is not None:
        answered = passkeys.parse_assertion_challenge(credential)
        token = passkeys.stored_sign_in_challenge(state, answered) if answered else None
        if token is None:
            raise factors.wrong("credential")
        method, spend = passkeys.check_passkey(state, user, credential, challenge=answered)
    else:
        method, spend = factors.check_code(state, user, code or "")
    amr: list[AuthenticationMethod] = [m for m in session.amr if m != method] + [method]
    stepped = tables.sessions.stepped_up(session.token_hash, at=at, amr=amr)
    try:
        if token is not None:
            tables.tokens.use(state.store, token, now=at, writes=[stepped, *spend])
        else:
            state.store.transact_write([stepped, *spend])
    except tables.tokens.Spent as exc:
        raise factors.wrong(field) from exc
    except (Changed, TransactionCanceled) as exc:  # logged out, or the proof used meanwhile
        raise Unauthorized() from exc
    factors.forgive(state, user)
    return method, amr


def logout(state: AppState, *, session: SessionItem) -> None:
    """End one session: its token fails from now on."""
    tables.sessions.delete(state.store, session.token_hash)


def list_sessions(
    state: AppState, *, actor: UserItem, username: str, current: SessionItem | None
) -> list[SessionPublic]:
    """A user's live sessions, newest first, without tokens; the user themself or an admin."""
    target = users.authorize(actor, username, verb="see the sessions of")
    user = _owner(state, actor=actor, username=target)
    now = state.now()
    live = [
        session
        for session in tables.sessions.of_user(state.store, target, limit=MAX_LISTED)
        if session.user_key == user.session_key and session.expires_at > now
    ]
    live.sort(key=lambda s: s.created_at, reverse=True)
    return [view(session, current=current) for session in live]


def end_session(state: AppState, *, actor: UserItem, username: str, session_id: str) -> None:
    """End one of a user's live sessions, found by its id; themself or an admin."""
    target = users.authorize(actor, username, verb="end the sessions of")
    user = _owner(state, actor=actor, username=target)
    now = state.now()
    for session in tables.sessions.of_user(state.store, target):
        live = session.user_key == user.session_key and session.expires_at > now
        if session.id == session_id and live:
            tables.sessions.delete(state.store, session.token_hash)
            events.emit("sessions_revoked", username=target, which=session_id, by=actor.username)
            return
    raise NotFound(f"There is no session {session_id!r} of {target!r}.")


def revoke_all(state: AppState, *, actor: UserItem, username: str) -> None:
    """End every session of a user at once ("log out everywhere"); themself or an admin."""
    target = users.authorize(actor, username, verb="end the sessions of")
    users.renew_session_key(state, username=target)
    events.emit("sessions_revoked", username=target, which="all", by=actor.username)


def _owner(state: AppState, *, actor: UserItem, username: str) -> UserItem:
    """The user whose sessions these are: the caller, already read, or another read now."""
    return actor if actor.username == username else users.get_user(state, username=username)


def view(session: SessionItem, *, current: SessionItem | None) -> SessionPublic:
    """What the owner sees of a session: times and an id, never the token or its hash."""
    return SessionPublic(
        id=session.id,
        created_at=iso(session.created_at),
        authenticated_at=iso(session.proven_at),
        last_seen_at=iso(session.last_seen_at),
        expires_at=iso(session.expires_at),
        current=current is not None and session.id == current.id,
        user_agent=session.user_agent or None,
        address=session.address or None,
        amr=session.amr,
        second_factor_at=iso(session.second_factor_at) if session.second_factor_at else None,
    )
