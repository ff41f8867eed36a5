"""Second factors as stored and checked: encrypted, hashed, each code used once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from app.errors import Forbidden, ValidationFailed
from app.helpers import factors, recovery_codes, sessions, tables, totp
from app.helpers.keyring import Keyring, Undecryptable, new_key
from app.helpers.state import state_of
from app.models import Credentials
from tests.helpers import FakeClock, assert_problem, bearer, enrol_totp, login


def raw_user(store, username):
    item = store.client.get_item(
        TableName=store.table_name(tables.users.USERS), Key={"username": {"S": username}}
    )
    return item["Item"]


@pytest.fixture
def jane(app, client):
    """Jane with TOTP on; her secret and recovery codes."""
    clock = FakeClock()
    state_of(app).clock = clock
    secret, codes = enrol_totp(
        client, login(client, "janedoe", "JanePass123")["token"], "janedoe", clock
    )
    clock.advance(totp.STEP)
    return secret, codes


def test_the_totp_secret_is_stored_encrypted(state, jane):
    secret, _ = jane
    stored = raw_user(state.store, "janedoe")["totp_secret"]["S"]

    assert secret not in stored
    assert state.keyring.decrypt(stored) == secret
    with pytest.raises(Undecryptable):
        Keyring((new_key(),)).decrypt(stored)


def test_recovery_codes_are_stored_as_hashes_only(state, jane):
    _, codes = jane
    stored = set(raw_user(state.store, "janedoe")["recovery_codes"]["SS"])

    assert stored == {recovery_codes.hash_of(code) for code in codes}
    assert not stored & {recovery_codes.normalized(code) for code in codes}


def test_a_secret_made_with_a_dropped_key_is_a_503_not_a_pass(aws, settings, app, client, jane):
    secret, _ = jane
    other = create_app({**settings, "SECRET_KEYS": new_key()})
    state_of(other).clock = state_of(app).clock
    fresh = other.test_client()
    challenge = fresh.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    proof = {
        "challenge": challenge.json["challenge"],
        "code": totp.code_at(secret, state_of(app).clock()),
    }

    assert_problem(fresh.post("/api/sessions/mfa", json=proof), 503)


def test_second_factors_can_be_turned_off_for_the_service(aws, settings):
    app = create_app({**settings, "SECOND_FACTORS": False})
    client = app.test_client()
    token = login(client, "janedoe", "JanePass123")["token"]

    response = client.post("/api/users/janedoe/totp", headers=bearer(token))

    assert_problem(response, 403)


def test_development_without_keys_makes_one_for_the_process():
    ring = Keyring.for_app({"SECRET_KEYS": "", "APP_ENV": "development"})

    assert ring.ready
    assert not Keyring.for_app({"SECRET_KEYS": "", "APP_ENV": "production"}).ready


def test_one_recovery_code_sent_twice_at_once_signs_in_once(engine_app):
    state = state_of(engine_app)
    client = engine_app.test_client()
    clock = FakeClock()
    state.clock = clock
    _, codes = enrol_totp(
        client, login(client, "janedoe", "JanePass123")["token"], "janedoe", clock
    )
    credentials = Credentials(username="janedoe", password="JanePass123")
    challenges = [sessions.login(state, credentials=credentials).challenge for _ in range(2)]
    both_read = threading.Barrier(2, timeout=10)

    def wait_for_the_other(**_kwargs):
        both_read.wait()  # each has checked the code before either uses it up

    state.store.add_hook("before-call.dynamodb.TransactWriteItems", wait_for_the_other)

    def use(challenge):
        try:
            return sessions.complete_sign_in(state, challenge=challenge, code=codes[0])
        except ValidationFailed as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(use, challenges))

    assert sorted(type(o).__name__ for o in outcomes) == ["LoginResult", "ValidationFailed"]


def test_a_user_cannot_set_up_a_factor_for_another(state, jane):
    john = tables.users.get(state.store, "johndoe")

    with pytest.raises(Forbidden):
        factors.start_totp(state, actor=john, username="janedoe")
