"""`make run` end to end: run.py with its embedded DynamoDB, over real HTTP."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.serving import (
    child_environment,
    free_port,
    http_call,
    stop_process,
    wait_for_port,
)
from tests.helpers import JOHN, new_user

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass
class Server:
    base_url: str
    port: int
    # Stops the process (SIGTERM unless a signal is given) and returns its stdout and stderr.
    stop: Callable[..., str]
    stdout: Path


@pytest.fixture
def server(tmp_path: Path, served_engine: dict[str, str]) -> Iterator[Server]:
    """run.py as `make run` starts it: a free port, no DynamoDB endpoint (its own engine)."""
    with running(tmp_path, **served_engine) as started:
        yield started


@contextmanager
def running(tmp_path: Path, **settings: str) -> Iterator[Server]:
    """run.py on a free port with these settings, until the block ends."""
    port = free_port()
    env = child_environment(
        {"HOST": "127.0.0.1", "PORT": str(port), "PYTHONUNBUFFERED": "1", **settings}
    )
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "run.py"], cwd=REPO, env=env, stdout=out, stderr=err
        )

    def stop(signum: int = signal.SIGTERM) -> str:
        if process.poll() is None and signum != signal.SIGTERM:
            process.send_signal(signum)  # as a terminal's Ctrl-C sends SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_TIMEOUT)
        stop_process(process, timeout=STOP_TIMEOUT)
        return stdout.read_text(errors="replace") + stderr.read_text(errors="replace")

    base_url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_port(port, process=process, seconds=START_TIMEOUT)
        except RuntimeError as error:
            pytest.fail(f"run.py did not start: {error}:\n{stop()}")
        running = Server(base_url=base_url, port=port, stop=stop, stdout=stdout)
        # The first list creates the tables and seeds the demo users.
        listed = http_call(port, "GET", "/api/users", timeout=START_TIMEOUT)
        if listed.status != 200:
            pytest.fail(f"run.py answered {listed.status} to GET /api/users:\n{stop()}")
        yield running
    finally:
        stop()


def test_run_serves_the_api_over_http_without_logging_secrets(server):
    listed = http_call(server.port, "GET", "/api/users")
    assert listed.status == 200
    assert {"johndoe", "janedoe"} <= {user["username"] for user in listed.body}

    query = urlencode({"username": "johndoe", "password": "JohnPass123"})
    me = http_call(server.port, "GET", f"/api/user?{query}")
    assert me.status == 200
    assert me.body["username"] == "johndoe"
    assert me.body["account_type"] == "admin_user"
    assert {"email", "created_at", "updated_at"} <= set(me.body)  # the self view
    assert "password_hash" not in me.body

    query = urlencode({"username": "johndoe", "password": "NotJohnsPass"})
    wrong = http_call(server.port, "GET", f"/api/user?{query}")
    assert wrong.status == 401
    assert wrong.headers.get_content_type() == "application/problem+json"
    assert wrong.headers["WWW-Authenticate"]
    assert wrong.body["status"] == 401

    body = new_user(username="runner", email="runner@example.com")
    created = http_call(server.port, "POST", "/api/users", body=body)
    assert created.status == 201
    assert created.headers["Location"].endswith("/api/users/runner")
    assert created.body["username"] == "runner"
    fetched = http_call(server.port, "GET", "/api/users/runner", headers=JOHN)
    assert fetched.status == 200
    assert fetched.body["email"] == "runner@example.com"

    banner = server.stdout.read_text()
    assert f"at {server.base_url}/api/users" in banner
    assert f"docs at {server.base_url}/api/docs" in banner
    if "Amazon's DynamoDB Local" in banner:  # DYNAMODB_ENGINE=local
        assert "The data stays in" in banner
        assert "rm -rf" in banner
    else:
        assert "in memory and is lost on exit" in banner
        assert "AWS_ENDPOINT_URL_DYNAMODB" in banner
        assert "APP_ENV=production" in banner

    output = server.stop()
    # The log was captured (the access lines are there), and holds no secret.
    assert "GET /api/user 200" in output
    assert "GET /api/user 401" in output
    for secret in ("JohnPass123", "NotJohnsPass", body["password"], "$2b$", "password_hash"):
        assert secret not in output, f"the server's output leaks {secret!r}"


@pytest.mark.parametrize(("seed", "seeded"), [(None, False), ("true", True)])
def test_run_seeds_demo_users_only_into_its_own_dynamodb_unless_asked(
    tmp_path, external_engine, seed, seeded
):
    settings = {**external_engine, **({"SEED_DEMO_USERS": seed} if seed else {})}
    with running(tmp_path, **settings) as server:
        listed = http_call(server.port, "GET", "/api/users")

    assert listed.status == 200
    assert ({"johndoe", "janedoe"} <= {user["username"] for user in listed.body}) is seeded


def test_run_with_its_own_dynamodb_can_leave_the_demo_users_out(tmp_path, served_engine):
    with running(tmp_path, **served_engine, SEED_DEMO_USERS="false") as server:
        listed = http_call(server.port, "GET", "/api/users")

    assert listed.status == 200
    assert listed.body == []
