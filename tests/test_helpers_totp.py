"""TOTP codes on a clock the test sets: the window, replay, drift, and malformed codes."""

from __future__ import annotations

import pytest

from app.helpers import totp

NOW = 1_800_000_000.0  # a step boundary: 1,800,000,000 / 30 has no remainder
SECRET = totp.new_secret()


def step_of(moment: float) -> int:
    return int(moment) // totp.STEP


@pytest.mark.parametrize(
    ("made_at", "accepted"),
    [
        (NOW, True),
        (NOW - 30, True),  # the phone is a step behind
        (NOW + 30, True),  # or a step ahead
        (NOW - 60, False),  # two steps: too far
        (NOW + 60, False),
    ],
)
def test_a_code_is_accepted_within_one_step_either_side(made_at, accepted):
    code = totp.code_at(SECRET, made_at)

    step = totp.accepted_step(SECRET, code, now=NOW, last_step=None)

    assert (step == step_of(made_at)) if accepted else step is None


def test_a_code_is_never_accepted_twice():
    code = totp.code_at(SECRET, NOW)
    step = totp.accepted_step(SECRET, code, now=NOW, last_step=None)

    assert step == step_of(NOW)
    assert totp.accepted_step(SECRET, code, now=NOW + 5, last_step=step) is None
    # Nor an older one once a newer was used.
    older = totp.code_at(SECRET, NOW - 30)
    assert totp.accepted_step(SECRET, older, now=NOW, last_step=step) is None
    newer = totp.code_at(SECRET, NOW + 30)
    assert totp.accepted_step(SECRET, newer, now=NOW + 30, last_step=step) == step + 1


def test_another_secret_s_code_is_refused():
    mine, theirs = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"
    code = totp.code_at(theirs, NOW)
    assert code not in {totp.code_at(mine, NOW + d) for d in (-30, 0, 30)}  # fixed: no collision

    assert totp.accepted_step(mine, code, now=NOW, last_step=None) is None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "12 345", "١٢٣٤٥٦", "abcdef"])
def test_a_malformed_code_is_refused(code):
    assert totp.accepted_step(SECRET, code, now=NOW, last_step=None) is None


def test_a_secret_is_160_bits_and_its_uri_names_the_account_and_issuer():
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="alice", issuer="User accounts")

    assert len(secret) == 32  # base32: 5 bits a character
    assert uri.startswith("otpauth://totp/User%20accounts:alice?")
    assert f"secret={secret}" in uri
    assert "issuer=User%20accounts" in uri
