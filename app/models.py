"""Pydantic models, kept apart: what clients send, what they may see, and what is stored."""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    PrivateAttr,
    RootModel,
    StrictBool,
    StringConstraints,
    model_validator,
)

AccountType = Literal["admin_user", "standard_user"]
# Upper case is accepted and lower-cased: the stored username is always lower case.
USERNAME_PATTERN = r"^[A-Za-z0-9._-]{3,32}$"
_USERNAME_ANY_CASE = re.compile(USERNAME_PATTERN)


def _no_surrogates(value: Any) -> Any:
    # A lone surrogate is a valid Python str but cannot be encoded: refuse it here,
    # or it fails as a 500 deep in hashing or serialisation.
    if isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("must be valid Unicode text")
    return value


def _lower_username(value: Any) -> Any:
    if isinstance(value, str):
        if not _USERNAME_ANY_CASE.fullmatch(value):
            raise ValueError("must be 3 to 32 characters: letters, digits, '.', '_' or '-'")
        return value.lower()
    return value


def _clean_name(value: Any) -> Any:
    value = _no_surrogates(value)
    if isinstance(value, str):
        # Cc: control characters; Cf: format characters, among them the bidirectional
        # overrides that make a name display as something else.
        if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
            raise ValueError("must not contain control or formatting characters")
        value = value.strip()
    return value


def _lower_email(value: Any) -> Any:
    value = _no_surrogates(value)
    return value.strip().lower() if isinstance(value, str) else value


def _password_rules(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


def canonical_username(value: str) -> str | None:
    """The stored form of a username, or None when it cannot be one."""
    return value.lower() if _USERNAME_ANY_CASE.fullmatch(value) else None


Username = Annotated[
    str,
    StringConstraints(pattern=USERNAME_PATTERN),
    BeforeValidator(_lower_username),
    Field(description="3 to 32 of a-z 0-9 . _ - (upper case is accepted and lower-cased)"),
]
Email = Annotated[EmailStr, BeforeValidator(_lower_email), Field(max_length=254)]


def _ranges(categories: tuple[str, ...]) -> str:
    """A regular-expression class body for every code point in these Unicode categories."""
    # Cc and Cf have code points in planes 0, 1 and 14 only: scanning those is 8x quicker.
    planes = itertools.chain(range(0x20000), range(0xE0000, 0xF0000))
    points = [c for c in planes if unicodedata.category(chr(c)) in categories]
    ranges: list[list[int]] = []
    for point in points:
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])

    def escape(point: int) -> str:
        return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"

    return "".join(escape(a) + (f"-{escape(b)}" if b > a else "") for a, b in ranges)


# What the document says of a name: no control or format character (Unicode Cc, Cf), and
# something besides spaces.
_REFUSED = _ranges(("Cc", "Cf"))
_NAME_PATTERN = f"^[^{_REFUSED}]*[^\\s{_REFUSED}][^{_REFUSED}]*$"


def _name_of(most: int) -> Any:
    """A name of 1 to `most` characters, trimmed, without control or format characters."""
    return Annotated[
        str,
        StringConstraints(min_length=1, max_length=most),
        BeforeValidator(_clean_name),
        Field(
            description=f"1 to {most} characters, trimmed; no control or format characters",
            json_schema_extra={"pattern": _NAME_PATTERN},
        ),
    ]


Name = _name_of(100)
PasskeyName = _name_of(64)
Timestamp = Annotated[
    str, Field(description="ISO 8601, UTC", json_schema_extra={"format": "date-time"})
]
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=256),
    BeforeValidator(_no_surrogates),
    AfterValidator(_password_rules),
    Field(
        description="8 to 256 characters, no NUL; every character counts",
        json_schema_extra={"pattern": "^[^\x00]*$"},
        repr=False,
    ),
]


def _drop_defaults(schema: dict[str, Any]) -> None:
    # An optional field defaults to "absent", not to null: keep `null` out of the document.
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


# Validation errors never quote what was sent: it may be a password or a hash.
_SECRET_SAFE = ConfigDict(hide_input_in_errors=True)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_defaults, **_SECRET_SAFE)


class UserCreate(_Input):
    """Registration body."""

    username: Username
    email: Email
    password: Password
    first_name: Name
    last_name: Name
    account_type: AccountType = "standard_user"
    email_verified: StrictBool = Field(
        False, description="Admins only: true creates the user verified, with no mail sent"
    )


class UserUpdate(_Input):
    """PATCH body: any subset of the changeable fields (null is not a value)."""

    first_name: Name = None  # type: ignore[assignment]
    last_name: Name = None  # type: ignore[assignment]
    email: Email = None  # type: ignore[assignment]
    password: Password = None  # type: ignore[assignment]
    current_password: str = Field(  # type: ignore[assignment]
        None,
        max_length=256,
        repr=False,
        description="Required with `password`, unless an admin changes another user's",
    )
    account_type: AccountType = None  # type: ignore[assignment]
    disabled: StrictBool = Field(  # type: ignore[assignment]
        None,
        description="Admins only: true ends the user's sessions and refuses their sign-in",
    )
    email_verified: StrictBool = Field(  # type: ignore[assignment]
        None, description="Admins only: mark the email verified (or not) without a mail"
    )

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, but the current password (a proof, not a change)."""
        return {name: getattr(self, name) for name in self.model_fields_set - {"current_password"}}


class Credentials(_Input):
    """Log-in body."""

    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=256, repr=False)


class ListQuery(_Input):
    """Query string of `GET /api/users`."""

    limit: int = Field(50, ge=1, le=100, description="Users per page, 1 to 100")
    cursor: str = Field(  # type: ignore[assignment]
        None, max_length=200, description="Opaque cursor from the previous page's Link header"
    )
    email: Email = Field(  # type: ignore[assignment]
        None,
        description=(
            "Admins only: the user with exactly this email (a list of one, or empty);"
            " limit, cursor and prefix are then ignored"
        ),
    )
    prefix: str = Field(  # type: ignore[assignment]
        None,
        pattern=r"^[A-Za-z0-9._-]{0,32}$",
        description=(
            "Admins only: users whose username starts with this (any case), in username order;"
            " empty for every user in order"
        ),
    )


# What a mailed link carries: anything else is simply not a valid token (400, not 422).
MailedToken = Annotated[str, Field(min_length=1, max_length=256, repr=False)]


def _one_property(schema: dict[str, Any]) -> None:
    _drop_defaults(schema)
    schema["minProperties"] = schema["maxProperties"] = 1


def _challenge_and_one_proof(schema: dict[str, Any]) -> None:
    _drop_defaults(schema)
    schema["minProperties"] = schema["maxProperties"] = 2
    schema["required"] = ["challenge"]


def _at_most_one_property(schema: dict[str, Any]) -> None:
    _drop_defaults(schema)
    schema["maxProperties"] = 1


class _NamedAccount(_Input):
    """An account named by its username or its email, not both."""

    username: str = Field(None, min_length=1, max_length=256)  # type: ignore[assignment]
    email: str = Field(None, min_length=1, max_length=256)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _not_both(self) -> _NamedAccount:
        if self.username is not None and self.email is not None:
            raise ValueError("give username or email, not both")
        return self


class AccountReference(_NamedAccount):
    """Which account a mail is asked for: its username or its email, exactly one."""

    model_config = ConfigDict(json_schema_extra=_one_property)

    @model_validator(mode="after")
    def _one(self) -> AccountReference:
        if self.username is None and self.email is None:
            raise ValueError("give username or email")
        return self


class VerificationRequest(_NamedAccount):
    """A verification mail: for the caller (a bearer token and no field) or a named account."""

    model_config = ConfigDict(json_schema_extra=_at_most_one_property)


class PasswordResetConfirm(_Input):
    """The token of a reset link and the new password."""

    token: MailedToken
    password: Password


class TokenConfirm(_Input):
    """The token of a verification link."""

    token: MailedToken


# A TOTP code (6 digits) or a recovery code (16 symbols, any case, spaces or dashes).
SecondFactorCode = Annotated[
    str,
    BeforeValidator(_no_surrogates),
    Field(min_length=1, max_length=64, repr=False, description="A TOTP or a recovery code"),
]


# What a browser's navigator.credentials.create() or .get() gave, as its toJSON() writes it.
WebAuthnCredential = Annotated[
    dict[str, Any],
    Field(description="A PublicKeyCredential as JSON (credential.toJSON() in a browser)"),
]


class SecondFactorProof(_Input):
    """The second step of a sign-in: its challenge, and a code or a passkey's answer."""

    model_config = ConfigDict(json_schema_extra=_challenge_and_one_proof)

    challenge: MailedToken
    code: SecondFactorCode = None  # type: ignore[assignment]
    credential: WebAuthnCredential = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _exactly_one(self) -> SecondFactorProof:
        if (self.code is None) == (self.credential is None):
            raise ValueError("give code or credential, not both")
        return self


class PasskeyRegistration(_Input):
    """A new passkey: a name for it, and the browser's answer to the creation options."""

    name: PasskeyName
    credential: WebAuthnCredential


class PasskeyAssertion(_Input):
    """A passkey's answer to the sign-in options."""

    credential: WebAuthnCredential


class CodeProof(_Input):
    """A code from the authenticator app being set up."""

    code: SecondFactorCode


class TotpRemoval(_Input):
    """Turning TOTP off: the password and a code (TOTP or recovery), both."""

    password: str = Field(min_length=1, max_length=256, repr=False)
    code: SecondFactorCode


class Reauthentication(_Input):
    """A proof given again in a session before a sensitive change: one of three.

    The password, a code, or a passkey's answer (to POST /api/sessions/passkey-options). A
    code (TOTP or recovery) or a passkey also marks the session as signed in with a second
    factor.
    """

    model_config = ConfigDict(json_schema_extra=_one_property)

    password: str = Field(None, min_length=1, max_length=256, repr=False)  # type: ignore[assignment]
    code: SecondFactorCode = None  # type: ignore[assignment]
    credential: WebAuthnCredential = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _exactly_one(self) -> Reauthentication:
        given = [self.password, self.code, self.credential]
        if sum(proof is not None for proof in given) != 1:
            raise ValueError("give one of password, code or credential")
        return self


class Accepted(BaseModel):
    """A request taken: what follows happens off the request path (a mail, if any)."""

    detail: str


class CredentialsQuery(_Input):
    """The original tutorial's credential check in the query string (kept for compatibility)."""

    username: str = Field(  # type: ignore[assignment]
        None, max_length=256, description="With `password`: both or neither (422 otherwise)"
    )
    password: str = Field(  # type: ignore[assignment]
        None,
        max_length=256,
        repr=False,
        description="With `username`: both or neither (422 otherwise)",
    )


class UserPublic(BaseModel):
    """What anyone may see of a user."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    username: str
    first_name: str
    last_name: str
    account_type: AccountType


class UserSummary(UserPublic):
    """A user in an admin's list: the public view and whether the account is disabled."""

    disabled: bool = Field(False, description="Sessions ended and sign-in refused (by an admin)")


class UserSelf(UserSummary):
    """What a user (or an admin) sees of their own account."""

    email: str
    email_verified: bool = Field(
        description="Whether the owner proved the address is theirs (a mailed link)"
    )
    totp_enabled: bool = Field(
        False, description="Whether signing in asks for a code from an authenticator app"
    )
    recovery_codes_left: int = Field(
        0, description="Recovery codes not used yet (each signs in once instead of a code)"
    )
    passkeys: int = Field(0, description="How many passkeys the account has")
    created_at: Timestamp
    updated_at: Timestamp


class UserItem(BaseModel):
    """A user as stored in DynamoDB. Never returned as it is: it holds the password hash."""

    model_config = _SECRET_SAFE

    username: str
    email: str
    first_name: str
    last_name: str
    account_type: AccountType
    password_hash: str = Field(repr=False)
    created_at: str
    updated_at: str
    # Sessions carry the key their user had when they began; a new key (on "log out
    # everywhere", a password change, or a new account under an old name) ends them all.
    session_key: str = Field("", repr=False)
    # Set by an admin: sign-in refused (403 after the right password), sessions ended.
    disabled: bool = False
    # Proven by a mailed link (verification or password reset); users stored before this
    # field existed read as unverified.
    email_verified: bool = False
    # Second factors (app/helpers/factors.py). TOTP secrets are encrypted with SECRET_KEYS;
    # `totp_pending` is one being set up, not yet confirmed with a code.
    totp_secret: str = Field("", repr=False)
    totp_pending: str = Field("", repr=False)
    totp_last_step: int | None = None  # the last step a code was accepted for: no replay
    recovery_codes: set[str] = Field(default_factory=set, repr=False)  # SHA-256 of each
    # Passkeys: the credential ids that are this user's (the passkeys table holds their keys),
    # and the user handle the authenticators keep (random; never the username).
    passkey_ids: set[str] = Field(default_factory=set)
    webauthn_handle: str = ""
    # An admin whose session lacks a second factor under REQUIRE_ADMIN_MFA acts as a
    # standard user for this request (never stored).
    _admin_withheld: bool = PrivateAttr(False)

    @property
    def is_admin(self) -> bool:
        """Whether this user may administer other users in this request."""
        return self.account_type == "admin_user" and not self._admin_withheld

    @property
    def admin_withheld(self) -> bool:
        """Whether this admin's powers wait for a second factor (REQUIRE_ADMIN_MFA)."""
        return self._admin_withheld

    def withholding_admin(self) -> UserItem:
        """A copy of the user whose admin powers wait for a second factor (this request)."""
        copy = self.model_copy()
        copy._admin_withheld = True
        return copy

    @property
    def counts_as_admin(self) -> bool:
        """Whether this user is one of the admins who can act (the count never goes below 1)."""
        return self.account_type == "admin_user" and not self.disabled

    @property
    def has_second_factor(self) -> bool:
        """Whether signing in needs a second step."""
        return bool(self.totp_secret or self.passkey_ids)

    def public(self) -> UserPublic:
        """The public view."""
        return UserPublic.model_validate(self.model_dump(include=set(UserPublic.model_fields)))

    def summary(self) -> UserSummary:
        """What an admin sees of the user in a list."""
        return UserSummary.model_validate(self.model_dump(include=set(UserSummary.model_fields)))

    def self_view(self) -> UserSelf:
        """The owner's view."""
        fields = self.model_dump(include=set(UserSelf.model_fields))
        return UserSelf.model_validate(
            {
                **fields,
                "totp_enabled": bool(self.totp_secret),
                "recovery_codes_left": len(self.recovery_codes),
                "passkeys": len(self.passkey_ids),
            }
        )


class UserView(RootModel[UserSelf | UserPublic]):
    """The owner's or an admin's view of a user, or the public view for anyone else."""


class UserListing(RootModel[list[UserSummary] | list[UserPublic]]):
    """A page of users: with each account's state for an admin, the public views otherwise."""


TokenPurpose = Literal[
    "password_reset", "email_verification", "sign_in", "passkey_registration", "passkey_sign_in"
]


class TokenItem(BaseModel):
    """A mailed one-time token as stored: keyed by its SHA-256, never by the token."""

    model_config = _SECRET_SAFE

    token_hash: str = Field(repr=False)
    purpose: TokenPurpose
    username: str = ""  # none for a passkey sign-in's challenge: the passkey names its user
    email: str = ""  # the address it was mailed to
    # A reset token dies with the password and email it was issued under (notices.account_stamp).
    account_stamp: str = Field("", repr=False)
    created_at: int
    expires_at: int  # also DynamoDB's TTL


# How a session was authenticated (RFC 8176's names, and ours for a recovery code).
AuthenticationMethod = Literal["pwd", "otp", "recovery_code", "webauthn"]


class SessionItem(BaseModel):
    """A session as stored: keyed by the SHA-256 of its token, never by the token."""

    model_config = _SECRET_SAFE

    token_hash: str = Field(repr=False)
    id: str
    username: str
    user_key: str = Field(repr=False)
    created_at: int
    last_seen_at: int
    expires_at: int  # the earlier of the absolute and the idle deadline; DynamoDB's TTL
    absolute_expires_at: int
    # Where the session began, for its owner to recognise it ("" for older sessions).
    user_agent: str = ""
    address: str = ""
    # When the password was last proven in this session: at login, then at each
    # reauthentication (None for older sessions: their login).
    authenticated_at: int | None = None
    # How the session was authenticated (RFC 8176 names where there is one): "pwd", then
    # "otp" or "recovery_code" after a second step; and when that second factor was proven.
    amr: list[AuthenticationMethod] = Field(default_factory=lambda: ["pwd"])
    second_factor_at: int | None = None

    @property
    def has_second_factor(self) -> bool:
        """Whether a second factor was proven in this session."""
        return self.second_factor_at is not None

    @property
    def proven_at(self) -> int:
        """When the password was last proven in this session."""
        return self.created_at if self.authenticated_at is None else self.authenticated_at


class SessionPublic(BaseModel):
    """A session as its owner sees it: no token, no token hash."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    id: str = Field(description="Identifies the session; it is not a credential")
    created_at: Timestamp
    authenticated_at: Timestamp = Field(
        description="When the password was last proven in this session (login or reauthentication)"
    )
    last_seen_at: Timestamp
    expires_at: Timestamp
    current: bool = Field(description="Whether this request was made with this session")
    user_agent: str | None = Field(
        description="The User-Agent of the login that began the session (at most 256 characters)"
    )
    address: str | None = Field(description="The client address the session began from")
    amr: list[AuthenticationMethod] = Field(
        description="How the session was authenticated: pwd, then otp, recovery_code or "
        "webauthn; or webauthn alone (a passkey)"
    )
    second_factor_at: Timestamp | None = Field(
        description="When a second factor was last proven in this session (null: never)"
    )


class Client(BaseModel):
    """Where a login comes from, as the request says it: its address and User-Agent."""

    address: str = ""
    user_agent: str = ""


class LoginResult(BaseModel):
    """A new session: the token is shown once, here, and never stored."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    token: str = Field(repr=False)
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_at: Timestamp
    user: UserSelf


SecondFactorMethod = Literal["totp", "webauthn", "recovery_code"]


class SecondFactorChallenge(BaseModel):
    """The right password for an account with a second factor: the step that comes next."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    challenge: str = Field(
        repr=False, description="For POST /api/sessions/mfa: single use, short-lived"
    )
    methods: list[SecondFactorMethod] = Field(description="What the second step takes")
    expires_at: Timestamp
    webauthn: dict[str, Any] | None = Field(
        None,
        description="With webauthn among the methods: the PublicKeyCredentialRequestOptions "
        "(JSON) for navigator.credentials.get(), whose answer goes with the challenge",
    )


class WebAuthnOptions(BaseModel):
    """Options for navigator.credentials.create() or .get(), as JSON (single use, short-lived)."""

    model_config = ConfigDict(extra="forbid")

    options: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptions or RequestOptions, JSON-encoded "
        "(PublicKeyCredential.parseCreationOptionsFromJSON / parseRequestOptionsFromJSON)"
    )


class PasskeyPublic(BaseModel):
    """A passkey as its owner sees it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The credential's id (base64url); not a secret")
    name: str
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(description="The last sign-in with it (null: none)")
    backed_up: bool = Field(description="Whether it is synced (a passkey in a password manager)")


class PasskeyAdded(PasskeyPublic):
    """A passkey just added, and the recovery codes when it is the account's first factor."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    recovery_codes: list[str] = Field(
        repr=False, description="Ten codes, shown once, when no second factor was set up before"
    )


class PasskeyItem(BaseModel):
    """A passkey as stored: keyed by its credential id, its public key and sign counter."""

    credential_id: str
    username: str
    name: str
    public_key: str  # COSE, base64url
    sign_count: int = 0
    created_at: int
    last_used_at: int | None = None
    backed_up: bool = False
    transports: list[str] = Field(default_factory=list)


class TotpEnrolment(BaseModel):
    """A TOTP secret being set up: for the authenticator app, shown once."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    secret: str = Field(repr=False, description="Base32, for typing into the app")
    otpauth_uri: str = Field(repr=False, description="The otpauth:// URI the QR code holds")
    qr_svg: str = Field(repr=False, description="The QR code of otpauth_uri, as an SVG image")


class RecoveryCodes(BaseModel):
    """Recovery codes, shown once: each signs in once in place of a code."""

    model_config = ConfigDict(extra="forbid", **_SECRET_SAFE)

    recovery_codes: list[str] = Field(repr=False)


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    r"""`text` with each control or line-breaking character escaped (`\r` for a CR).

    What a client sent (a path with `%0d%0a`) can then never start a forged log line.
    """
    return _UNPRINTABLE.sub(lambda found: found[0].encode("unicode_escape").decode(), text)
