"""PasswordHasher: bcrypt hashes where every character of a password counts."""

from __future__ import annotations

import bcrypt
import pytest

from app.helpers import passwords
from app.helpers.passwords import PasswordHasher, cost_of

ROUNDS = 4


@pytest.fixture
def hasher():
    return PasswordHasher(rounds=ROUNDS)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "x" * 100,
        "pässwörd ünïcödé",
        "пароль-密码-🔑🔐",
        "tab\tand\nnewline",
    ],
)
def test_check_accepts_password_that_was_hashed(hasher, password):
    assert hasher.check(password, hasher.hash(password))


@pytest.mark.parametrize(
    ("stored", "given"),
    [
        ("correct horse battery", "correct horse batterY"),
        ("correct horse battery", "correct horse battery "),
        ("correct horse battery", ""),
        ("é" * 40 + "x", "é" * 40 + "y"),  # 80+ bytes of UTF-8, differ in the last one
        ("pässwörd", "passwort"),
    ],
)
def test_check_rejects_other_password(hasher, stored, given):
    assert not hasher.check(given, hasher.hash(stored))


def test_check_counts_every_character_of_long_password(hasher):
    first, second = "p" * 99 + "1", "p" * 99 + "2"

    first_hash, second_hash = hasher.hash(first), hasher.hash(second)

    assert hasher.check(first, first_hash)
    assert hasher.check(second, second_hash)
    assert not hasher.check(first, second_hash)
    assert not hasher.check(second, first_hash)


def test_hash_records_bcrypt_2b_and_configured_cost():
    password_hash = PasswordHasher(rounds=5).hash("correct horse battery")

    assert password_hash.startswith("$2b$05$")
    assert cost_of(password_hash) == 5


def test_hash_never_contains_password(hasher):
    password_hash = hasher.hash("correct horse battery")

    assert "correct" not in password_hash


def test_hash_salts_each_hash_differently(hasher):
    first, second = hasher.hash("same password"), hasher.hash("same password")

    assert first != second
    assert hasher.check("same password", first)
    assert hasher.check("same password", second)


def test_check_accepts_hash_made_at_other_cost(hasher):
    old_hash = PasswordHasher(rounds=ROUNDS + 1).hash("correct horse battery")

    assert hasher.check("correct horse battery", old_hash)


@pytest.mark.parametrize(
    ("hash_rounds", "configured_rounds", "expected"),
    [(4, 5, True), (4, 6, True), (5, 5, False), (6, 5, False)],
)
def test_needs_rehash_only_when_hash_below_configured_cost(
    hash_rounds, configured_rounds, expected
):
    password_hash = PasswordHasher(rounds=hash_rounds).hash("correct horse battery")

    assert PasswordHasher(rounds=configured_rounds).needs_rehash(password_hash) is expected


@pytest.mark.parametrize("password", ["", "guess", "x" * 200, "JohnPass123"])
def test_check_nothing_runs_one_real_check_at_configured_cost(hasher, monkeypatch, password):
    checked = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(candidate, stored):
        checked.append(stored.decode())
        return real_checkpw(candidate, stored)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", counting_checkpw)

    assert hasher.check_nothing(password) is None

    [stored] = checked
    assert cost_of(stored) == ROUNDS
    assert stored == hasher.dummy_hash
