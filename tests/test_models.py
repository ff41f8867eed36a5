"""The models: what input is accepted and how it is cleaned, and what views can hold."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.models import (
    Credentials,
    UserCreate,
    UserItem,
    UserPublic,
    UserSelf,
    UserUpdate,
    canonical_username,
)
from tests.helpers import new_user


@pytest.mark.parametrize(
    ("given", "stored"),
    [("alice", "alice"), ("Alice.B_c-1", "alice.b_c-1"), ("abc", "abc"), ("a" * 32, "a" * 32)],
)
def test_username_is_stored_lower_case(given, stored):
    assert UserCreate(**new_user(username=given)).username == stored
    assert canonical_username(given) == stored


@pytest.mark.parametrize("given", ["ab", "a" * 33, "has space", "é-accent", "semi;colon", ""])
def test_username_outside_the_pattern_is_refused(given):
    assert canonical_username(given) is None
    with pytest.raises(ValidationError):
        UserCreate(**new_user(username=given))


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("email", "  Alice@Example.COM ", "alice@example.com"),
        ("first_name", "  Alice  ", "Alice"),
        ("last_name", "Liddell\u00a0", "Liddell"),
    ],
)
def test_text_fields_are_cleaned(field, given, stored):
    assert getattr(UserCreate(**new_user(**{field: given})), field) == stored


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("first_name", "Al\x07ice"),  # a control character
        ("first_name", "Alice\u202egnp.exe"),  # a right-to-left override (category Cf)
        ("last_name", "Lid\u200bdell"),  # a zero-width space (Cf)
        ("last_name", "Liddell\u2066"),  # a left-to-right isolate (Cf)
        ("first_name", "   "),  # nothing but spaces
        ("first_name", "x" * 101),
        ("password", "short"),
        ("password", "x" * 257),
        ("password", "correct horse\x00battery"),  # NUL: other bcrypt implementations stop there
        ("password", "correct horse \ud800 battery"),  # a lone surrogate cannot be encoded
        ("email", "not-an-email"),
        ("account_type", "root"),
    ],
)
def test_invalid_field_is_refused_without_quoting_it(field, given):
    with pytest.raises(ValidationError) as refused:
        UserCreate(**new_user(**{field: given}))

    assert refused.value.errors()[0]["loc"] == (field,)
    assert "input_value" not in str(refused.value)  # what was sent is never echoed


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError):
        UserCreate(**new_user(is_admin=True))


def test_update_changes_are_only_what_was_sent_less_the_proof():
    changes = UserUpdate(first_name="Al", current_password="old one", password="new secret 1")

    assert changes.changes() == {"first_name": "Al", "password": "new secret 1"}


def test_update_refuses_null_for_a_field():
    with pytest.raises(ValidationError):
        UserUpdate(first_name=None)


def test_credentials_never_show_the_password():
    assert "hunter2hunter2" not in repr(Credentials(username="a", password="hunter2hunter2"))


def test_a_stored_user_shows_no_hash_in_any_view():
    user = UserItem(
        **new_user(password=None) | {"account_type": "standard_user"},
        password_hash="$2b$04$" + "x" * 53,
        created_at="2027-01-15T08:00:00.000Z",
        updated_at="2027-01-15T08:00:00.000Z",
    )

    assert set(UserPublic.model_fields) == {"username", "first_name", "last_name", "account_type"}
    for view in (user.public(), user.self_view()):
        assert "$2b$" not in view.model_dump_json()
    assert isinstance(user.self_view(), UserSelf)
    assert "$2b$" not in repr(user)


def test_the_documented_name_pattern_refuses_every_control_and_format_character():
    import re
    import sys
    import unicodedata

    from app.models import _NAME_PATTERN

    pattern = re.compile(_NAME_PATTERN)
    refused = [
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Cc", "Cf")
    ]

    assert refused  # Unicode has them
    assert not [ch for ch in refused if pattern.fullmatch(f"a{ch}b")]
    assert pattern.fullmatch("Zoë d'Arc")
