"""Every failure is RFC 9457 problem details, including Flask's own and DynamoDB's."""

from __future__ import annotations

import json
import time

import pytest

from app import create_app
from app.helpers.dynamo import ConditionFailed, TransactionCanceled
from app.serving import free_port
from tests.faults import answer, inject_sends
from tests.helpers import JANE, assert_problem, new_user


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{", "application/json", 400),
        ("", "application/json", 400),
        ('{"username": ', "application/json", 400),
        (json.dumps(new_user()), "text/plain", 415),
        (json.dumps(new_user()), "application/x-www-form-urlencoded", 415),
        (json.dumps(new_user()), None, 415),
        ('{"a": "' + "x" * 17_000 + '"}', "application/json", 413),
    ],
)
def test_register_unreadable_body_is_refused(client, data, content_type, status):
    response = client.post("/api/users", data=data, content_type=content_type)

    assert_problem(response, status)
    assert client.get("/api/users/alice").status_code == 404


def test_register_accepts_json_with_charset_and_vendor_types(client):
    body = json.dumps(new_user())
    response = client.post("/api/users", data=body, content_type="application/json; charset=utf-8")
    assert response.status_code == 201

    other = json.dumps(new_user(username="bob", email="bob@example.com"))
    response = client.post("/api/users", data=other, content_type="application/merge-patch+json")
    assert response.status_code == 201


def test_body_that_is_not_an_object_is_422(client):
    response = client.post("/api/users", json=["not", "an", "object"])

    body = assert_problem(response, 422)
    assert body["errors"]


def test_wrong_method_is_405_with_allow(client):
    response = client.put("/api/users", json={})

    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("path", ["/nothing", "/api", "/api/nothing-here", "/api/users/a/b"])
def test_unknown_url_is_404_problem(client, path):
    assert_problem(client.get(path), 404)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("internal detail that must not reach the client"),
        # A store exception that no service translated is a bug, not a silent generic 409.
        ConditionFailed({"internal detail": "that must not reach the client"}),
        TransactionCanceled(["internal detail that must not reach the client"]),
    ],
    ids=["RuntimeError", "ConditionFailed", "TransactionCanceled"],
)
def test_unexpected_exception_is_500_problem_without_details(app, caplog, error):
    @app.get("/api/boom")
    def boom():
        raise error

    response = app.test_client().get("/api/boom")

    body = assert_problem(response, 500)
    assert "internal detail" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"
    logged = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    assert [r.levelname for r in logged] == ["ERROR"]
    assert logged[0].exc_info[1] is error


def test_every_response_says_nosniff(client):
    for response in (client.get("/api/users"), client.get("/nowhere"), client.get("/api/docs")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- DynamoDB unavailable -------------------------------------------------------------------


def test_throttled_dynamodb_is_503_with_retry_after(client, store, no_backoff):
    client.get("/api/users")
    sends = inject_sends(store, "*", ["ProvisionedThroughputExceededException"] * 10)

    response = client.get("/api/users/johndoe")

    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert "try again" in body["detail"]
    assert len(sends) == 3  # DYNAMODB_MAX_ATTEMPTS


def test_throttled_once_then_served(client, store, no_backoff):
    client.get("/api/users")
    sends = inject_sends(store, "*", ["ThrottlingException"])

    assert client.get("/api/users/johndoe").status_code == 200
    assert len(sends) == 2


def test_unreachable_dynamodb_is_503_within_5_seconds(settings):
    settings["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{free_port()}"
    client = create_app(settings).test_client()

    calls = [
        lambda: client.get("/api/users"),
        lambda: client.post("/api/users", json=new_user()),
        lambda: client.get("/api/user", headers=JANE),
    ]
    for call in calls:
        started = time.monotonic()
        response = call()
        assert time.monotonic() - started < 5
        assert_problem(response, 503)
        assert response.headers["Retry-After"]


def test_transaction_cancelled_by_concurrent_writer_is_409_and_writes_nothing(client, store):
    client.get("/api/users")
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict"}]
    calls = []

    def cancel(**kwargs):
        # A before-call answer stands for DynamoDB's: moto never sees the transaction.
        calls.append(1)
        error = {"Code": "TransactionCanceledException", "Message": "injected"}
        return answer(400, {"Error": error, "CancellationReasons": reasons})

    store.add_hook("before-call.dynamodb.TransactWriteItems", cancel)

    response = client.post("/api/users", json=new_user())

    body = assert_problem(response, 409)
    assert "concurrent" in body["detail"]
    assert calls == [1]
    assert store.get("users", {"username": "alice"}) is None
    assert store.get("user_emails", {"email": "alice@example.com"}) is None


def test_table_deleted_under_running_app_is_created_again(client, store):
    assert client.post("/api/users", json=new_user()).status_code == 201
    store.client.delete_table(TableName=store.table_name("users"))

    response = client.get("/api/users")

    assert response.status_code == 200
    assert store.table_name("users") in store.client.list_tables()["TableNames"]
    bob = new_user(username="bob", email="bob@example.com")
    assert client.post("/api/users", json=bob).status_code == 201


def test_dynamodb_internal_errors_become_503_never_500(client, store, no_backoff):
    client.get("/api/users")
    inject_sends(store, "*", ["InternalServerError"] * 10, status=500)

    for response in (
        client.get("/api/users"),
        client.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"}),
        client.delete("/api/users/janedoe", headers=JANE),
    ):
        assert_problem(response, 503)
