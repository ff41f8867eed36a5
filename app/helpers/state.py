"""The app's own state: one typed object, under one key of `app.extensions`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from flask import Flask, current_app

from app.helpers.clock import Clock

if TYPE_CHECKING:
    from flask_limiter import Limiter

    from app.helpers.dynamo import DynamoInterface
    from app.helpers.factors import FactorPolicy
    from app.helpers.health import Readiness
    from app.helpers.keyring import Keyring
    from app.helpers.lockout import LockoutPolicy
    from app.helpers.mail import Mailer
    from app.helpers.messages import Composer
    from app.helpers.notices import EmailPolicy
    from app.helpers.passkeys import RelyingParty
    from app.helpers.passwords import PasswordHasher
    from app.helpers.sessions import SessionPolicy

KEY = "users_api"


class Budget(Protocol):
    """A budget a request spends from (app.security.LoginBudget)."""

    def spend(self) -> None:
        """Spend one; `TooManyRequests` when none is left."""


@dataclass
class AppState:
    """What the services and routes need: the store, the hasher, the rules, the clock."""

    store: DynamoInterface
    passwords: PasswordHasher
    session_policy: SessionPolicy
    lockout: LockoutPolicy
    readiness: Readiness
    limiter: Limiter
    login_budget: Budget  # spent by every password check (app/security.py)
    mailer: Mailer  # sends off the request path (app/helpers/mail.py)
    messages: Composer  # writes the mails from templates (app/helpers/messages.py)
    email_policy: EmailPolicy  # mailed links, mails per account, verified sign-in
    keyring: Keyring  # encrypts second factors' secrets (SECRET_KEYS)
    factors: FactorPolicy  # second factors: on or off, who needs one, the sign-in's wait
    relying_party: RelyingParty  # passkeys: the RP ID and origins
    # Every stored time comes from here; tests put a clock they move by hand.
    clock: Clock = field(default=time.time)

    def now(self) -> float:
        """The current time, in seconds since the epoch."""
        return self.clock()

    def install(self, app: Flask) -> None:
        """Make this the state of `app`."""
        app.extensions[KEY] = self


def state_of(app: Flask) -> AppState:
    """The state of `app`."""
    return app.extensions[KEY]


def current_state() -> AppState:
    """The state of the app serving the current request (or in the current app context)."""
    return state_of(current_app)
