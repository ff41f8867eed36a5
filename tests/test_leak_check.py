"""The leak check every test runs (tests/helpers.py): it must be able to fail."""

from __future__ import annotations

import pytest

from app import create_app
from app.helpers import notices, recovery_codes, totp
from app.helpers.sessions import hash_token
from app.helpers.state import state_of
from tests.helpers import LeakCheckingClient, assert_no_secret, enrol_totp, login, new_user


@pytest.mark.parametrize("leak", ["token", "hash"])
def test_leak_check_catches_a_token_or_hash_in_a_response(app, client, leak):
    leaked = {}

    @app.get("/api/leaky")
    def leaky():
        return leaked

    token = login(client)["token"]
    leaked["oops"] = token if leak == "token" else hash_token(token)
    with pytest.raises(AssertionError, match="leaks a secret"):
        client.get("/api/leaky")


def test_leak_check_covers_every_app_a_test_builds(aws, settings):
    assert isinstance(create_app(settings).test_client(), LeakCheckingClient)


def test_leak_check_knows_every_mailed_token_and_its_hash_unread(app, client):
    client.post("/api/users", json=new_user())
    assert state_of(app).mailer.flush()
    [mail] = state_of(app).mailer.backend.outbox
    token = mail.get_body(("plain",)).get_content().split("token=")[1].split()[0]

    for secret in (token, notices.hash_of(token)):
        with pytest.raises(AssertionError, match="leaks a secret"):
            assert_no_secret(f"a log line with {secret}", "a log record")


@pytest.mark.parametrize("leak", ["secret", "recovery code", "its hash", "challenge", "its key"])
def test_leak_check_catches_a_second_factor_secret(app, client, clock, leak):
    leaked = {}

    @app.get("/api/leaky")
    def leaky():
        return leaked

    token = login(client, "janedoe", "JanePass123")["token"]
    secret, codes = enrol_totp(client, token, "janedoe", clock)
    clock.advance(totp.STEP)
    challenge = client.post(
        "/api/sessions", json={"username": "janedoe", "password": "JanePass123"}
    ).json["challenge"]
    leaked["oops"] = {
        "secret": secret,
        "recovery code": codes[4],
        "its hash": recovery_codes.hash_of(codes[4]),
        "challenge": challenge,
        "its key": notices.hash_of(challenge),
    }[leak]
    with pytest.raises(AssertionError, match="leaks a secret"):
        client.get("/api/leaky")
