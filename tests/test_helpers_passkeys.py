"""Passkeys as verified and stored: the relying party, counters, ownership, single use."""

from __future__ import annotations

import pytest

from app.config import ConfigError, TestingConfig, settings_of, validate
from app.helpers import tables
from app.helpers.passkeys import RelyingParty
from tests.authenticator import Authenticator
from tests.helpers import bearer, login


def party(**settings):
    return RelyingParty.from_config({**settings_of(TestingConfig), **settings})


@pytest.mark.parametrize(
    ("public_url", "rp_id", "origins"),
    [
        ("https://accounts.example.com", "accounts.example.com", ("https://accounts.example.com",)),
        ("https://example.com:8443/app", "example.com", ("https://example.com:8443",)),
        ("http://127.0.0.1:5000", "localhost", ("http://localhost:5000",)),  # no IP as RP ID
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
