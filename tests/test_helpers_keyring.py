"""Secrets encrypted at rest: unreadable without the keys, readable after a rotation."""

from __future__ import annotations

import pytest

from app.config import ConfigError, config_from_env
from app.helpers.keyring import Keyring, Undecryptable, new_key

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_a_secret_is_stored_unreadable_and_read_back_with_the_key():
    ring = Keyring((new_key(),))

    stored = ring.encrypt(SECRET)

    assert SECRET not in stored
    assert ring.decrypt(stored) == SECRET
    assert ring.encrypt(SECRET) != stored  # a fresh IV each time: equal secrets look unequal


def test_without_its_key_a_secret_cannot_be_read():
    stored = Keyring((new_key(),)).encrypt(SECRET)

    with pytest.raises(Undecryptable):
        Keyring((new_key(),)).decrypt(stored)


def test_a_new_key_first_still_reads_the_old_and_rotation_moves_to_it():
    old, new = new_key(), new_key()
    stored = Keyring((old,)).encrypt(SECRET)
    rotating = Keyring((new, old))

    assert rotating.decrypt(stored) == SECRET
    rotated = rotating.rotate(stored)
    assert Keyring((new,)).decrypt(rotated) == SECRET  # the old key can go now
    with pytest.raises(Undecryptable):
        Keyring((new,)).decrypt(stored)


@pytest.mark.parametrize("stored", ["", "not a token", "é", "gAAAAA" + "x" * 80])
def test_tampered_or_foreign_text_is_undecryptable(stored):
    with pytest.raises(Undecryptable):
        Keyring((new_key(),)).decrypt(stored)


def test_an_empty_ring_refuses_to_encrypt():
    ring = Keyring.from_config({"SECRET_KEYS": " , "})

    assert ring.ready is False
    with pytest.raises(RuntimeError, match="SECRET_KEYS is empty"):
        ring.encrypt(SECRET)


def test_the_ring_reads_its_keys_newest_first_from_the_settings():
    old, new = new_key(), new_key()
    ring = Keyring.from_config(config_from_env({"SECRET_KEYS": f" {new} ,{old}"}))

    assert ring.keys == (new, old)
    assert Keyring((new,)).decrypt(ring.encrypt(SECRET)) == SECRET


@pytest.mark.parametrize("value", ["short", f"{'A' * 43}=,x", "é" * 44])
def test_keys_that_are_not_fernet_keys_are_refused(value):
    with pytest.raises(ConfigError) as refused:
        config_from_env({"SECRET_KEYS": value})

    assert any(p.startswith("SECRET_KEYS must be Fernet keys") for p in refused.value.problems)
