"""Recovery codes: shown once, stored hashed, found whatever the typing, each one distinct."""

from __future__ import annotations

import re

import pytest

from app.helpers import recovery_codes

CODE = re.compile(
    r"^([23456789abcdefghjkmnpqrstuvwxyz]{4}-){3}[23456789abcdefghjkmnpqrstuvwxyz]{4}$"
)


def test_ten_distinct_codes_without_look_alike_characters():
    codes = recovery_codes.new_codes()

    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(CODE.fullmatch(code) for code in codes)


def test_a_code_is_sixteen_symbols_of_its_own_in_four_groups(monkeypatch):
    drawn = iter(recovery_codes.ALPHABET)
    monkeypatch.setattr(recovery_codes.secrets, "choice", lambda _alphabet: next(drawn))

    # Each group holds the next four symbols drawn: none is shared, none is repeated.
    assert recovery_codes.new_codes(1) == ["2345-6789-abcd-efgh"]


def test_only_hashes_are_kept_and_a_typed_code_finds_its_own():
    codes = recovery_codes.new_codes()
    stored = [recovery_codes.hash_of(code) for code in codes]

    assert not any(code.replace("-", "") in "".join(stored) for code in codes)
    assert recovery_codes.matching(codes[3], stored) == 3


@pytest.mark.parametrize(
    "typing",
    [
        str.upper,
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: f" {c} ",
    ],
    ids=["upper case", "no dashes", "spaces for dashes", "spaces around"],
)
def test_case_spaces_and_dashes_do_not_matter(typing):
    codes = recovery_codes.new_codes(2)
    stored = [recovery_codes.hash_of(code) for code in codes]

    assert recovery_codes.matching(typing(codes[1]), stored) == 1


@pytest.mark.parametrize("typed", ["", "abcd-efgh-jkmn-pqrs", "not a code"])
def test_a_code_that_is_not_stored_matches_nothing(typed):
    stored = [recovery_codes.hash_of(code) for code in recovery_codes.new_codes()]

    assert recovery_codes.matching(typed, stored) is None


def test_a_used_code_removed_from_the_list_matches_no_more():
    codes = recovery_codes.new_codes(3)
    stored = [recovery_codes.hash_of(code) for code in codes]
    used = recovery_codes.matching(codes[0], stored)
    assert used == 0

    del stored[used]

    assert recovery_codes.matching(codes[0], stored) is None
    assert recovery_codes.matching(codes[2], stored) == 1
