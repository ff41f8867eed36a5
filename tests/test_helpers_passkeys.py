"""Passkeys as verified and stored: the relying party, counters, ownership, single use."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from webauthn.helpers import bytes_to_base64url

from app.config import ConfigError, TestingConfig, settings_of, validate
from app.errors import Conflict, Unauthorized
from app.helpers import notices, passkeys, sessions, tables, users
from app.helpers.clock import iso
from app.helpers.passkeys import RelyingParty
from app.helpers.state import state_of
from tests import authenticator as authenticator_module
from tests.authenticator import Authenticator
from tests.helpers import JOHN, assert_problem, bearer, before_first, login, security_events


def party(**settings):
    return RelyingParty.from_config({**settings_of(TestingConfig), **settings})


@pytest.mark.parametrize(
    ("public_url", "rp_id", "origins"),
    [
        ("https://accounts.example.com", "accounts.example.com", ("https://accounts.example.com",)),
        ("https://example.com:8443/app", "example.com", ("https://example.com:8443",)),
        ("http://127.0.0.1:5000", "localhost", ("http://localhost:5000",)),  # no IP as RP ID
        ("http://[::1]:5000", "localhost", ("http://localhost:5000",)),
        ("", "", ()),
    ],
)
def test_the_relying_party_comes_from_public_url(public_url, rp_id, origins):
    found = party(PUBLIC_URL=public_url)

    assert (found.id, found.origins) == (rp_id, origins)


def test_the_relying_party_settings_win_over_public_url():
    found = party(
        PUBLIC_URL="https://accounts.example.com",
        WEBAUTHN_RP_ID="example.com",
        WEBAUTHN_ORIGINS="https://example.com, https://login.example.com/",
    )

    assert found.id == "example.com"
    assert found.origins == ("https://example.com", "https://login.example.com")


@pytest.mark.parametrize(
    ("rp_id", "origins", "problem"),
    [
        ("127.0.0.1", "", "WEBAUTHN_RP_ID must be a host name"),
        ("https://example.com", "", "WEBAUTHN_RP_ID must be a host name"),
        ("example.com:443", "", "WEBAUTHN_RP_ID must be a host name"),
        ("example.com", "https://example.org", "is not on example.com"),
        ("example.com", "example.com", "WEBAUTHN_ORIGINS must list origins"),
    ],
)
def test_settings_browsers_would_refuse_stop_the_start(rp_id, origins, problem):
    settings = {**settings_of(TestingConfig), "WEBAUTHN_RP_ID": rp_id, "WEBAUTHN_ORIGINS": origins}

    with pytest.raises(ConfigError, match=problem):
        validate(settings)


@pytest.fixture
def jane(client):
    """Jane with one passkey in a software authenticator: her token and the authenticator."""
    return with_a_passkey(client)


def with_a_passkey(client):
    """Jane's token and the software authenticator holding the passkey she has added."""
    token = login(client, "janedoe", "JanePass123")["token"]
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    authenticator = Authenticator()
    credential = authenticator.create(options["options"])
    added = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Phone", "credential": credential},
    )
    assert added.status_code == 201, added.json
    return token, authenticator


def sign_in(client, authenticator, **kwargs):
    options = client.post("/api/sessions/passkey-options").json["options"]
    return client.post(
        "/api/sessions/passkey", json={"credential": authenticator.get(options, **kwargs)}
    )


def test_each_sign_in_records_the_counter_and_the_last_use(client, state, clock, jane):
    clock.advance(60)

    assert sign_in(client, jane[1]).status_code == 201

    [passkey] = tables.passkeys.of_user(state.store, tables.users.get(state.store, "janedoe"))
    assert (passkey.sign_count, passkey.last_used_at) == (1, int(clock()))


def test_a_cloned_authenticator_with_a_stale_counter_is_refused(client, state, jane):
    _, authenticator = jane
    assert sign_in(client, authenticator).status_code == 201
    assert sign_in(client, authenticator).status_code == 201
    authenticator.credentials[0].sign_count = 1  # a copy made after the first sign-in

    response = sign_in(client, authenticator)

    assert response.status_code == 401
    user = tables.users.get(state.store, "janedoe")
    assert tables.passkeys.of_user(state.store, user)[0].sign_count == 2


def test_a_passkey_of_another_relying_party_is_refused(client, jane):
    elsewhere = Authenticator(origin="https://evil.example")
    elsewhere.credentials = jane[1].credentials  # the same key, answering another page

    assert sign_in(client, elsewhere).status_code == 401


def test_a_passkey_without_user_verification_is_refused(client, jane):
    jane[1].verified = False

    assert sign_in(client, jane[1]).status_code == 401


def test_options_are_single_use(client, jane):
    options = client.post("/api/sessions/passkey-options").json["options"]
    first = jane[1].get(options)
    second = jane[1].get(options)

    assert client.post("/api/sessions/passkey", json={"credential": first}).status_code == 201
    assert client.post("/api/sessions/passkey", json={"credential": second}).status_code == 401


def test_options_expire(app, client, clock, jane):
    options = client.post("/api/sessions/passkey-options").json["options"]
    clock.advance(app.config["MFA_CHALLENGE_TTL"])

    response = client.post("/api/sessions/passkey", json={"credential": jane[1].get(options)})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "credential",
    [{}, {"id": "x"}, {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}],
)
def test_a_malformed_answer_is_a_401(client, credential):
    assert client.post("/api/sessions/passkey", json={"credential": credential}).status_code == 401


# -- removing, and who may --------------------------------------------------------------------


def add_passkey(client, token, authenticator, name="Phone", username="janedoe"):
    options = client.post(f"/api/users/{username}/passkey-options", headers=bearer(token)).json
    added = client.post(
        f"/api/users/{username}/passkeys",
        headers=bearer(token),
        json={"name": name, "credential": authenticator.create(options["options"])},
    )
    assert added.status_code == 201, added.json
    return added.json


def test_removing_one_of_two_passkeys_keeps_the_recovery_codes(client, jane):
    token, authenticator = jane
    laptop = add_passkey(client, token, authenticator, name="Laptop")

    response = client.delete(f"/api/users/janedoe/passkeys/{laptop['id']}", headers=bearer(token))

    assert response.status_code == 204
    me = client.get("/api/users/janedoe", headers=bearer(token)).json
    assert (me["passkeys"], me["recovery_codes_left"]) == (1, 10)


def test_removing_a_passkey_needs_a_recent_password(app, client, clock, jane):
    token, _ = jane
    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json
    clock.advance(app.config["REAUTH_WINDOW"])

    response = client.delete(f"/api/users/janedoe/passkeys/{passkey['id']}", headers=bearer(token))

    problem = assert_problem(response, 403, "tag:users-api,2026:reauthentication-required")
    assert problem["detail"] == (
        "Adding or removing a passkey needs your password: prove it again with "
        "POST /api/sessions/current/reauthentication, then retry."
    )
    assert client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json == [passkey]


def test_another_users_passkey_is_not_found_among_ones_own(client, jane):
    token, _ = jane
    johns = add_passkey(client, login(client)["token"], Authenticator(), username="johndoe")

    response = client.delete(f"/api/users/janedoe/passkeys/{johns['id']}", headers=bearer(token))

    problem = assert_problem(response, 404)
    assert problem["detail"] == f"There is no passkey {johns['id']!r} of 'janedoe'."
    assert [p["id"] for p in client.get("/api/users/johndoe/passkeys", headers=JOHN).json] == [
        johns["id"]
    ]


def test_a_removed_passkey_leaves_nothing_stored(client, state, jane):
    token, _ = jane
    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json

    client.delete(f"/api/users/janedoe/passkeys/{passkey['id']}", headers=bearer(token))

    assert tables.passkeys.get(state.store, passkey["id"]) is None


def test_only_their_owner_and_admins_see_ones_passkeys(client, jane):
    token, _ = jane

    response = client.get("/api/users/johndoe/passkeys", headers=bearer(token))

    problem = assert_problem(response, 403)
    assert problem["detail"] == "You can only see the passkeys of your own account."


def test_a_refused_registration_says_to_start_again_on_credential(client, jane):
    token, _ = jane
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    forged = Authenticator(origin="https://evil.example").create(options["options"])

    response = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Laptop", "credential": forged},
    )

    assert assert_problem(response, 422)["errors"] == [
        {
            "location": "json",
            "field": "credential",
            "detail": "was not accepted: ask for new options and try again",
        }
    ]


def each_has_read(store):
    """Two requests at once: each reads what it checks before either writes."""
    both_read = threading.Barrier(2, timeout=10)

    def wait_for_the_other(**_kwargs):
        both_read.wait()

    store.add_hook("before-call.dynamodb.TransactWriteItems", wait_for_the_other)


def test_one_passkey_removed_twice_at_once_is_removed_once(engine_app):
    state = state_of(engine_app)
    _, authenticator = with_a_passkey(engine_app.test_client())
    jane = tables.users.get(state.store, "janedoe")
    passkey_id = bytes_to_base64url(authenticator.credentials[0].id)
    each_has_read(state.store)

    def remove(_):
        try:
            return passkeys.remove(
                state,
                actor=jane,
                username="janedoe",
                passkey_id=passkey_id,
                session=None,
                password_checked=True,
            )
        except Conflict as exc:
            return exc.detail

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(remove, range(2)))

    assert set(outcomes) == {None, users.RACE}  # one removal, one told of the other


# -- signing in -------------------------------------------------------------------------------


def test_a_cloned_authenticator_signing_in_twice_at_once_signs_in_once(engine_app):
    state = state_of(engine_app)
    client = engine_app.test_client()
    _, authenticator = with_a_passkey(client)
    answers = []
    for _ in range(2):  # the clone answers with the counter the original has just used
        options = client.post("/api/sessions/passkey-options").json["options"]
        answers.append(authenticator.get(options))
        authenticator.credentials[0].sign_count -= 1
    each_has_read(state.store)

    def sign_in_with(answer):
        try:
            return sessions.sign_in_with_passkey(state, credential=answer)
        except Unauthorized as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(sign_in_with, answers))

    assert sorted(type(o).__name__ for o in outcomes) == ["LoginResult", "Unauthorized"]


def test_another_accounts_passkey_does_not_complete_a_second_step(client, jane):
    mallorys = Authenticator()  # knows Jane's password, and has a passkey of her own: John's
    add_passkey(client, login(client)["token"], mallorys, username="johndoe")
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    answer = mallorys.get(first.json["webauthn"], credential=mallorys.credentials[0])

    response = client.post(
        "/api/sessions/mfa", json={"challenge": first.json["challenge"], "credential": answer}
    )

    assert assert_problem(response, 422)["errors"] == [
        {"location": "json", "field": "credential", "detail": "was not accepted"}
    ]


def test_a_second_step_answer_without_its_user_handle_signs_in(client, jane):
    _, authenticator = jane
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    answer = authenticator.get(first.json["webauthn"])
    del answer["response"]["userHandle"]  # browsers may leave it out when options name the key

    response = client.post(
        "/api/sessions/mfa", json={"challenge": first.json["challenge"], "credential": answer}
    )

    assert response.status_code == 201, response.json


def test_a_passkey_whose_account_is_gone_is_refused(client, state, jane):
    tables.users.delete(state.store, tables.users.get(state.store, "janedoe"))  # not its passkeys

    assert sign_in(client, jane[1]).status_code == 401


def test_options_for_adding_a_passkey_do_not_sign_anyone_in(client, jane):
    token, authenticator = jane
    adding = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    options = {"challenge": adding["options"]["challenge"], "rpId": adding["options"]["rp"]["id"]}

    response = client.post("/api/sessions/passkey", json={"credential": authenticator.get(options)})

    assert response.status_code == 401


# -- security events --------------------------------------------------------------------------


def test_a_passkeys_life_is_security_events_naming_it_and_its_owner(client, caplog):
    token, authenticator = with_a_passkey(client)
    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json
    assert sign_in(client, authenticator).status_code == 201
    authenticator.credentials[0].sign_count = 0  # a clone, behind the original's counter
    assert sign_in(client, authenticator).status_code == 401

    client.delete(f"/api/users/janedoe/passkeys/{passkey['id']}", headers=bearer(token))

    found = security_events(caplog, address=True)
    assert ("passkey_refused", "janedoe", "InvalidAuthenticationResponse") in [
        (event, fields.get("username"), fields.get("reason")) for event, fields in found
    ]
    named = [(event, fields.get("username"), fields.get("passkey")) for event, fields in found]
    assert ("passkey_added", "janedoe", passkey["id"]) in named
    assert ("passkey_removed", "janedoe", passkey["id"]) in named


# -- adding -----------------------------------------------------------------------------------


def test_a_passkey_made_without_user_verification_is_not_added(client, jane):
    token, _ = jane
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    unverified = Authenticator(verified=False).create(options["options"])

    response = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Laptop", "credential": unverified},
    )

    assert_problem(response, 422)
    assert len(client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json) == 1


def test_a_clone_behind_the_counter_a_passkey_was_added_with_is_refused(client, monkeypatch):
    counted = functools.partial(authenticator_module.Credential, sign_count=5)
    monkeypatch.setattr(authenticator_module, "Credential", counted)  # made with 5 signatures
    _, authenticator = with_a_passkey(client)
    authenticator.credentials[0].sign_count = 2  # a copy taken before those

    assert sign_in(client, authenticator).status_code == 401


def test_a_synced_passkey_is_listed_as_backed_up(client, monkeypatch):
    backed_up = 0x08 | 0x10  # authenticator data flags: backup eligible, backed up
    monkeypatch.setattr(authenticator_module, "AT", authenticator_module.AT | backed_up)
    token, _ = with_a_passkey(client)

    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json

    assert passkey["backed_up"] is True


def test_the_list_says_when_each_passkey_was_last_used(client, clock, jane):
    token, authenticator = jane
    clock.advance(60)
    sign_in(client, authenticator)

    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json

    assert passkey["last_used_at"] == iso(int(clock()))


def test_a_passkey_with_the_id_of_someone_elses_is_not_added(client, monkeypatch, jane):
    _, janes = jane
    taken = janes.credentials[0].id
    mallorys = Authenticator()
    options = client.post("/api/users/johndoe/passkey-options", headers=JOHN).json["options"]
    with monkeypatch.context() as patched:
        patched.setattr(authenticator_module.os, "urandom", lambda _n: taken)
        copied = mallorys.create(options)

    response = client.post(
        "/api/users/johndoe/passkeys", headers=JOHN, json={"name": "Mine", "credential": copied}
    )

    assert_problem(response, 409)
    assert sign_in(client, janes).status_code == 201


def test_options_used_meanwhile_do_not_add_a_passkey(client, state, jane):
    token, authenticator = jane
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    credential = authenticator.create(options["options"])
    challenge = options["options"]["challenge"]
    before_first(state.store, "TransactWriteItems", lambda: discard_challenge(state, challenge))

    response = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Laptop", "credential": credential},
    )

    assert assert_problem(response, 422)["errors"] == [
        {
            "location": "json",
            "field": "credential",
            "detail": "was not accepted: ask for new options and try again",
        }
    ]


def discard_challenge(state, challenge):
    tables.tokens.discard(state.store, notices.hash_of(challenge))


def test_a_passkey_added_after_a_log_out_everywhere_is_a_conflict(client, state, jane):
    token, authenticator = jane
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    credential = authenticator.create(options["options"])
    read_before = tables.users.get(state.store, "janedoe")
    before_first(
        state.store,
        "TransactWriteItems",
        lambda: users.renew_session_key(state, username="janedoe"),
    )

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        passkeys.register(
            state, actor=read_before, username="janedoe", name="Laptop", credential=credential
        )


def test_a_password_steps_challenge_does_not_add_a_passkey(client, jane):
    token, authenticator = jane
    first = client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    options["options"]["challenge"] = first.json["challenge"]  # a live token of Jane's too

    response = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Laptop", "credential": authenticator.create(options["options"])},
    )

    assert_problem(response, 422)


def test_options_never_given_do_not_add_a_passkey(client, jane):
    token, authenticator = jane
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    options["options"]["challenge"] = bytes_to_base64url(b"never given out" * 2)

    response = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Laptop", "credential": authenticator.create(options["options"])},
    )

    assert_problem(response, 422)


# -- options ----------------------------------------------------------------------------------


def test_options_to_add_a_passkey_name_the_user_and_exclude_her_passkeys(client, jane):
    token, _ = jane
    [passkey] = client.get("/api/users/janedoe/passkeys", headers=bearer(token)).json

    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json

    assert options["options"]["user"]["displayName"] == "Jane Doe"
    assert options["options"]["timeout"] == 5 * 60 * 1000
    assert options["options"]["excludeCredentials"] == [{"id": passkey["id"], "type": "public-key"}]


def test_options_to_sign_in_ask_for_user_verification_for_five_minutes(client):
    options = client.post("/api/sessions/passkey-options").json["options"]

    assert (options["userVerification"], options["timeout"]) == ("required", 5 * 60 * 1000)


def test_an_eleventh_passkey_is_refused_saying_why(client, jane):
    token, authenticator = jane
    for number in range(9):
        add_passkey(client, token, authenticator, name=f"Key {number}")

    response = client.post("/api/users/janedoe/passkey-options", headers=bearer(token))

    assert assert_problem(response, 409)["detail"] == (
        "An account has at most 10 passkeys: remove one first."
    )


def test_a_handle_given_meanwhile_is_the_one_in_the_options(state):
    jane = tables.users.get(state.store, "janedoe")
    given = bytes_to_base64url(b"given by another request first!!")
    before_first(
        state.store, "UpdateItem", lambda: tables.passkeys.give_handle(state.store, jane, given)
    )

    options = passkeys.registration_options(
        state, actor=jane, username="janedoe", session=None, password_checked=True
    )

    assert options.options["user"]["id"] == given


def test_passkeys_for_someone_else_say_whose_they_are(client):
    response = client.post("/api/users/janedoe/passkey-options", headers=JOHN)

    assert assert_problem(response, 403)["detail"] == (
        "Passkeys are set up by their owner, signed in."
    )


@pytest.mark.parametrize("settings", [{"SECOND_FACTORS": False}], indirect=True)
def test_passkeys_turned_off_say_so(client):
    response = client.post("/api/sessions/passkey-options")

    assert assert_problem(response, 403)["detail"] == (
        "Second factors are turned off on this service (SECOND_FACTORS)."
    )


@pytest.mark.parametrize(
    "settings",
    [{"PUBLIC_URL": ""}, {"PUBLIC_URL": "", "WEBAUTHN_RP_ID": "example.com"}],
    indirect=True,
)
def test_passkeys_without_the_services_address_say_what_to_set(client):
    response = client.post("/api/sessions/passkey-options")

    assert assert_problem(response, 403)["detail"] == (
        "Passkeys need the service's address: set PUBLIC_URL (or WEBAUTHN_RP_ID)."
    )
