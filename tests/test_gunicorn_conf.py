"""`make serve`: gunicorn with gunicorn.conf.py, its start-up checks and a shared dev DynamoDB."""

from __future__ import annotations

import importlib.util
import logging
import re
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyotp
import pytest

from app.helpers.state import state_of
from app.serving import child_environment, free_port, http_call, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")


def serve_env(**overrides):
    return child_environment(
        {"HOST": "127.0.0.1", **overrides}, drop=("AWS_", "APP_", "RATELIMIT_", "WEB_")
    )


def start(env):
    return subprocess.Popen(
        [str(GUNICORN), "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def call(port, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    answer = http_call(port, method, path, body=body, headers=headers)
    return answer.status, answer.body


def wait_until_serving(port, process, deadline=30):
    try:
        wait_for_port(port, process=process, seconds=deadline)
    except RuntimeError as error:
        output = process.stdout.read() if process.poll() is not None else ""
        pytest.fail(f"gunicorn did not start serving: {error}\n{output}")
    # The master listens before its workers are up: the first answer waits for one.
    assert call(port, "GET", "/api/health/live")[0] == 200


@pytest.fixture
def stop():
    processes = []
    yield processes.append
    for process in processes:
        # SIGTERM first: gunicorn's on_exit stops the moto_server it started.
        stop_process(process, timeout=30)


@pytest.mark.parametrize(
    ("env", "lines"),
    [
        (
            {"APP_ENV": "production"},
            ["configuration error: no DynamoDB configured: set AWS_REGION"],
        ),
        (
            {"APP_ENV": "production", "AWS_REGION": "eu-west-1", "PORT": "x", "LOG_FORMAT": "xml"},
            ["configuration error: PORT='x' is not valid", "LOG_FORMAT must be text or json"],
        ),
    ],
)
def test_production_refuses_to_start_naming_each_problem(env, lines, stop):
    process = start(serve_env(**env, AWS_CONFIG_FILE="/nonexistent"))
    stop(process)

    output, _ = process.communicate(timeout=60)

    assert process.returncode != 0
    for line in lines:
        assert line in output
    assert "Traceback" not in output


def test_development_workers_share_one_dynamodb_and_stop_gracefully(stop, served_engine):
    port = free_port()
    env = serve_env(
        PORT=str(port), WEB_CONCURRENCY="2", WEB_THREADS="2", BCRYPT_ROUNDS="4", **served_engine
    )
    process = start(env)
    stop(process)
    wait_until_serving(port, process)

    created = [
        call(
            port,
            "POST",
            "/api/users",
            {
                "username": f"served{i}",
                "email": f"served{i}@example.com",
                "password": "a long enough secret",
                "first_name": "S",
                "last_name": "Erved",
            },
        )[0]
        for i in range(4)
    ]
    # Every request is a new connection: the two workers take turns, one DynamoDB serves both.
    listings = [call(port, "GET", "/api/users?limit=100")[1] for _ in range(6)]

    # A TOTP secret one worker encrypted, another reads back: every worker has the one key
    # the server made (no SECRET_KEYS here), not one of its own.
    confirmed = []
    for i in range(4):
        login = {"username": f"served{i}", "password": "a long enough secret"}
        token = call(port, "POST", "/api/sessions", login)[1]["token"]
        secret = call(port, "POST", f"/api/users/served{i}/totp", {}, token=token)[1]["secret"]
        code = {"code": pyotp.TOTP(secret).now()}
        confirmed.append(call(port, "POST", f"/api/users/served{i}/totp/confirm", code, token)[0])

    assert created == [201] * 4
    for listing in listings:
        assert {f"served{i}" for i in range(4)} <= {u["username"] for u in listing}
    assert confirmed == [200] * 4
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=40)
    assert process.returncode == 0
    assert "shared by the 2 workers" in output
    assert "Shutting down" in output
    # The development DynamoDB it started stopped with it.
    dynamodb_port = int(re.search(r"on http://127\.0\.0\.1:(\d+) shared by", output)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", dynamodb_port), timeout=1).close()


def test_serve_workers_share_one_budget(stop, served_engine):
    budget, attempts = 5, 12
    port = free_port()
    env = serve_env(
        PORT=str(port),
        WEB_CONCURRENCY="3",
        WEB_THREADS="1",  # one request at a time per worker: concurrent logins must spread
        BCRYPT_ROUNDS="8",
        RATELIMIT_LOGIN=f"{budget} per day",  # a window no test run crosses the end of
        **served_engine,
    )
    process = start(env)
    stop(process)
    wait_until_serving(port, process)
    # The first request creates the tables and seeds the demo users; the budget is untouched.
    assert "johndoe" in {user["username"] for user in call(port, "GET", "/api/users")[1]}
    login = {"username": "johndoe", "password": "JohnPass123"}

    with ThreadPoolExecutor(attempts) as pool:
        answers = list(
            pool.map(lambda _: call(port, "POST", "/api/sessions", login), range(attempts))
        )

    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] * budget + [429] * (attempts - budget)
    refused = [body for status, body in answers if status == 429]
    assert all("from this address" in body["detail"] for body in refused)


def _conf_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """gunicorn.conf.py as gunicorn loads it, under the testing settings.

    Loading it configures logging as the server's (one handler on the root logger): the
    test's own handlers and level are put back afterwards.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    monkeypatch.setattr(root, "handlers", handlers)  # the object put back at teardown
    monkeypatch.setattr(root, "level", level)
    root.handlers = list(handlers)  # what the configuration replaces in place
    monkeypatch.setenv("APP_ENV", "testing")
    spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "gunicorn.conf.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stopping_worker_waits_for_its_queued_mail(app, monkeypatch):
    conf = _conf_module(monkeypatch)
    mailer = state_of(app).mailer
    release = threading.Event()
    mailer.submit(lambda: release.wait(5) and None, what="slow")  # a worker busy with it
    threading.Timer(0.3, release.set).start()

    conf.worker_exit(server=None, worker=SimpleNamespace(wsgi=app))

    assert release.is_set()
    assert mailer.flush(timeout=0)  # nothing left when the worker goes


def test_a_stopping_worker_says_when_mail_is_lost(app, monkeypatch, capsys):
    conf = _conf_module(monkeypatch)
    monkeypatch.setattr(conf, "MAIL_FLUSH_SECONDS", 0.1)
    release = threading.Event()
    state_of(app).mailer.submit(lambda: release.wait(5) and None, what="stuck")
    try:
        conf.worker_exit(server=None, worker=SimpleNamespace(wsgi=app))
    finally:
        release.set()

    # The configuration set up the server's logging (on standard error), as gunicorn would.
    assert "mail still queued after 0 s was lost with the worker" in capsys.readouterr().err
