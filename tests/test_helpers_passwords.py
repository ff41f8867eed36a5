"""PasswordHasher: bcrypt hashes where every character of a password counts."""

from __future__ import annotations

import argon2
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


# -- Hashes imported from other systems (flask users import) --------------------------------

CHEAP_ARGON2 = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def origin_bcrypt(password: str, variant: str = "2b") -> str:
    """A plain bcrypt hash as other systems make it: of the password itself, cut at 72 bytes."""
    made = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(ROUNDS)).decode()
    return f"${variant}${made[4:]}"


@pytest.mark.parametrize("variant", ["2a", "2b", "2y"])
def test_check_accepts_a_plain_bcrypt_hash_of_each_variant(hasher, variant):
    stored = passwords.stored_form("bcrypt", origin_bcrypt("old password", variant))

    assert stored.startswith("bcrypt$$")
    assert hasher.check("old password", stored)
    assert not hasher.check("old passwore", stored)


def test_a_plain_bcrypt_hash_is_told_apart_from_ours_by_its_prefix(hasher):
    plain = origin_bcrypt("old password")

    # Checked as ours (bcrypt of the pre-hash) it matches nothing: hence the stored prefix.
    assert not hasher.check("old password", plain)
    assert hasher.check("old password", passwords.stored_form("bcrypt", plain))


def test_a_plain_bcrypt_hash_checks_the_first_72_bytes_as_its_origin_did(hasher):
    long_password = "é" * 40 + "and more"  # 88 bytes of UTF-8
    stored = passwords.stored_form("bcrypt", origin_bcrypt(long_password))

    assert hasher.check(long_password, stored)
    # What its origin ignored, the check ignores: the same first 72 bytes match.
    assert hasher.check("é" * 36 + "anything", stored)
    assert not hasher.check("e" + "é" * 39, stored)
    assert not hasher.check("x" * 300, stored)  # never bcrypt 5's ValueError


def test_check_accepts_an_argon2id_hash(hasher):
    stored = passwords.stored_form("argon2id", CHEAP_ARGON2.hash("old password"))

    assert hasher.check("old password", stored)
    assert not hasher.check("old passwore", stored)
    assert not hasher.check("x" * 300, stored)


def test_needs_rehash_for_every_imported_hash_whatever_its_cost(hasher):
    strong_bcrypt = bcrypt.hashpw(b"old password", bcrypt.gensalt(ROUNDS + 2)).decode()

    assert hasher.needs_rehash(passwords.stored_form("bcrypt", strong_bcrypt))
    assert hasher.needs_rehash(CHEAP_ARGON2.hash("old password"))
    assert not hasher.needs_rehash(hasher.hash("old password"))


@pytest.mark.parametrize("scheme", ["bcrypt-sha256", "bcrypt", "argon2id"])
def test_origin_form_gives_back_what_stored_form_was_given(hasher, scheme):
    made = {
        "bcrypt-sha256": hasher.hash("a password"),
        "bcrypt": origin_bcrypt("a password", "2y"),
        "argon2id": CHEAP_ARGON2.hash("a password"),
    }[scheme]

    assert passwords.origin_form(passwords.stored_form(scheme, made)) == (scheme, made)


VALID_BCRYPT = "$2b$04$" + "a" * 53
VALID_ARGON2 = "$argon2id$v=19$m=65536,t=3,p=4$" + "c2FsdHNhbHRzYWx0" + "$" + "h" * 43


@pytest.mark.parametrize(
    ("scheme", "made", "reason"),
    [
        ("md5", VALID_BCRYPT, "is not a known hash scheme"),
        ("bcrypt", "$2x$04$" + "a" * 53, "is not a bcrypt hash"),
        ("bcrypt", VALID_BCRYPT[:-1], "is not a bcrypt hash"),
        ("bcrypt", VALID_BCRYPT + "\n", "is not a bcrypt hash"),
        ("bcrypt", "$2b$03$" + "a" * 53, "has a bcrypt cost outside 4..16"),
        ("bcrypt", "$2b$17$" + "a" * 53, "has a bcrypt cost outside 4..16"),
        ("bcrypt-sha256", "$2a$04$" + "a" * 53, "is not a bcrypt-sha256 hash"),
        ("bcrypt", "bcrypt$" + VALID_BCRYPT, "is not a bcrypt hash"),
        ("argon2id", VALID_ARGON2.replace("argon2id", "argon2i"), "is not an argon2id hash"),
        ("argon2id", VALID_ARGON2.replace("v=19", "v=16"), "is not an argon2id hash"),
        ("argon2id", VALID_ARGON2.replace("m=65536", "m=2097152"), "has argon2id costs outside"),
        ("argon2id", VALID_ARGON2.replace("t=3", "t=17"), "has argon2id costs outside"),
        ("argon2id", VALID_ARGON2.replace("p=4", "p=65"), "has an argon2id parallelism"),
        ("argon2id", VALID_ARGON2.replace("m=65536", "m=16"), "has argon2id costs outside"),
        ("bcrypt", VALID_ARGON2, "is not a bcrypt hash"),
    ],
)
def test_stored_form_refuses_a_malformed_hash_without_quoting_it(scheme, made, reason):
    with pytest.raises(ValueError, match="^" + reason) as refused:
        passwords.stored_form(scheme, made)

    assert made not in str(refused.value)
    assert "aaaa" not in str(refused.value)


def test_stored_form_accepts_the_limits():
    assert passwords.stored_form("bcrypt", "$2b$16$" + "a" * 53).startswith("bcrypt$")
    assert passwords.stored_form("argon2id", VALID_ARGON2) == VALID_ARGON2
