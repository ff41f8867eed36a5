"""Time-based one-time passwords (RFC 6238, pyotp): secrets, their URI, and checking a code.

A code is accepted in a window of one step (30 s) either side of the server's clock, for
a phone whose clock drifts, and never twice: the caller keeps the last step accepted and a
code of that step or an earlier one is refused, so a code seen over a shoulder or in a log
cannot be played again.
"""

from __future__ import annotations

import hmac

import pyotp

STEP = 30  # seconds: what every authenticator app uses
DIGITS = 6
WINDOW = 1  # steps either side


def new_secret() -> str:
    """A new secret: 160 random bits in base32, as authenticator apps take them."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://` URI an authenticator app reads (from a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
        name=account, issuer_name=issuer
    )


def code_at(secret: str, moment: float) -> str:
    """The code for `moment` (for tests and for a client's own use)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).at(int(moment))


def accepted_step(secret: str, code: str, *, now: float, last_step: int | None) -> int | None:
    """The step `code` is right for (within the window, after `last_step`), or None.

    Every step of the window is compared, in constant time, whatever matches: how long the
    check takes tells nothing of which step (if any) was right.
    """
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = int(now) // STEP
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        right = hmac.compare_digest(totp.generate_otp(step), code)
        if right and (last_step is None or step > last_step) and found is None:
            found = step
    return found
