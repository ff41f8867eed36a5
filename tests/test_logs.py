"""Request ids, the access line, JSON logs, DynamoDB round trips, and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import queue

import pytest

from app.helpers.sessions import hash_token
from app.helpers.state import state_of
from app.logs import JsonFormatter, RequestContext, configure_logging
from tests.helpers import JANE, JOHN, new_user, outbox


@pytest.fixture
def log_lines(monkeypatch):
    """Every log line the app writes, formatted as configured (JSON here)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContext())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def access_lines(lines):
    return [line for line in lines if line["logger"] == "app.access"]


def count_calls(store):
    """Count DynamoDB API calls independently of the app's own accounting."""
    calls = []
    store.add_hook("before-call.dynamodb", lambda event_name, **kw: calls.append(event_name))
    return calls


@pytest.fixture
def warm(client):
    """Tables created and seeded, so a test counts only its own request's calls."""
    client.get("/api/users")
    client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})


# -- Request ids ----------------------------------------------------------------------------


def test_request_id_is_generated_and_echoed(client, log_lines):
    response = client.get("/api/users/johndoe")

    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32
    mine = [line for line in log_lines() if line["request_id"] == request_id]
    assert {line["logger"] for line in mine} >= {"app.access", "app.helpers.dynamo"}


def test_request_id_from_the_client_is_kept(client, log_lines):
    response = client.get("/api/users", headers={"X-Request-ID": "trace-42_A"})

    assert response.headers["X-Request-ID"] == "trace-42_A"
    assert access_lines(log_lines())[-1]["request_id"] == "trace-42_A"


@pytest.mark.parametrize("given", ["a" * 65, "has space", "semi;colon", "tab\there", "é"])
def test_request_id_that_is_not_safe_is_replaced(client, given):
    response = client.get("/api/health/live", headers={"X-Request-ID": given})

    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


def test_every_line_of_a_request_has_its_id_and_none_outside(client, log_lines):
    response = client.get("/api/users")  # creates and seeds the tables: several lines

    lines = log_lines()
    assert len(lines) >= 4
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-ID"]}
    logging.getLogger("app").warning("outside any request")
    assert log_lines()[-1]["request_id"] == "-"


def test_the_mail_a_request_queued_is_logged_with_its_id(client, app, alice, log_lines):
    reset = {"email": alice["email"]}
    response = client.post("/api/password-resets", json=reset, headers={"X-Request-ID": "r-1"})
    outbox(app)  # the mail worker has read the account, made the token and sent the mail
    logging.getLogger("app").warning("outside any request, after the job")

    sent = [line for line in log_lines() if line["logger"] == "app.helpers.mail"]
    assert response.status_code == 202
    assert [line["request_id"] for line in sent if "Reset" in line["message"]] == ["r-1"]
    events = [line.get("event") for line in log_lines() if line["request_id"] == "r-1"]
    assert "password_reset_requested" in events  # the worker's security event too
    assert log_lines()[-1]["request_id"] == "-"  # and nothing after the job


def test_a_mail_dropped_for_a_full_queue_is_logged_with_its_request_id(
    client, app, log_lines, monkeypatch
):
    def full(item):
        raise queue.Full

    monkeypatch.setattr(state_of(app).mailer._queue, "put_nowait", full)
    reset = {"username": "johndoe"}
    client.post("/api/password-resets", json=reset, headers={"X-Request-ID": "r-2"})

    # Queued at the response's close, after the request: still named by it.
    dropped = [line for line in log_lines() if "dropped" in line["message"]]
    assert [(line["message"], line["request_id"]) for line in dropped] == [
        ("mail password reset dropped: the queue is full", "r-2")
    ]


# -- The access line ------------------------------------------------------------------------


def test_access_line_has_the_request_facts(client, warm, log_lines):
    client.get("/api/user?username=johndoe&password=JohnPass123")

    line = access_lines(log_lines())[-1]
    assert line["method"] == "GET"
    assert line["path"] == "/api/user"
    assert line["status"] == 200
    assert line["duration_ms"] > 0
    assert line["user"] is None  # the query-string check does not sign anyone in
    # The user and the failure record read together; the attempt counted; the count cleared.
    assert line["dynamodb_calls"] == 3
    assert line["dynamodb_ms"] > 0
    assert "JohnPass123" not in json.dumps(line)
    assert "?" not in line["message"]


def test_access_line_names_the_authenticated_user(client, warm, log_lines):
    client.get("/api/user", headers=JANE)
    token = client.post(
        "/api/sessions", json={"username": "johndoe", "password": "JohnPass123"}
    ).json["token"]
    client.get("/api/user", headers={"Authorization": f"Bearer {token}"})

    users = [line["user"] for line in access_lines(log_lines())[-3:]]
    assert users == ["janedoe", "johndoe", "johndoe"]


def test_text_format_is_one_readable_line(client, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "text")
        response = client.get("/api/users/nobody")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])

    text = capsys.readouterr().err
    request_id = response.headers["X-Request-ID"]
    assert f"INFO app.access [{request_id}]: GET /api/users/nobody 404 " in text
    assert "user=- client=127.0.0.1 dynamodb=" in text


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/users/x%0d%0a2026-12-02 INFO app.access [-]: GET /api/admin 200", "x\\r\\n2026"),
        ("/api/users/x%0aforged", "x\\nforged"),
        ("/api/users/x%e2%80%a8forged", "x\\u2028forged"),
        ("/api/users/x%1b[31mred", "x\\x1b[31mred"),
    ],
)
def test_a_path_cannot_forge_a_line_of_the_text_log(client, capsys, path, logged):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "text")
        response = client.get(path)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])

    lines = capsys.readouterr().err.splitlines()
    assert response.status_code == 404
    assert len([line for line in lines if " app.access " in line]) == 1
    access = next(line for line in lines if " app.access " in line)
    assert f"GET /api/users/{logged}" in access
    assert all(line.startswith("20") for line in lines)  # every line is a record of its own


def test_json_format_is_one_object_per_line(client, capsys):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        client.get("/api/health/live")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[-1]["path"] == "/api/health/live"
    assert lines[-1]["level"] == "INFO"


# -- DynamoDB round trips, pinned -----------------------------------------------------------


JANE_PW = "JanePass123"


def bearer_token(client):
    response = client.post("/api/sessions", json={"username": "johndoe", "password": "JohnPass123"})
    return {"Authorization": f"Bearer {response.json['token']}"}


@pytest.mark.parametrize(
    ("request_args", "most"),
    [
        (("GET", "/api/users/johndoe", {}), 1),
        (("GET", "/api/users?limit=1", {}), 1),
        (("GET", "/api/users", {}), 1),
        # A password check: the user and the failure record read together, the attempt
        # counted before the check, and forgotten after a success.
        (
            ("POST", "/api/sessions", {"json": {"username": "janedoe", "password": "JanePass123"}}),
            4,
        ),
        (("POST", "/api/sessions", {"json": {"username": "janedoe", "password": "wrong-one"}}), 2),
        (("GET", "/api/user", {"headers": JANE}), 3),
    ],
)
def test_round_trips_are_pinned(client, store, warm, log_lines, request_args, most):
    method, url, kwargs = request_args
    calls = count_calls(store)

    client.open(url, method=method, **kwargs)

    assert 1 <= len(calls) <= most, calls
    assert access_lines(log_lines())[-1]["dynamodb_calls"] == len(calls)


def test_calls_made_side_by_side_are_all_counted_in_the_access_line(client, store, warm, log_lines):
    calls = count_calls(store)

    client.get("/api/users", query_string={"prefix": ""}, headers=JOHN)

    queries = [name for name in calls if name.endswith(".Query")]
    assert len(queries) >= 8  # a page of the sharded index: one Query per shard, at once
    line = access_lines(log_lines())[-1]
    assert line["dynamodb_calls"] == len(calls)
    assert line["dynamodb_ms"] > 0


def test_bearer_who_am_i_is_one_round_trip(client, store, warm):
    auth = bearer_token(client)
    calls = count_calls(store)

    assert client.get("/api/user", headers=auth).status_code == 200

    assert calls == ["before-call.dynamodb.BatchGetItem"]


def test_listing_my_own_sessions_reads_me_once(client, store, warm):
    auth = bearer_token(client)
    calls = count_calls(store)

    assert client.get("/api/users/johndoe/sessions", headers=auth).status_code == 200

    # The caller is the user whose sessions these are: no second read of them.
    assert calls == ["before-call.dynamodb.BatchGetItem", "before-call.dynamodb.Query"]


# -- No secret in any log line, over every route --------------------------------------------


def test_no_log_line_holds_a_secret_on_any_route(client, log_lines):
    token = bearer_token(client)["Authorization"][7:]
    alice = new_user(password="Alice's own secret 1")
    auth = {"Authorization": f"Bearer {token}"}
    calls = [
        ("GET", "/api/users", {}),
        ("POST", "/api/users", {"json": alice}),
        ("GET", "/api/user?username=alice&password=Alice's own secret 1", {}),
        ("GET", "/api/user?username=alice&password=a wrong guess 99", {}),
        ("GET", "/api/user", {"headers": auth}),
        ("GET", "/api/users/alice", {"headers": JOHN}),
        ("PATCH", "/api/users/alice", {"json": {"password": "Next secret 22"}, "headers": auth}),
        ("GET", "/api/users/alice/sessions", {"headers": auth}),
        ("GET", "/api/sessions/current", {"headers": auth}),
        ("DELETE", "/api/users/johndoe/sessions", {"headers": auth}),
        ("DELETE", "/api/users/alice", {"headers": JOHN}),
        ("GET", "/api/health/live", {}),
        ("GET", "/api/health/ready", {}),
        ("GET", "/api/openapi.json", {}),
        ("DELETE", "/api/sessions/current", {"headers": auth}),
    ]
    for method, url, kwargs in calls:
        client.open(url, method=method, **kwargs)

    text = json.dumps(log_lines())
    secrets = [token, "JohnPass123", "Alice's own secret 1", "a wrong guess 99", "Next secret 22"]
    for secret in [*secrets, "$2b$", "password_hash", "token_hash"]:
        assert secret not in text
    assert hash_token(token) not in text
    assert len(access_lines(log_lines())) == len(calls) + 1
