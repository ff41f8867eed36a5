"""Passkeys (WebAuthn, py_webauthn): registered by their owner, used alone or after a password.

Every ceremony starts with options carrying a random challenge, stored as its SHA-256 in the
one-time tokens table (single use, MFA_CHALLENGE_TTL), and ends with the browser's answer,
verified against the relying party (its ID and origins from PUBLIC_URL or the WEBAUTHN_*
settings) with user verification required. The challenge is used up in the same
transaction as what the answer allows, and so is a passkey's new sign counter: a counter
that does not move forward (a cloned authenticator) is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import webauthn
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.helpers import events, factors, notices, recovery_codes, tables, users
from app.helpers.clock import iso
from app.helpers.dynamo import TransactionCanceled, Write
from app.helpers.tables import Changed
from app.models import (
    AuthenticationMethod,
    PasskeyAdded,
    PasskeyItem,
    PasskeyPublic,
    SessionItem,
    TokenItem,
    TokenPurpose,
    UserItem,
    WebAuthnOptions,
)

if TYPE_CHECKING:
    from app.helpers.state import AppState

_TIMEOUT_MS = 5 * 60 * 1000
_UV = UserVerificationRequirement.REQUIRED
_PROOF = (
    "Adding or removing a passkey needs your password: prove it again with "
    "POST /api/sessions/current/reauthentication, then retry."
)
_START_AGAIN = "was not accepted: ask for new options and try again"


class Refused(Exception):
    """A passkey's answer that does not sign anyone in (unknown, forged, replayed, cloned)."""


@dataclass(frozen=True)
class RelyingParty:
    """Who the passkeys are for: an RP ID (a host name) and the origins pages come from."""

    id: str
    name: str
    origins: tuple[str, ...]

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> RelyingParty:
        """WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS, or what PUBLIC_URL says.

        An IP address cannot be an RP ID: for a loopback PUBLIC_URL (development's
        http://127.0.0.1:5000) it is `localhost`, and the dashboard is opened at
        http://localhost:5000 for passkeys.
        """
        origins = tuple(
            o.strip().rstrip("/") for o in settings["WEBAUTHN_ORIGINS"].split(",") if o.strip()
        )
        rp_id = settings["WEBAUTHN_RP_ID"]
        public = urlsplit(settings["PUBLIC_URL"])
        if not rp_id and public.hostname:
            rp_id = public.hostname
            if rp_id in ("127.0.0.1", "::1"):
                rp_id = "localhost"
        if not origins and public.hostname:
            port = f":{public.port}" if public.port else ""
            origins = (f"{public.scheme}://{rp_id}{port}",)
        return cls(id=rp_id, name=settings["PRODUCT_NAME"], origins=origins)


# -- registering ---------------------------------------------------------------------------------


def registration_options(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    session: SessionItem | None,
    password_checked: bool,
) -> WebAuthnOptions:
    """Options for navigator.credentials.create(): a discoverable credential, verified user."""
    user = _own(state, actor, username, session=session, password_checked=password_checked)
    if len(user.passkey_ids) >= tables.passkeys.MOST:
        raise Conflict(f"An account has at most {tables.passkeys.MOST} passkeys: remove one first.")
    handle = user.webauthn_handle or _give_handle(state, user)
    challenge = _new_challenge(state, "passkey_registration", user.username)
    options = webauthn.generate_registration_options(
        rp_id=state.relying_party.id,
        rp_name=state.relying_party.name,
        user_id=base64url_to_bytes(handle),
        user_name=user.username,
        user_display_name=f"{user.first_name} {user.last_name}",
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=_UV,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(i)) for i in user.passkey_ids
        ],
    )
    return WebAuthnOptions(options=options_to_json_dict(options))


def register(
    state: AppState, *, actor: UserItem, username: str, name: str, credential: dict[str, Any]
) -> PasskeyAdded:
    """Store the passkey the browser made from our options (with a first factor, codes too).

    When it is the account's first second factor, ten recovery codes come with it, shown once.
    """
    user = _own(state, actor, username)
    try:
        parsed = parse_registration_credential_json(credential)
        token = _stored_challenge(state, parsed, "passkey_registration")
        if token is None or token.username != user.username:
            raise Refused()
        verified = webauthn.verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(_challenge_of(parsed)),
            expected_rp_id=state.relying_party.id,
            expected_origin=list(state.relying_party.origins),
            require_user_verification=True,
        )
    except (Refused, WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise _invalid(_START_AGAIN) from exc
    moment = int(state.now())
    passkey = PasskeyItem(
        credential_id=bytes_to_base64url(verified.credential_id),
        username=user.username,
        name=name,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        created_at=moment,
        backed_up=verified.credential_backed_up,
        transports=[str(t.value) for t in parsed.response.transports or []],
    )
    # The first second factor brings the recovery codes.
    codes, stored = ([], set()) if user.has_second_factor else recovery_codes.issue()
    writes = tables.passkeys.add(user, passkey, user.webauthn_handle, codes=stored)
    try:
        tables.tokens.use(state.store, token, now=moment, writes=writes)
    except tables.tokens.Spent as exc:
        raise _invalid(_START_AGAIN) from exc
    except Changed as exc:  # a passkey added or removed meanwhile, or this one already
        raise Conflict(users.RACE) from exc
    events.emit("passkey_added", username=user.username, passkey=passkey.credential_id)
    notices.mail_second_factors_changed(state, user=user, change=f'a passkey "{name}" was added')
    return PasskeyAdded(**view(passkey).model_dump(), recovery_codes=codes)


def list_passkeys(state: AppState, *, actor: UserItem, username: str) -> list[PasskeyPublic]:
    """A user's passkeys, newest first (the user themself or an admin)."""
    target = users.authorize(actor, username, verb="see the passkeys of")
    user = actor if target == actor.username else users.get_user(state, username=target)
    return [view(p) for p in tables.passkeys.of_user(state.store, user)]


def remove(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    passkey_id: str,
    session: SessionItem | None,
    password_checked: bool,
) -> None:
    """Remove one of one's passkeys; the last second factor takes the recovery codes along."""
    user = _own(state, actor, username, session=session, password_checked=password_checked)
    passkey = tables.passkeys.get(state.store, passkey_id)
    if passkey is None or passkey_id not in user.passkey_ids:
        raise NotFound(f"There is no passkey {passkey_id!r} of {user.username!r}.")
    last = not user.totp_secret and user.passkey_ids == {passkey_id}
    try:
        state.store.transact_write(tables.passkeys.remove(user, passkey_id, last=last))
    except TransactionCanceled as exc:  # removed meanwhile
        raise Conflict(users.RACE) from exc
    events.emit("passkey_removed", username=user.username, passkey=passkey_id)
    notices.mail_second_factors_changed(
        state, user=user, change=f'the passkey "{passkey.name}" was removed'
    )


def view(passkey: PasskeyItem) -> PasskeyPublic:
    """What the owner sees of a passkey."""
    return PasskeyPublic(
        id=passkey.credential_id,
        name=passkey.name,
        created_at=iso(passkey.created_at),
        last_used_at=iso(passkey.last_used_at) if passkey.last_used_at else None,
        backed_up=passkey.backed_up,
    )


# -- signing in ---------------------------------------------------------------------------------


def sign_in_options(state: AppState) -> WebAuthnOptions:
    """Options for navigator.credentials.get() with no account named: a discoverable passkey."""
    _check_enabled(state)
    challenge = _new_challenge(state, "passkey_sign_in", "")
    return WebAuthnOptions(options=_request_options(state, challenge, allowed=()))


def second_step_options(state: AppState, user: UserItem, challenge: str) -> dict[str, Any]:
    """Request options for a sign-in's second step: its challenge, the user's passkeys only."""
    return _request_options(state, base64url_to_bytes(challenge), allowed=user.passkey_ids)


def parse_assertion(credential: dict[str, Any]) -> tuple[AuthenticationCredential, str]:
    """A passkey's answer, read, and the challenge it answers; `Refused` when unreadable."""
    try:
        parsed = parse_authentication_credential_json(credential)
        return parsed, _challenge_of(parsed)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise Refused() from exc


def parse_assertion_challenge(credential: dict[str, Any]) -> str | None:
    """The challenge a passkey's answer says it answers (not yet verified), or None."""
    try:
        return parse_assertion(credential)[1]
    except Refused:
        return None


def stored_sign_in_challenge(state: AppState, challenge: str) -> TokenItem | None:
    """The stored passkey sign-in challenge `challenge` names, if live."""
    stored_as = notices.hash_of(challenge)
    return tables.tokens.live(state.store, stored_as, "passkey_sign_in", now=state.now())


def check_assertion(
    state: AppState,
    parsed: AuthenticationCredential,
    *,
    challenge: str,
    user: UserItem | None = None,
) -> tuple[UserItem, list[Write]]:
    """The user a passkey's answer proves, and the writes that record its use.

    `user`, when the passkey must be theirs; `Refused` when the answer proves nothing.
    """
    passkey = tables.passkeys.get(state.store, parsed.id)
    if passkey is None:
        raise Refused()
    owner = user or tables.users.get(state.store, passkey.username)
    if owner is None or owner.username != passkey.username:
        raise Refused()
    if parsed.id not in owner.passkey_ids:
        raise Refused()  # removed, or reset by an admin
    handle = parsed.response.user_handle
    if handle is not None and bytes_to_base64url(handle) != owner.webauthn_handle:
        raise Refused()
    try:
        verified = webauthn.verify_authentication_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(challenge),
            expected_rp_id=state.relying_party.id,
            expected_origin=list(state.relying_party.origins),
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except WebAuthnException as exc:
        # Among them: a sign counter that did not move forward, a cloned authenticator's.
        events.warn("passkey_refused", username=owner.username, reason=type(exc).__name__)
        raise Refused() from exc
    writes = tables.passkeys.used(
        owner, passkey, sign_count=verified.new_sign_count, at=int(state.now())
    )
    return owner, writes


def check_passkey(
    state: AppState, user: UserItem, credential: dict[str, Any], *, challenge: str
) -> tuple[AuthenticationMethod, list[Write]]:
    """As `factors.check_code`, for a passkey's answer to `challenge` (422: `credential`)."""

    def match() -> tuple[AuthenticationMethod, list[Write]] | None:
        try:
            parsed, answered = parse_assertion(credential)
            if answered != challenge:
                return None
            _, writes = check_assertion(state, parsed, challenge=challenge, user=user)
        except Refused:
            return None
        return "webauthn", writes

    return factors.checked(state, user, "credential", match)


# -- the parts -------------------------------------------------------------------------------


def _own(
    state: AppState,
    actor: UserItem,
    username: str,
    *,
    session: SessionItem | None = None,
    password_checked: bool | None = None,
) -> UserItem:
    _check_enabled(state)
    proof = None if password_checked is None else (session, password_checked, _PROOF)
    return factors.own(state, actor, username, proof=proof, what="Passkeys are")


def _check_enabled(state: AppState) -> None:
    if not state.factors.enabled:
        raise Forbidden(factors.TURNED_OFF)
    if not state.relying_party.id or not state.relying_party.origins:
        raise Forbidden("Passkeys need the service's address: set PUBLIC_URL (or WEBAUTHN_RP_ID).")


def _give_handle(state: AppState, user: UserItem) -> str:
    """The user's WebAuthn user handle, made now (random, never the username)."""
    handle = bytes_to_base64url(secrets.token_bytes(32))
    try:
        tables.passkeys.give_handle(state.store, user, handle)
    except Changed:
        # Another request gave one first: that one stands.
        return users.get_user(state, username=user.username).webauthn_handle
    return handle


def _new_challenge(state: AppState, purpose: TokenPurpose, username: str) -> bytes:
    challenge = secrets.token_bytes(32)
    moment = int(state.now())
    tables.tokens.insert(
        state.store,
        TokenItem(
            token_hash=notices.hash_of(bytes_to_base64url(challenge)) or "",
            purpose=purpose,
            username=username,
            created_at=moment,
            expires_at=moment + state.factors.challenge_ttl,
        ),
    )
    return challenge


def _request_options(
    state: AppState, challenge: bytes, *, allowed: Iterable[str]
) -> dict[str, Any]:
    options = webauthn.generate_authentication_options(
        rp_id=state.relying_party.id,
        challenge=challenge,
        timeout=_TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(i)) for i in sorted(allowed)
        ],
        user_verification=_UV,
    )
    return options_to_json_dict(options)


def _challenge_of(parsed: RegistrationCredential | AuthenticationCredential) -> str:
    """The challenge (base64url) the browser's answer says it answers (not yet verified)."""
    client_data = parse_client_data_json(parsed.response.client_data_json)
    return bytes_to_base64url(client_data.challenge)


def _stored_challenge(
    state: AppState, parsed: RegistrationCredential, purpose: TokenPurpose
) -> TokenItem | None:
    stored_as = notices.hash_of(_challenge_of(parsed))
    return tables.tokens.live(state.store, stored_as, purpose, now=state.now())


def _invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"location": "json", "field": "credential", "detail": detail}])
