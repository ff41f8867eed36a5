"""`make run` end to end: run.py with its embedded DynamoDB, over real HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import ProxyHandler, Request, build_opener

import pytest

from tests.helpers import JOHN, new_user

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# Never go through a proxy from the environment to reach 127.0.0.1.
OPENER = build_opener(ProxyHandler({}))


@dataclass
class Answer:
    status: int
    headers: Any
    body: Any


@dataclass
class Server:
    base_url: str
    stop: Callable[[], str]  # stops the process (once) and returns its stdout and stderr
    stdout: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(
    base_url: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = Request(base_url + path, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(request, timeout=timeout) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    return Answer(status, answer_headers, json.loads(raw) if raw else None)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """run.py as `make run` starts it: a free port, no DynamoDB endpoint (embedded moto)."""
    port = _free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "APP_ENV", "AWS_PROFILE")
    }
    env.update(HOST="127.0.0.1", PORT=str(port), PYTHONUNBUFFERED="1")
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "run.py"], cwd=REPO, env=env, stdout=out, stderr=err
        )

    def stop() -> str:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT)
        return stdout.read_text(errors="replace") + stderr.read_text(errors="replace")

    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"run.py exited with {process.returncode}:\n{stop()}")
            try:
                if _call(base_url, "GET", "/api/users", timeout=2.0).status == 200:
                    break
            except (URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"run.py did not answer within {START_TIMEOUT} s:\n{stop()}")
            time.sleep(0.1)  # bounded polling for start-up
        yield Server(base_url=base_url, stop=stop, stdout=stdout)
    finally:
        stop()


def test_run_serves_the_api_over_http_without_logging_secrets(server):
    listed = _call(server.base_url, "GET", "/api/users")
    assert listed.status == 200
    assert {"johndoe", "janedoe"} <= {user["username"] for user in listed.body}

    query = urlencode({"username": "johndoe", "password": "JohnPass123"})
    me = _call(server.base_url, "GET", f"/api/user?{query}")
    assert me.status == 200
    assert me.body["username"] == "johndoe"
    assert me.body["account_type"] == "admin_user"
    assert {"email", "created_at", "updated_at"} <= set(me.body)  # the self view
    assert "password_hash" not in me.body

    query = urlencode({"username": "johndoe", "password": "NotJohnsPass"})
    wrong = _call(server.base_url, "GET", f"/api/user?{query}")
    assert wrong.status == 401
    assert wrong.headers.get_content_type() == "application/problem+json"
    assert wrong.headers["WWW-Authenticate"]
    assert wrong.body["status"] == 401

    body = new_user(username="runner", email="runner@example.com")
    created = _call(server.base_url, "POST", "/api/users", body=body)
    assert created.status == 201
    assert created.headers["Location"].endswith("/api/users/runner")
    assert created.body["username"] == "runner"
    fetched = _call(server.base_url, "GET", "/api/users/runner", headers=JOHN)
    assert fetched.status == 200
    assert fetched.body["email"] == "runner@example.com"

    banner = server.stdout.read_text()
    assert f"at {server.base_url}/api/users" in banner
    assert f"docs at {server.base_url}/api/docs" in banner
    assert "in memory and is lost on exit" in banner
    assert "AWS_ENDPOINT_URL_DYNAMODB" in banner
    assert "APP_ENV=production" in banner

    output = server.stop()
    # The log was captured (the access lines are there), and holds no secret.
    assert "GET /api/user 200" in output
    assert "GET /api/user 401" in output
    for secret in ("JohnPass123", "NotJohnsPass", body["password"], "$2b$", "password_hash"):
        assert secret not in output, f"the server's output leaks {secret!r}"
