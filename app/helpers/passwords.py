"""Password hashing with bcrypt, every character counting."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import threading

import bcrypt

# bcrypt reads at most 72 bytes (and bcrypt 5 refuses more). Pre-hashing with a keyed
# SHA-256 makes every character count, as Django's bcrypt_sha256 does; the key keeps a
# leaked plain SHA-256 of a password elsewhere from being usable against our hashes.
_PREHASH_KEY = b"users-api/bcrypt-sha256/v1"


def _prehash(password: str) -> bytes:
    """44 ASCII bytes standing for the whole password, safe to give bcrypt."""
    digest = hmac.new(_PREHASH_KEY, password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def cost_of(password_hash: str) -> int:
    """The cost factor recorded in a bcrypt hash (`$2b$12$...` → 12)."""
    return int(password_hash.split("$")[2])


class PasswordHasher:
    """Hashes and checks passwords at a configured bcrypt cost."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(self.rounds)).decode("ascii")

    def check(self, password: str, password_hash: str) -> bool:
        """Whether `password` matches `password_hash`."""
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))

    def check_nothing(self, password: str) -> None:
        """Spend the time of one real check, for an account that does not exist."""
        self.check(password, self.dummy_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash is weaker than the configured cost."""
        return cost_of(password_hash) < self.rounds

    @property
    def dummy_hash(self) -> str:
        """A hash at the configured cost that no password is expected to match."""
        if self._dummy_hash is None:
            with self._lock:
                if self._dummy_hash is None:
                    self._dummy_hash = self.hash("dummy password for timing equality")
        return self._dummy_hash


@functools.cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most used passwords (zxcvbn's list, from leaked password corpora)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def policy_problem(password: str, *, username: str, email: str) -> str | None:
    """Why `password` may not be used (NIST SP 800-63B), or None. No composition rules."""
    lowered = password.lower()
    if lowered in common_passwords():
        return "is one of the most commonly used passwords; choose another"
    if lowered in (username.lower(), email.lower()):
        return "must not be the same as the username or the email address"
    return None
