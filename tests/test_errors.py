"""Every failure is RFC 9457 problem details, including Flask's own and DynamoDB's."""

from __future__ import annotations

import json
import socket
import time

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from app import create_app
from tests.conftest import JANE, new_user


def assert_problem(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status
    assert body["title"]
    assert body["type"] == "about:blank"
    assert body["detail"]
    assert body["instance"] == response.request.path
    assert b"<html" not in response.get_data().lower()
    return body


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


@pytest.mark.parametrize("path", ["/", "/api", "/api/nothing-here", "/api/users/a/b"])
def test_unknown_url_is_404_problem(client, path):
    assert_problem(client.get(path), 404)


def test_unexpected_exception_is_500_problem_without_details(app, caplog):
    @app.get("/api/boom")
    def boom():
        raise RuntimeError("internal detail that must not reach the client")

    response = app.test_client().get("/api/boom")

    body = assert_problem(response, 500)
    assert "internal detail" not in response.get_data(as_text=True)
    assert body["title"] == "Internal Server Error"
    assert any("unhandled error" in r.getMessage() for r in caplog.records)


def test_every_response_says_nosniff(client):
    for response in (client.get("/api/users"), client.get("/nowhere"), client.get("/api/docs")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- DynamoDB unavailable -------------------------------------------------------------------


def _throttle(**kwargs):
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "Rate exceeded",
    }
    raw = _Raw(json.dumps(body).encode())
    return AWSResponse(kwargs["request"].url, 400, {}, raw)


class _Raw:
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore retries for real, without waiting between attempts."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_throttled_dynamodb_is_503_with_retry_after(client, store, no_backoff):
    client.get("/api/users")
    sends = []
    store.client.meta.events.register(
        "before-send.dynamodb", lambda **kw: sends.append(1) or _throttle(**kw)
    )

    response = client.get("/api/users/johndoe")

    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert "try again" in body["detail"]
    assert len(sends) == 3  # DYNAMODB_MAX_ATTEMPTS


def test_throttled_once_then_served(client, store, no_backoff):
    client.get("/api/users")
    sends = []

    def first_only(**kwargs):
        sends.append(1)
        return _throttle(**kwargs) if len(sends) == 1 else None

    store.client.meta.events.register("before-send.dynamodb", first_only)

    assert client.get("/api/users/johndoe").status_code == 200
    assert len(sends) == 2


def test_unreachable_dynamodb_is_503_within_5_seconds(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{port}"
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
