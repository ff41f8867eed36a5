"""The users service: registration, look-up, listing, changes and deletion, and who may do what."""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import TYPE_CHECKING, Any

from app.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ReauthenticationRequired,
    SecondFactorRequired,
    Unauthorized,
    ValidationFailed,
)
from app.helpers import events, lockout, notices, tables
from app.helpers.clock import iso
from app.helpers.credentials import check_password
from app.helpers.passwords import policy_problem
from app.helpers.tables import Changed, Claimed, LastAdmin
from app.models import (
    SessionItem,
    UserCreate,
    UserItem,
    UserPublic,
    UserSelf,
    UserSummary,
    UserUpdate,
    canonical_username,
)

if TYPE_CHECKING:
    from app.helpers.state import AppState

log = logging.getLogger(__name__)

RACE = "A concurrent request changed this user; retry."
_BAD_CURSOR = "The cursor is not valid; start again from the first page."
_LAST_ADMIN = "{username!r} is the last admin: make another admin first."
_COUNT_PAGE = 100
_REPROVE = "prove it again with POST /api/sessions/current/reauthentication, then retry"
_NEW_EMAIL = f"Changing your email needs your password: send current_password, or {_REPROVE}."
_DELETION = f"Deleting your account needs your password: send HTTP Basic, or {_REPROVE}."
_TAKEN = {
    "username": "The username {username!r} is already taken.",
    "email": "That email address is already registered.",
}

# The original tutorial's published demo accounts: (username, password, first name, type).
DEMO_USERS = tuple(
    UserCreate(
        username=username,
        email=f"{username}@example.com",
        password=password,
        first_name=first_name,
        last_name="Doe",
        account_type=account_type,
        # Their example.com addresses cannot receive mail; the demo must not wait for one.
        email_verified=True,
    )
    for username, password, first_name, account_type in (
        ("johndoe", "JohnPass123", "John", "admin_user"),
        ("janedoe", "JanePass123", "Jane", "standard_user"),
    )
)


# Who acts in an operator's command (`flask users ...`): as an admin would, and named so in
# the security events. The parentheses keep it apart from every possible username.
OPERATOR = UserItem(
    username="(operator)",
    email="",
    first_name="",
    last_name="",
    account_type="admin_user",
    password_hash="",
    created_at="",
    updated_at="",
)


def find_user(state: AppState, *, username_or_email: str) -> UserItem:
    """A user by username, or by exact email (one read of its claim, then the user)."""
    if "@" in username_or_email:
        user = tables.users.with_email(state.store, username_or_email.strip().lower())
        if user is None:
            raise NotFound(f"There is no user with the email {username_or_email!r}.")
        return user
    return get_user(state, username=username_or_email)


def find_by_email(state: AppState, *, email: str, actor: UserItem | None) -> list[UserSummary]:
    """The user with exactly this email, as a list of one (or none); admins only.

    One read of the email's claim, then the user: never a Scan. Whether an address is
    registered is not for anyone else to learn.
    """
    if actor is None:
        raise Unauthorized()
    require_admin(actor, "Only an admin can search by email.")
    user = tables.users.with_email(state.store, email)
    return [user.summary()] if user is not None else []


def create_user(state: AppState, *, data: UserCreate, actor: UserItem | None) -> UserItem:
    """Register a user and mail them a verification link.

    Only an admin may create an admin, or a user whose email is verified already.
    """
    for wanted, refusal in (
        (data.account_type == "admin_user", "Only an admin can create an admin account."),
        (data.email_verified, "Only an admin can create an account whose email is verified."),
    ):
        if wanted:
            if actor is None:
                raise Forbidden(refusal)
            require_admin(actor, refusal)
    check_policy(data.password, username=data.username, email=data.email)
    user = _insert(state, data)
    if not user.email_verified:
        notices.mail_verification(state, user=user)
    return user


def seed_demo_users(state: AppState) -> None:
    """Add the tutorial's two demo users, never overwriting an existing user."""
    for data in DEMO_USERS:
        try:
            _insert(state, data)
            log.info("seeded demo user %s", data.username)
        except Conflict:
            log.info("demo user %s already exists; left as it is", data.username)


def _insert(state: AppState, data: UserCreate) -> UserItem:
    stamp = iso(state.now())
    user = UserItem(
        **data.model_dump(exclude={"password"}),
        password_hash=state.passwords.hash(data.password),
        created_at=stamp,
        updated_at=stamp,
        session_key=new_session_key(),
    )
    insert_user(state, user)
    return user


def insert_user(state: AppState, user: UserItem) -> None:
    """Store a new user as it is and claim its email, both or neither (`Conflict` if taken).

    Registration and `flask users import` both write through here: the same transaction,
    and the count of admins who can act started first when the user is one.
    """
    if user.counts_as_admin:
        _start_admin_count(state)
    try:
        tables.users.insert(state.store, user)
    except Claimed as exc:
        raise Conflict(_TAKEN[exc.field].format(username=user.username)) from exc
    except Changed as exc:
        raise Conflict(RACE) from exc


def get_user(state: AppState, *, username: str) -> UserItem:
    """The user called `username` (any case), or `NotFound`."""
    key = canonical_username(username)
    user = tables.users.get(state.store, key) if key else None
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user


def read_user(
    state: AppState, *, username: str, actor: UserItem | None, directory: str = "public"
) -> UserSelf | UserPublic:
    """What `actor` may see of a user: another's profile as far as `directory` allows."""
    if actor is None or canonical_username(username) != actor.username:
        check_directory(directory, actor=actor)
    return view_of(get_user(state, username=username), actor=actor)


def check_directory(directory: str, *, actor: UserItem | None) -> None:
    """Whether `actor` may read the directory: `Unauthorized` or `Forbidden` if not."""
    if directory == "public":
        return
    if actor is None:
        raise Unauthorized()
    if directory == "admins":
        require_admin(actor, "Only admins can read other users' accounts.")


def view_of(user: UserItem, *, actor: UserItem | None) -> UserSelf | UserPublic:
    """What `actor` may see of `user`: everything but the hash for themself or an admin."""
    if actor is not None and (actor.is_admin or actor.username == user.username):
        return user.self_view()
    return user.public()


def list_users(
    state: AppState,
    *,
    limit: int,
    cursor: str | None = None,
    actor: UserItem | None = None,
    directory: str = "public",
    prefix: str | None = None,
) -> tuple[list[UserSummary] | list[UserPublic], str | None]:
    """One page of users and the next page's cursor, if any; an admin sees their state.

    In no order (a single Scan), as far as `directory` allows (the DIRECTORY setting:
    anyone, signed-in users, admins). With `prefix` (admins only): the users whose username
    starts with it, in username order, from the sharded index (`tables.users.search`).
    """
    after = decode_cursor(cursor) if cursor else None
    if prefix is not None:
        if actor is None:
            raise Unauthorized()
        require_admin(actor, "Only an admin can search by username prefix.")
        start = prefix.lower()
        found, more = tables.users.search(state.store, prefix=start, limit=limit, after=after)
        return found, encode_cursor(found[-1].username) if more else None
    check_directory(directory, actor=actor)
    page, last = tables.users.page(state.store, limit=limit, after=after)
    next_cursor = encode_cursor(last) if last else None
    if actor is not None and actor.is_admin:
        return page, next_cursor
    return [
        UserPublic.model_validate(u.model_dump(exclude={"disabled"})) for u in page
    ], next_cursor


def update_user(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    changes: UserUpdate,
    current_session: SessionItem | None = None,
    password_checked: bool = False,
) -> UserItem:
    """Change a user's fields; the user themself or an admin; account type and state by an admin.

    Disabling (an admin, never their own account) ends the user's sessions at once. A new
    password needs the current one (unless an admin changes another user's) and ends
    every other session of the user. A new email for one's own account needs the password
    too, or a recent proof of it: `password_checked` when the actor's password was checked
    in this request (HTTP Basic), else `current_session`'s last proof within REAUTH_WINDOW.
    """
    target = authorize(actor, username)
    fields: dict[str, Any] = changes.changes()
    if "account_type" in fields:
        require_admin(actor, "Only an admin can change an account type.")
    if "disabled" in fields:
        require_admin(actor, "Only an admin can disable or enable an account.")
    if "email_verified" in fields:
        require_admin(actor, "Only an admin can mark an email verified; open the mailed link.")
    if fields.get("disabled") and actor.username == target:
        raise Forbidden("You cannot disable your own account: another admin can.")
    current = get_user(state, username=target)
    for flag in ("disabled", "email_verified"):
        if fields.get(flag, getattr(current, flag)) == getattr(current, flag):
            fields.pop(flag, None)
    if fields.get("email", current.email) == current.email:
        fields.pop("email", None)
    elif "email_verified" not in fields:
        fields["email_verified"] = False  # a new address is proven by its own mail
    if not fields:
        return current
    own = actor.username == target
    proven = False
    if own and fields.get("email", current.email) != current.email:
        require_recent_proof(
            state,
            target,
            changes.current_password,
            session=current_session,
            password_checked=password_checked,
            what=_NEW_EMAIL,
        )
        proven = changes.current_password is not None
    keep: SessionItem | None = None
    if "password" in fields:
        password = fields.pop("password")
        if own and not proven:
            _prove_password(state, target, changes.current_password)
        check_policy(password, username=target, email=fields.get("email", current.email))
        fields["password_hash"] = state.passwords.hash(password)
        fields["session_key"] = new_session_key()
        if current_session is not None and current_session.username == target:
            keep = current_session
    if "disabled" in fields:
        fields["session_key"] = new_session_key()  # disabling ends every session at once
        keep = None
    fields["updated_at"] = iso(state.now())
    user = _write_changes(state, current, fields, keep=keep)
    _record_changes(current, user, actor=actor)
    _mail_changes(state, current, user)
    if "session_key" in fields:
        # Other sessions already fail (their key is not the user's); this tidies the table.
        tables.sessions.delete_of_user(state.store, target, keep=keep.token_hash if keep else None)
    return user


def _write_changes(
    state: AppState, current: UserItem, fields: dict[str, Any], *, keep: SessionItem | None
) -> UserItem:
    """Write `fields`; together with what must change with them, or not at all.

    The email claims when the email moves, the caller's session when it must follow a new
    session key, the count of admins when the account type changes: all only if the user
    is still as read.
    """
    admins = current.model_copy(update=fields).counts_as_admin - current.counts_as_admin
    if admins:
        _start_admin_count(state)
    try:
        if fields.get("email", current.email) == current.email and keep is None and not admins:
            return tables.users.update(state.store, current, fields)
        also = [tables.sessions.adopt_key(keep, fields["session_key"])] if keep else []
        return tables.users.update_together(state.store, current, fields, also=also, admins=admins)
    except Claimed as exc:
        raise Conflict(_TAKEN[exc.field]) from exc
    except LastAdmin as exc:
        raise Conflict(_LAST_ADMIN.format(username=current.username)) from exc
    except Changed as exc:
        if tables.users.get(state.store, current.username) is None:
            raise NotFound(f"There is no user {current.username!r}.") from exc
        raise Conflict(RACE) from exc


def delete_user(
    state: AppState,
    *,
    actor: UserItem,
    username: str,
    current_session: SessionItem | None = None,
    password_checked: bool = False,
) -> None:
    """Delete a user, release their email and end their sessions; themself or an admin.

    Deleting one's own account needs a recent proof of the password (`password_checked`
    or `current_session`, as for `update_user`).
    """
    target = authorize(actor, username, verb="delete")
    if actor.username == target:
        require_recent_proof(
            state,
            target,
            None,
            session=current_session,
            password_checked=password_checked,
            what=_DELETION,
        )
    current = get_user(state, username=target)
    if current.counts_as_admin:
        _start_admin_count(state)
    try:
        tables.users.delete(state.store, current)
    except LastAdmin as exc:
        raise Conflict(_LAST_ADMIN.format(username=current.username)) from exc
    except Changed as exc:
        raise Conflict(RACE) from exc
    events.emit("user_deleted", username=target, by=actor.username)
    # Sessions and passkeys already fail (their user is gone); this only tidies the tables.
    tables.sessions.delete_of_user(state.store, target)
    tables.passkeys.delete_many(state.store, current.passkey_ids)


def _record_changes(before: UserItem, after: UserItem, *, actor: UserItem) -> None:
    """One security event for each change that matters: password, email, type, state."""
    who = {"username": after.username, "by": actor.username}
    if after.password_hash != before.password_hash:
        events.emit("password_changed", **who)
    if after.email != before.email:
        events.emit("email_changed", **who)
    if after.account_type != before.account_type:
        was, now = before.account_type, after.account_type
        events.emit("account_type_changed", **who, was=was, now=now)
    if after.disabled != before.disabled:
        events.emit("account_disabled" if after.disabled else "account_enabled", **who)
    if after.email_verified != before.email_verified and after.email == before.email:
        events.emit("email_verified_set", **who, verified=after.email_verified)


def _mail_changes(state: AppState, before: UserItem, after: UserItem) -> None:
    """The mails a change sends: a notice of a new password or address, and a verification."""
    if after.password_hash != before.password_hash:
        notices.mail_password_changed(state, user=after)
    if after.email != before.email:
        notices.mail_email_changed(state, user=after, old_email=before.email)
        if not after.email_verified:
            notices.mail_verification(state, user=after)


def unlock_user(state: AppState, *, actor: UserItem, username: str) -> None:
    """Forget a user's failed logins, ending any lock at once; an admin only."""
    require_admin(actor, "Only an admin can unlock an account.")
    user = get_user(state, username=username)
    lockout.reset(state, username=user.username)
    events.emit("account_unlocked", username=user.username, by=actor.username)


def _start_admin_count(state: AppState) -> None:
    """Start the count of enabled admins if it has not been (a deployment older than it).

    One paginated Scan, once: every write that makes or unmakes an admin needs the count
    to exist, so none can happen between this scan and the count it starts.
    """
    if tables.users.admin_count(state.store) is not None:
        return
    admins, after = 0, None
    while True:
        page, after = tables.users.page(state.store, limit=_COUNT_PAGE, after=after)
        admins += sum(user.account_type == "admin_user" and not user.disabled for user in page)
        if after is None:
            break
    tables.users.start_admin_count(state.store, admins)


def new_session_key() -> str:
    """A random value that ties sessions to one state of a user (see UserItem.session_key)."""
    return secrets.token_urlsafe(16)


def renew_session_key(state: AppState, *, username: str) -> None:
    """Give a user a new session key, which ends every session they have, at once."""
    try:
        tables.users.set_session_key(state.store, username, new_session_key())
    except Changed as exc:
        raise NotFound(f"There is no user {username!r}.") from exc
    # Tidying only: the index may not list the newest sessions, which fail on their key.
    tables.sessions.delete_of_user(state.store, username)


def authorize(actor: UserItem, username: str, *, verb: str = "change") -> str:
    """The canonical target username, if `actor` may act on it."""
    target = canonical_username(username)
    if target is None or (target != actor.username and not actor.is_admin):
        if actor.is_admin:
            raise NotFound(f"There is no user {username!r}.")
        require_admin(actor, f"You can only {verb} your own account.")
    return target  # type: ignore[return-value]


def require_admin(actor: UserItem, refusal: str) -> None:
    """Go on only for an admin: `Forbidden(refusal)` for anyone else.

    An admin whose session has no second factor under REQUIRE_ADMIN_MFA is told so instead
    (`SecondFactorRequired`): their own account is theirs to use, admin actions are not.
    """
    if actor.is_admin:
        return
    if actor.admin_withheld:
        raise SecondFactorRequired()
    raise Forbidden(refusal)


def _prove_password(state: AppState, username: str, password: str | None) -> None:
    """Check the current password before a change, under the same lockout as a login."""
    if not password:
        raise _password_error("current_password", "is required to set a new password")
    try:
        check_password(state, username=username, password=password, signing_in=False)
    except Unauthorized as exc:
        raise _password_error("current_password", "is not the current password") from exc


def require_recent_proof(
    state: AppState,
    username: str,
    password: str | None,
    *,
    session: SessionItem | None,
    password_checked: bool,
    what: str,
) -> None:
    """A sensitive change to one's own account: the password sent with it, or proven lately.

    Lately is within REAUTH_WINDOW seconds in the caller's session (0: sessions never
    count): a stolen token then has little time to take the account (a new email takes its
    recovery; a deletion cannot be undone).
    """
    if password is not None:
        _prove_password(state, username, password)
        return
    if password_checked:  # HTTP Basic: checked in this very request
        return
    window = state.session_policy.reauth_window
    if session is None or state.now() - session.proven_at >= window:
        raise ReauthenticationRequired(what)


def check_policy(password: str, *, username: str, email: str) -> None:
    """The password policy for a new password; a 422 on `password` when it refuses it."""
    problem = policy_problem(password, username=username, email=email)
    if problem:
        raise _password_error("password", problem)


def _password_error(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(errors=[{"location": "json", "field": field, "detail": detail}])


# -- page cursors ---------------------------------------------------------------------------


def encode_cursor(username: str) -> str:
    """An opaque page cursor: the last username of a page, unpadded base64url."""
    return base64.urlsafe_b64encode(username.encode("ascii")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The username a cursor stands for; `BadRequest` when it is not one of ours."""
    try:
        # Padding beyond what is missing is ignored: two "=" always restore enough.
        username = base64.urlsafe_b64decode(cursor.encode("ascii") + b"==").decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadRequest(_BAD_CURSOR) from exc
    if canonical_username(username) != username:
        raise BadRequest(_BAD_CURSOR)
    return username
