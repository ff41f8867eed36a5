"""Security events: one record on `app.security` for each thing an operator must be able to see."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.logs import JsonFormatter, RequestContext
from tests.helpers import JANE, JOHN, basic, bearer, login, new_user

ADDRESS = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def security_events():
    """The security events the app logs, as the JSON format writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContext())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("app.security")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def only(events, name):
    found = [event for event in events() if event["event"] == name]
    assert len(found) == 1, events()
    return found[0]


@pytest.mark.parametrize(
    ("username", "password", "logged", "reason"),
    [
        ("janedoe", "not-her-password", "janedoe", "wrong_password"),
        ("JaneDoe", "not-her-password", "janedoe", "wrong_password"),
        ("nobody-here", "whatever-it-is", "nobody-here", "unknown_user"),
        ("bad name\x1b[2J", "whatever-it-is", "bad name\\x1b[2J", "malformed_username"),
    ],
)
def test_a_failed_login_says_who_was_tried_why_and_from_where(
    client, security_events, username, password, logged, reason
):
    client.post(
        "/api/sessions",
        json={"username": username, "password": password},
        environ_base=ADDRESS,
    )

    event = only(security_events, "login_failed")
    assert (event["username"], event["reason"], event["address"]) == (
        logged,
        reason,
        ADDRESS["REMOTE_ADDR"],
    )
    assert event["level"] == "WARNING"
    assert event["logger"] == "app.security"
    assert password not in json.dumps(security_events())


def test_a_lock_and_the_refusals_it_causes_are_events(client, security_events, clock):
    for _ in range(5):
        client.post("/api/sessions", json={"username": "janedoe", "password": "wrong-guess"})
    client.get("/api/user", headers=JANE)

    locked = only(security_events, "account_locked")
    assert (locked["username"], locked["failures"], locked["seconds"]) == ("janedoe", 5, 1)
    refused = only(security_events, "login_refused")
    assert (refused["username"], refused["reason"]) == ("janedoe", "locked")


def test_a_rate_limited_request_is_an_event(aws, settings, security_events):
    from app import create_app

    client = create_app({**settings, "RATELIMIT_LOGIN": "1 per minute"}).test_client()
    for _ in range(2):
        response = client.post(
            "/api/sessions",
            json={"username": "johndoe", "password": "JohnPass123"},
            environ_base=ADDRESS,
        )

    assert response.status_code == 429
    event = only(security_events, "rate_limited")
    assert (event["limit"], event["path"]) == ("1 per 1 minute", "/api/sessions")
    assert event["address"] == ADDRESS["REMOTE_ADDR"]


def test_changes_that_matter_are_events_naming_who_made_them(client, security_events):
    client.post("/api/users", json=new_user())
    alice = basic("alice", "correct horse battery")
    client.patch(
        "/api/users/alice",
        json={"password": "a brand new secret", "current_password": "correct horse battery"},
        headers=alice,
    )
    client.patch("/api/users/alice", json={"email": "alicia@example.com"}, headers=JOHN)
    client.patch("/api/users/alice", json={"account_type": "admin_user"}, headers=JOHN)
    client.patch("/api/users/alice", json={"first_name": "Al"}, headers=JOHN)  # not an event

    events = [e for e in security_events() if e["event"].endswith("_changed")]
    assert [(e["event"], e["username"], e["by"]) for e in events] == [
        ("password_changed", "alice", "alice"),
        ("email_changed", "alice", "johndoe"),
        ("account_type_changed", "alice", "johndoe"),
    ]
    assert (events[2]["was"], events[2]["now"]) == ("standard_user", "admin_user")
    text = json.dumps(security_events())
    assert "a brand new secret" not in text
    assert "correct horse battery" not in text


def test_deletions_revocations_and_unlocks_are_events(client, security_events):
    token = login(client, "janedoe", "JanePass123")["token"]
    session_id = client.get("/api/sessions/current", headers=bearer(token)).json["id"]
    client.delete(f"/api/users/janedoe/sessions/{session_id}", headers=JOHN)
    client.delete("/api/users/janedoe/sessions", headers=JANE)
    client.delete("/api/users/janedoe/lockout", headers=JOHN)
    client.delete("/api/users/janedoe", headers=JOHN)

    names = [(e["event"], e["username"], e["by"], e.get("which")) for e in security_events()]
    assert names == [
        ("sessions_revoked", "janedoe", "johndoe", session_id),
        ("sessions_revoked", "janedoe", "janedoe", "all"),
        ("account_unlocked", "janedoe", "johndoe", None),
        ("user_deleted", "janedoe", "johndoe", None),
    ]
    assert token not in json.dumps(security_events())


def test_a_reauthentication_is_an_event_naming_the_session(client, security_events):
    token = bearer(login(client, "janedoe", "JanePass123")["token"])
    session_id = client.get("/api/sessions/current", headers=token).json["id"]
    proof = {"password": "JanePass123"}

    client.post("/api/sessions/current/reauthentication", json=proof, headers=token)

    event = only(security_events, "reauthenticated")
    assert (event["username"], event["session"]) == ("janedoe", session_id)
    assert "JanePass123" not in json.dumps(security_events())


def test_in_text_logs_an_event_is_one_line_of_fields(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.security"):
        client.post(
            "/api/sessions",
            json={"username": "janedoe", "password": "wrong-guess"},
            environ_base=ADDRESS,
        )

    [record] = [r for r in caplog.records if r.name == "app.security"]
    assert record.getMessage() == (
        "login_failed username='janedoe' reason='wrong_password' failures=1 address='203.0.113.7'"
    )
