"""Health probes: live always, ready only when DynamoDB answers (asked at most every 5 s)."""

from __future__ import annotations

import pytest

from app import create_app
from app.serving import free_port
from tests.faults import error_response
from tests.helpers import basic


def test_live_answers_without_dynamodb(settings):
    settings["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://127.0.0.1:{free_port()}"
    client = create_app(settings).test_client()

    assert client.get("/api/health/live").json == {"status": "live"}
    ready = client.get("/api/health/ready")
    assert ready.status_code == 503
    assert ready.mimetype == "application/problem+json"
    assert "Not ready: DynamoDB did not answer (EndpointConnectionError)" in ready.json["detail"]
    assert ready.headers["Retry-After"]


def test_ready_when_dynamodb_answers_and_creates_tables(client, store):
    response = client.get("/api/health/ready")

    assert response.status_code == 200
    assert response.json == {"status": "ready"}
    assert store.table_name("users") in store.client.list_tables()["TableNames"]


def test_ready_asks_dynamodb_at_most_every_few_seconds(client, store, clock):
    client.get("/api/health/ready")
    calls = []
    store.add_hook("before-call.dynamodb", lambda **kw: calls.append(1))

    for _ in range(13):  # 5.2 s in steps of 0.4 s
        clock.now += 0.4
        assert client.get("/api/health/ready").status_code == 200
    assert calls == [1]  # once, when the 5 s cache ran out


def test_ready_turns_503_when_dynamodb_fails_and_200_when_back(client, store, clock, no_backoff):
    assert client.get("/api/health/ready").status_code == 200
    broken = []

    def fail(request, **kwargs):
        if broken:
            return error_response("InternalServerError", 500)
        return None

    store.add_hook("before-send.dynamodb", fail)
    broken.append(True)
    clock.now += 6
    response = client.get("/api/health/ready")
    assert response.status_code == 503
    assert response.json["detail"] == "Not ready: DynamoDB did not answer (InternalServerError)."
    broken.clear()
    clock.now += 6
    assert client.get("/api/health/ready").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [("/api/health/live", {"status": "live"}), ("/api/health/ready", {"status": "ready"})],
)
@pytest.mark.parametrize("headers", [{}, basic("johndoe", "wrong"), {"Authorization": "Bearer x"}])
def test_health_answers_the_same_whatever_credentials_come_with_it(client, path, body, headers):
    # Probes carry no credentials, or a proxy's: neither is ever checked (no 401, no lockout).
    response = client.get(path, headers=headers)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == body
    assert response.headers["Cache-Control"] == "no-store"
