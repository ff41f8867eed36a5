"""The leak check every test runs (tests/helpers.py): it must be able to fail."""

from __future__ import annotations

import pytest

from app import create_app
from app.helpers.sessions import hash_token
from tests.helpers import LeakCheckingClient, login


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
