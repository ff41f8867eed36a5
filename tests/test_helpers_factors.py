"""Second factors as stored and checked: encrypted, hashed, each code used once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import pyotp
import pytest

from app import create_app
from app.errors import Conflict, Forbidden, ValidationFailed
from app.helpers import factors, recovery_codes, sessions, tables, totp, users
from app.helpers.keyring import Keyring, Undecryptable, new_key
from app.helpers.state import state_of
from app.models import Credentials
from tests.helpers import (
    JANE,
    JOHN,
    FakeClock,
    assert_problem,
    bearer,
    before_first,
    enrol_totp,
    login,
    security_events,
)


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


def test_one_totp_code_sent_twice_at_once_signs_in_once(engine_app):
    state = state_of(engine_app)
    client = engine_app.test_client()
    clock = FakeClock()
    state.clock = clock
    secret, _ = enrol_totp(
        client, login(client, "janedoe", "JanePass123")["token"], "janedoe", clock
    )
    clock.advance(totp.STEP)
    credentials = Credentials(username="janedoe", password="JanePass123")
    challenges = [sessions.login(state, credentials=credentials).challenge for _ in range(2)]
    both_read = threading.Barrier(2, timeout=10)

    def wait_for_the_other(**_kwargs):
        both_read.wait()

    state.store.add_hook("before-call.dynamodb.TransactWriteItems", wait_for_the_other)
    code = totp.code_at(secret, clock())

    def use(challenge):
        try:
            return sessions.complete_sign_in(state, challenge=challenge, code=code)
        except ValidationFailed as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(use, challenges))

    assert sorted(type(o).__name__ for o in outcomes) == ["LoginResult", "ValidationFailed"]


def test_an_admin_reset_ends_sessions_the_index_has_not_caught_up_with(client, lagging_index):
    token = login(client, "janedoe", "JanePass123")["token"]

    assert client.delete("/api/users/janedoe/second-factors", headers=JOHN).status_code == 204

    assert client.get("/api/users/janedoe", headers=bearer(token)).status_code == 401


def test_an_admin_reset_answers_and_ends_sessions_on_each_engine(engine_app):
    client = engine_app.test_client()
    token = login(client, "janedoe", "JanePass123")["token"]

    assert client.delete("/api/users/janedoe/second-factors", headers=JOHN).status_code == 204

    assert client.get("/api/users/janedoe", headers=bearer(token)).status_code == 401
    assert client.get("/api/users/janedoe/sessions", headers=JANE).json == []


# -- what a refusal says ----------------------------------------------------------------------


def test_turning_totp_off_when_it_is_not_on_says_so(client):
    removal = {"password": "JanePass123", "code": "123456"}

    response = client.delete("/api/users/janedoe/totp", headers=JANE, json=removal)

    problem = assert_problem(response, 409)
    assert problem["detail"] == "Two-step sign-in with an authenticator app is not on."


def test_turning_totp_off_with_a_wrong_password_says_which_field(client, jane):
    removal = {"password": "not her password", "code": jane[1][0]}

    response = client.delete("/api/users/janedoe/totp", headers=JANE, json=removal)

    assert assert_problem(response, 422)["errors"] == [
        {"location": "json", "field": "password", "detail": "is not the password"}
    ]


def test_new_recovery_codes_without_a_second_factor_say_how_to_get_one(client):
    response = client.post("/api/users/janedoe/recovery-codes", headers=JANE)

    assert assert_problem(response, 409)["detail"] == (
        "Recovery codes come with a second factor. "
        "Set up an authenticator app first: POST /api/users/<username>/totp."
    )


def test_setting_up_an_app_while_one_is_on_says_to_turn_it_off_first(client, jane):
    response = client.post("/api/users/janedoe/totp", headers=JANE)

    assert assert_problem(response, 409)["detail"] == (
        "Two-step sign-in is on already: turn it off before setting up another."
    )


def test_confirming_an_app_while_one_is_on_says_so(client, jane):
    response = client.post("/api/users/janedoe/totp/confirm", headers=JANE, json={"code": "123456"})

    assert assert_problem(response, 409)["detail"] == "Two-step sign-in is on already."


def test_confirming_without_a_set_up_says_how_to_start_one(client):
    response = client.post("/api/users/janedoe/totp/confirm", headers=JANE, json={"code": "123456"})

    assert assert_problem(response, 409)["detail"] == (
        "There is no authenticator app being set up. "
        "Set up an authenticator app first: POST /api/users/<username>/totp."
    )


def test_confirming_a_set_up_made_with_a_dropped_key_says_to_start_again(aws, settings, client):
    client.post("/api/users/janedoe/totp", headers=JANE)
    other = create_app({**settings, "SECRET_KEYS": new_key()}).test_client()

    response = other.post("/api/users/janedoe/totp/confirm", headers=JANE, json={"code": "123456"})

    assert assert_problem(response, 409)["detail"] == (
        "The set-up has expired. "
        "Set up an authenticator app first: POST /api/users/<username>/totp."
    )


def test_second_factors_set_up_for_someone_else_say_whose_they_are(client):
    by_an_admin = client.post("/api/users/janedoe/totp", headers=JOHN)
    by_a_user = client.post("/api/users/johndoe/totp", headers=JANE)

    assert assert_problem(by_an_admin, 403)["detail"] == (
        "Second factors are set up by their owner, signed in."
    )
    assert assert_problem(by_a_user, 403)["detail"] == (
        "You can only set up second factors for your own account."
    )


@pytest.mark.parametrize("settings", [{"SECOND_FACTORS": False}], indirect=True)
def test_second_factors_turned_off_say_so(client):
    response = client.post("/api/users/janedoe/totp", headers=JANE)

    assert assert_problem(response, 403)["detail"] == (
        "Second factors are turned off on this service (SECOND_FACTORS)."
    )


def test_a_wrong_code_says_what_to_check(client, jane):
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})

    response = client.post(
        "/api/sessions/mfa", json={"challenge": first.json["challenge"], "code": "wrong-code"}
    )

    assert assert_problem(response, 422)["errors"] == [
        {
            "location": "json",
            "field": "code",
            "detail": "is not a valid code: check the app's clock, or use a recovery code",
        }
    ]


# -- changes made meanwhile -------------------------------------------------------------------


def test_a_code_used_meanwhile_does_not_turn_totp_off(client, state, jane):
    secret, _ = jane
    read_before = tables.users.get(state.store, "janedoe")
    code = totp.code_at(secret, state.now())
    signing_in = client.post(
        "/api/sessions", json={"username": "janedoe", "password": "JanePass123"}
    )
    mfa = {"challenge": signing_in.json["challenge"], "code": code}
    assert client.post("/api/sessions/mfa", json=mfa).status_code == 201

    with pytest.raises(ValidationFailed) as refused:
        factors.remove_totp(
            state, actor=read_before, username="janedoe", password="JanePass123", code=code
        )

    assert [e["field"] for e in refused.value.errors] == ["code"]


def test_turning_totp_off_after_a_log_out_everywhere_is_a_conflict(state, jane):
    secret, _ = jane
    read_before = tables.users.get(state.store, "janedoe")
    users.renew_session_key(state, username="janedoe")

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        factors.remove_totp(
            state,
            actor=read_before,
            username="janedoe",
            password="JanePass123",
            code=totp.code_at(secret, state.now()),
        )


def test_new_recovery_codes_after_totp_went_off_are_a_conflict(client, state, jane):
    secret, _ = jane
    read_before = tables.users.get(state.store, "janedoe")
    removal = {"password": "JanePass123", "code": totp.code_at(secret, state.now())}
    assert client.delete("/api/users/janedoe/totp", headers=JANE, json=removal).status_code == 204

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        factors.new_recovery_codes(
            state, actor=read_before, username="janedoe", session=None, password_checked=True
        )


def test_a_reset_racing_a_log_out_everywhere_is_a_conflict(state, jane):
    before_first(
        state.store, "UpdateItem", lambda: users.renew_session_key(state, username="janedoe")
    )

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        factors.reset(state, username="janedoe", by="johndoe")


def test_setting_up_an_app_after_a_log_out_everywhere_is_a_conflict(state):
    read_before = tables.users.get(state.store, "janedoe")
    users.renew_session_key(state, username="janedoe")

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        factors.start_totp(state, actor=read_before, username="janedoe")


def test_confirming_a_set_up_started_again_meanwhile_is_a_conflict(client, state):
    first = client.post("/api/users/janedoe/totp", headers=JANE).json["secret"]
    read_before = tables.users.get(state.store, "janedoe")
    client.post("/api/users/janedoe/totp", headers=JANE)  # another tab, another secret

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        factors.confirm_totp(
            state,
            actor=read_before,
            username="janedoe",
            code=totp.code_at(first, state.now()),
            session=None,
            password_checked=True,
        )


# -- security events --------------------------------------------------------------------------


def test_each_step_of_an_apps_life_is_a_security_event_naming_the_user(client, state, caplog):
    clock = FakeClock()
    state.clock = clock
    secret, _ = enrol_totp(
        client, login(client, "janedoe", "JanePass123")["token"], "janedoe", clock
    )
    clock.advance(totp.STEP)
    client.post("/api/users/janedoe/recovery-codes", headers=JANE)
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    for _ in range(6):  # the fifth locks the second step; the sixth is refused
        client.post(
            "/api/sessions/mfa", json={"challenge": first.json["challenge"], "code": "wrong-code"}
        )
    clock.advance(2)  # the lock (1 s) is over
    removal = {"password": "JanePass123", "code": totp.code_at(secret, clock())}
    assert client.delete("/api/users/janedoe/totp", headers=JANE, json=removal).status_code == 204

    found = security_events(caplog)

    jane = {"username": "janedoe"}
    for expected in [
        ("totp_setup_started", jane),
        ("totp_enabled", jane),
        ("recovery_codes_renewed", jane),
        ("second_factor_failed", {**jane, "failures": 5}),
        ("second_factor_locked", {**jane, "failures": 5, "seconds": 1}),
        ("second_factor_refused", {**jane, "reason": "locked"}),
        ("totp_disabled", jane),
    ]:
        assert expected in found


def test_an_unreadable_secret_is_a_security_event_naming_the_user(
    aws, settings, app, client, jane, caplog
):
    secret, _ = jane
    other = create_app({**settings, "SECRET_KEYS": new_key()})
    state_of(other).clock = state_of(app).clock
    fresh = other.test_client()
    challenge = fresh.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    proof = {
        "challenge": challenge.json["challenge"],
        "code": totp.code_at(secret, state_of(app).clock()),
    }
    fresh.post("/api/sessions/mfa", json=proof)

    assert ("totp_secret_unreadable", {"username": "janedoe"}) in security_events(caplog)


@pytest.mark.parametrize("settings", [{"REQUIRE_VERIFIED_EMAIL": True}], indirect=True)
def test_turning_totp_off_with_a_new_address_not_yet_verified_works(client, state, jane):
    secret, _ = jane
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    mfa = {"challenge": first.json["challenge"], "code": totp.code_at(secret, state.now())}
    token = client.post("/api/sessions/mfa", json=mfa).json["token"]
    moved = {"email": "jane@elsewhere.example"}
    assert client.patch("/api/users/janedoe", headers=bearer(token), json=moved).status_code == 200
    state.clock.advance(totp.STEP)
    removal = {"password": "JanePass123", "code": totp.code_at(secret, state.now())}

    response = client.delete("/api/users/janedoe/totp", headers=bearer(token), json=removal)

    assert response.status_code == 204, response.json


def test_the_qr_code_says_what_it_is_for(client):
    started = client.post("/api/users/janedoe/totp", headers=JANE)

    drawing = ElementTree.fromstring(started.json["qr_svg"])  # noqa: S314 - our own output

    assert drawing.findtext("{http://www.w3.org/2000/svg}title") == "TOTP set-up"


# -- the settings it reads --------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"PRODUCT_NAME": "Acme accounts"}], indirect=True)
def test_the_service_is_named_in_authenticator_apps_by_product_name(client):
    started = client.post("/api/users/janedoe/totp", headers=JANE)

    assert pyotp.parse_uri(started.json["otpauth_uri"]).issuer == "Acme accounts"


@pytest.mark.parametrize("settings", [{"MFA_CHALLENGE_TTL": 60}], indirect=True)
def test_a_second_step_waits_mfa_challenge_ttl_seconds_only(client, state, jane):
    secret, _ = jane
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    state.clock.advance(60)

    late = {"challenge": first.json["challenge"], "code": totp.code_at(secret, state.now())}
    response = client.post("/api/sessions/mfa", json=late)

    assert_problem(response, 401)


# -- the second step's lockout -----------------------------------------------------------------


def test_wrong_codes_lock_only_their_own_accounts_second_step(client, state, jane):
    john_secret, _ = enrol_totp(client, login(client)["token"], "johndoe", state.clock)
    state.clock.advance(totp.STEP)
    jane_user = tables.users.get(state.store, "janedoe")
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            factors.check_code(state, jane_user, "wrong-code")

    john = tables.users.get(state.store, "johndoe")
    method, _ = factors.check_code(state, john, totp.code_at(john_secret, state.now()))

    assert method == "otp"


def test_a_right_code_forgives_the_wrong_ones_before_it(client, state, jane):
    secret, _ = jane

    def sign_in_with(code):
        first = client.post(
            "/api/sessions", json={"username": "janedoe", "password": "JanePass123"}
        )
        return client.post(
            "/api/sessions/mfa", json={"challenge": first.json["challenge"], "code": code}
        )

    for _ in range(4):
        assert sign_in_with("wrong-code").status_code == 422
    assert sign_in_with(totp.code_at(secret, state.now())).status_code == 201
    state.clock.advance(totp.STEP)
    for _ in range(4):
        assert sign_in_with("wrong-code").status_code == 422

    assert sign_in_with(totp.code_at(secret, state.now())).status_code == 201


def test_reauthenticating_with_a_code_already_used_is_a_422_on_code(client, state, jane):
    secret, _ = jane
    code = totp.code_at(secret, state.now())
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    token = client.post(
        "/api/sessions/mfa", json={"challenge": first.json["challenge"], "code": code}
    ).json["token"]

    response = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json={"code": code}
    )

    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["code"]


# -- a new key --------------------------------------------------------------------------------


def test_rotating_keys_moves_every_secret_and_counts_them(aws, settings, app, client, jane):
    client.post("/api/users/johndoe/totp", headers=JOHN)  # set up, not yet confirmed
    newest = new_key()
    rotating = state_of(
        create_app({**settings, "SECRET_KEYS": f"{newest},{app.config['SECRET_KEYS']}"})
    )

    rotated = factors.rotate_secrets(rotating)

    assert rotated == 2
    only_newest = Keyring((newest,))
    only_newest.decrypt(raw_user(rotating.store, "janedoe")["totp_secret"]["S"])
    only_newest.decrypt(raw_user(rotating.store, "johndoe")["totp_pending"]["S"])
