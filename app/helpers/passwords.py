"""Password hashing with bcrypt, every character counting; imported foreign hashes checked.

Our own scheme, `bcrypt-sha256`, is bcrypt over a keyed SHA-256 of the password, stored as
the bcrypt hash itself (`$2b$12$...`). Users imported from another system (`flask users
import`) keep their old hash until their first sign-in, which re-hashes it to ours:

- plain bcrypt (`$2a$`, `$2b$`, `$2y$`), stored as `bcrypt$` followed by the hash, so that
  it is never taken for one of ours (it is bcrypt of the password itself, not of its
  pre-hash). bcrypt reads only the first 72 bytes of a password, and the systems such
  hashes come from dropped the rest when they made them: the check does the same.
- argon2id (`$argon2id$v=19$...`, as argon2-cffi, libsodium, Kratos and pwdlib write it),
  stored as it is: its prefix tells it apart.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import threading

import argon2
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


# The schemes an import may name in `hash_scheme`, and an export writes.
OWN = "bcrypt-sha256"
BCRYPT = "bcrypt"
ARGON2ID = "argon2id"
SCHEMES = (OWN, BCRYPT, ARGON2ID)
# What a stored plain-bcrypt hash starts with (Django writes its bcrypt hashes so too).
FOREIGN_BCRYPT = "bcrypt$"
# bcrypt reads at most this many bytes of a password.
BCRYPT_MAX_BYTES = 72
# Costs above these would make one sign-in take seconds (or a gigabyte): refused at import.
MAX_BCRYPT_COST = 16
MAX_ARGON2_MEMORY_KIB = 1024 * 1024
MAX_ARGON2_TIME = 16
MAX_ARGON2_LANES = 64
_BCRYPT_HASH = re.compile(r"\$(2[aby])\$([0-9]{2})\$[./A-Za-z0-9]{53}")
_B64 = "[A-Za-z0-9+/]"
_ARGON2ID_HASH = re.compile(
    rf"\$argon2id\$v=19\$m=([0-9]{{1,10}}),t=([0-9]{{1,10}}),p=([0-9]{{1,3}})"
    rf"\${_B64}{{11,64}}\${_B64}{{16,128}}"
)
_ARGON2 = argon2.PasswordHasher()


def stored_form(scheme: str, password_hash: str) -> str:
    """How a hash made elsewhere (as `export` writes it) is stored; `ValueError` says why not.

    The reasons never quote the hash.
    """
    if scheme == ARGON2ID:
        found = _ARGON2ID_HASH.fullmatch(password_hash)
        if not found:
            raise ValueError("is not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")
        memory, time_cost, lanes = (int(group) for group in found.groups())
        if not 1 <= lanes <= MAX_ARGON2_LANES:
            raise ValueError(f"has an argon2id parallelism outside p=1..{MAX_ARGON2_LANES}")
        if not (8 * lanes <= memory <= MAX_ARGON2_MEMORY_KIB and 1 <= time_cost <= MAX_ARGON2_TIME):
            raise ValueError(
                f"has argon2id costs outside m=8p..{MAX_ARGON2_MEMORY_KIB} (KiB), "
                f"t=1..{MAX_ARGON2_TIME}"
            )
        return password_hash
    if scheme not in (OWN, BCRYPT):
        raise ValueError(f"is not a known hash scheme: use one of {', '.join(SCHEMES)}")
    found = _BCRYPT_HASH.fullmatch(password_hash)
    if not found or (scheme == OWN and found[1] != "2b"):
        variants = "2b" if scheme == OWN else "2a, 2b or 2y"
        raise ValueError(f"is not a {scheme} hash (bcrypt {variants}, a cost, 53 characters)")
    if not 4 <= int(found[2]) <= MAX_BCRYPT_COST:
        raise ValueError(f"has a bcrypt cost outside 4..{MAX_BCRYPT_COST}")
    return password_hash if scheme == OWN else FOREIGN_BCRYPT + password_hash


def origin_form(stored: str) -> tuple[str, str]:
    """A stored hash as `export` writes it: its scheme, and the hash as its origin made it."""
    if stored.startswith(FOREIGN_BCRYPT):
        return BCRYPT, stored.removeprefix(FOREIGN_BCRYPT)
    if stored.startswith("$argon2id$"):
        return ARGON2ID, stored
    return OWN, stored


def hash_password(password: str, rounds: int) -> str:
    """A new salted hash of `password` in our own scheme (a function a process pool can run)."""
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def _check_foreign_bcrypt(password: str, origin_hash: str) -> bool:
    # bcrypt 5 refuses what bcrypt 4 (and the systems these hashes come from) silently
    # cut at 72 bytes: cut it the same way, so that a long password still signs in.
    candidate = password.encode("utf-8")[:BCRYPT_MAX_BYTES]
    return bcrypt.checkpw(candidate, origin_hash.encode("ascii"))


def _check_argon2id(password: str, stored: str) -> bool:
    try:
        return _ARGON2.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        # A mismatch, or a hash it cannot read (import lets none in): no match either way.
        return False


class PasswordHasher:
    """Hashes and checks passwords at a configured bcrypt cost."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        return hash_password(password, self.rounds)

    def check(self, password: str, password_hash: str) -> bool:
        """Whether `password` matches `password_hash` (ours, or an imported one)."""
        if password_hash.startswith(FOREIGN_BCRYPT):
            return _check_foreign_bcrypt(password, password_hash.removeprefix(FOREIGN_BCRYPT))
        if password_hash.startswith("$argon2id$"):
            return _check_argon2id(password, password_hash)
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))

    def check_nothing(self, password: str) -> None:
        """Spend the time of one real check, for an account that does not exist."""
        self.check(password, self.dummy_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a stored hash is imported, or ours at less than the configured cost."""
        if origin_form(password_hash)[0] != OWN:
            return True
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
