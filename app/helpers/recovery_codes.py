"""Recovery codes for a second factor: ten shown once, stored hashed, each good once.

A code is 79 random bits written as four groups of four characters from an alphabet
without look-alikes (no 0/o, 1/l/i). It is stored as its SHA-256 only: 79 bits leave no
dictionary to try, so a slow hash would add nothing but time at every sign-in. What the
user types is forgiven its case, spaces and dashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COUNT = 10
# 31 symbols (2-9 and the letters but i, l, o): just under 5 bits each; 16 of them, 79 bits.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_GROUPS, _GROUP = 4, 4


def new_codes(count: int = COUNT) -> list[str]:
    """`count` new codes, as the user is shown them (`abcd-efgh-jkmn-pqrs`)."""
    return [_one() for _ in range(count)]


def issue() -> tuple[list[str], set[str]]:
    """New codes to show once, and what is stored of them."""
    codes = new_codes()
    return codes, {hash_of(code) for code in codes}


def _one() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(_GROUPS * _GROUP))
    return "-".join(symbols[i : i + _GROUP] for i in range(0, len(symbols), _GROUP))


def normalized(typed: str) -> str:
    """A code as typed, without case, spaces or dashes."""
    return "".join(typed.split()).replace("-", "").lower()


def hash_of(code: str) -> str:
    """What is stored of a code."""
    return hashlib.sha256(normalized(code).encode("utf-8")).hexdigest()


def matching(typed: str, stored: list[str]) -> int | None:
    """The position in `stored` of the code `typed` is, or None.

    Every stored hash is compared, in constant time each: the time tells nothing of which
    (or whether one) matched. The caller removes the one used, in a conditional write.
    """
    wanted = hash_of(typed)
    found = None
    for position, candidate in enumerate(stored):
        if hmac.compare_digest(candidate, wanted) and found is None:
            found = position
    return found
