"""Secrets kept in DynamoDB encrypted: a keyring of Fernet keys, newest first (SECRET_KEYS).

What must be read back (a second factor's TOTP secret) cannot be hashed: it is encrypted
with the newest key and decrypted with whichever key made it, so a key can be rotated by
putting a new one first and dropping the old one once `Keyring.rotate` has re-encrypted
what it made. Someone with the table but not the keys reads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.config import keys_of


class Undecryptable(Exception):
    """A stored secret that no key of the ring opens (a key dropped too soon, or tampering)."""


def new_key() -> str:
    """A new key, for SECRET_KEYS."""
    return Fernet.generate_key().decode("ascii")


@dataclass(frozen=True)
class Keyring:
    """Encrypts with the newest key, decrypts with any."""

    keys: Sequence[str]

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Keyring:
        """The keyring of SECRET_KEYS (possibly empty: then nothing can be encrypted)."""
        return cls(tuple(keys_of(settings["SECRET_KEYS"])))

    @property
    def ready(self) -> bool:
        """Whether there is a key to encrypt with."""
        return bool(self.keys)

    def encrypt(self, secret: str) -> str:
        """`secret`, encrypted with the newest key (authenticated, with its time)."""
        return self._fernet().encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The secret `stored` holds; `Undecryptable` when no key opens it."""
        try:
            return self._fernet().decrypt(stored.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise Undecryptable() from exc

    def rotate(self, stored: str) -> str:
        """`stored`, encrypted again with the newest key (the same secret)."""
        try:
            return self._fernet().rotate(stored.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError) as exc:
            raise Undecryptable() from exc

    @classmethod
    def for_app(cls, settings: Mapping[str, Any]) -> Keyring:
        """SECRET_KEYS; outside production, a key made for this process when there is none.

        Such a key dies with the process: what it encrypted is unreadable after a restart
        (recovery codes still sign in). `make run` and `make serve` set one for the whole
        server first (app.serving), so that gunicorn's workers share it. Production refuses
        to start without one instead.
        """
        ring = cls.from_config(settings)
        if ring.ready or settings["APP_ENV"] == "production":
            return ring
        return cls((new_key(),))

    def _fernet(self) -> MultiFernet:
        if not self.keys:
            raise RuntimeError("SECRET_KEYS is empty: there is no key to encrypt with")
        return MultiFernet([Fernet(key.encode("ascii")) for key in self.keys])
