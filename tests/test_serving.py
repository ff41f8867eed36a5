"""app.serving: ports, the embedded DynamoDB, child processes, settings and workers."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from app.config import config_from_env, keys_of
from app.helpers.keyring import Keyring, new_key
from app.serving import (
    child_environment,
    free_port,
    http_call,
    load_settings,
    share_development_key,
    start_embedded_dynamodb,
    start_moto_server,
    stop_process,
    wait_for_port,
    worker_count,
)

ROOT = Path(__file__).resolve().parent.parent
# A child that says it is ready once SIGTERM can no longer stop it.
IGNORES_TERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def root_logging():
    """load_settings configures the root logger for a server: give it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def no_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def listener():
    """A loopback socket that accepts connections; its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class QuietHandler(BaseHTTPRequestHandler):
    """A stub server's handler that writes no log line per request."""

    def log_message(self, *args):
        pass


@contextmanager
def http_stub(handler):
    """A loopback HTTP server answering with `handler` in a thread; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", code], **kwargs)


def running(pid):
    """Whether `pid` is a live process (a zombie is dead: only its parent may reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def dynamodb(url):
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")


def test_free_port_returns_a_loopback_port_nothing_listens_on():
    port = free_port()

    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free: binding it again works
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_wait_for_port_returns_when_something_listens(listener):
    started = time.monotonic()

    wait_for_port(listener, seconds=5)

    assert time.monotonic() - started < 1


def test_wait_for_port_raises_when_time_runs_out():
    port = free_port()
    started = time.monotonic()

    with pytest.raises(RuntimeError, match=rf"nothing listens on 127\.0\.0\.1:{port} after 0\.3 s"):
        wait_for_port(port, seconds=0.3)

    assert 0.3 <= time.monotonic() - started < 3


def test_wait_for_port_raises_when_the_process_exits_first():
    process = python("raise SystemExit(3)")
    process.wait(timeout=10)

    with pytest.raises(RuntimeError, match="exited with status 3 before listening"):
        wait_for_port(free_port(), process=process, seconds=30)


def test_stop_process_ends_a_process_with_sigterm():
    process = python("import time; time.sleep(60)")

    stop_process(process, timeout=10)

    assert process.returncode == -signal.SIGTERM


def test_stop_process_kills_a_process_that_ignores_sigterm():
    process = python(IGNORES_TERM, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    started = time.monotonic()

    stop_process(process, timeout=0.5)

    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    process.stdout.close()


def test_stop_process_stops_the_whole_group_when_asked(tmp_path):
    # The leader starts a child that ignores SIGTERM, says its pid, and waits for it.
    leader = python(
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {IGNORES_TERM!r}],"
        " stdout=subprocess.PIPE, text=True)\n"
        "child.stdout.readline()\n"
        "print(child.pid, flush=True)\n"
        "child.wait()\n",
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(leader.stdout.readline())

    stop_process(leader, timeout=0.5, group=True)

    assert leader.returncode is not None
    deadline = time.monotonic() + 5
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.05)  # a signal is delivered a moment after it is sent
    assert not running(child)
    leader.stdout.close()


def test_stop_process_accepts_none_and_a_finished_process():
    process = python("pass")
    process.wait(timeout=10)

    stop_process(None)
    stop_process(process)

    assert process.returncode == 0


def test_child_environment_drops_foreign_settings_and_adds_values(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://elsewhere")
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("WEB_THREADS", "9")

    env = child_environment({"PORT": "1234", "AWS_REGION": "us-east-1"})

    assert env["PORT"] == "1234"
    assert env["AWS_REGION"] == "us-east-1"
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in env
    assert "APP_ENV" not in env
    assert env["WEB_THREADS"] == "9"
    assert env["PATH"] == os.environ["PATH"]
    assert "WEB_THREADS" not in child_environment({}, drop=("WEB_",))


def test_http_call_sends_json_and_decodes_the_answer():
    seen = {}

    class Echo(QuietHandler):
        def do_POST(self):
            seen["type"] = self.headers["Content-Type"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Location", "/things/1")
            self.end_headers()
            self.wfile.write(b'{"id": 1}')

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"plain text")

    with http_stub(Echo) as port:
        created = http_call(port, "POST", "/things", body={"name": "x"})
        plain = http_call(port, "GET", "/")
        form = http_call(
            port,
            "POST",
            "/things",
            body=b"name=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    assert created.status == 201
    assert created.body == {"id": 1}
    assert created.headers["Location"] == "/things/1"
    assert plain.body == b"plain text"
    assert form.status == 201
    assert seen == {"type": "application/x-www-form-urlencoded", "body": b"name=x"}


def test_worker_count_uses_web_concurrency_or_twice_the_cores_plus_one(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 3)

    assert worker_count(4) == 4
    assert worker_count(0) == 7


def test_start_embedded_dynamodb_serves_dynamodb_on_loopback(no_credentials, monkeypatch):
    server, url = start_embedded_dynamodb()
    try:
        assert url.startswith("http://127.0.0.1:")
        assert "TableNames" in dynamodb(url).list_tables()
    finally:
        server.stop()
    assert os.environ["AWS_ACCESS_KEY_ID"] == "embedded"
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "embedded"


def test_start_embedded_dynamodb_keeps_configured_credentials():
    server, _url = start_embedded_dynamodb()
    server.stop()

    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"  # tests/conftest.py's


def test_start_moto_server_runs_a_separate_process_until_stopped(no_credentials, tmp_path):
    with (tmp_path / "moto.log").open("wb") as output:
        process, url = start_moto_server(output=output, own_session=True)
    try:
        assert url == f"http://127.0.0.1:{url.rsplit(':', 1)[1]}"
        assert process.poll() is None
        assert "TableNames" in dynamodb(url).list_tables()
        assert os.environ["AWS_ACCESS_KEY_ID"] == "embedded"
    finally:
        stop_process(process, group=True)
    assert process.returncode is not None
    assert "POST / HTTP/1.1" in (tmp_path / "moto.log").read_text()


def test_load_settings_exits_naming_a_mail_template_that_cannot_be_written(monkeypatch, tmp_path):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "password_changed.html").write_text("{{ user.nickname }}")
    monkeypatch.setenv("TEMPLATE_FOLDER", str(tmp_path))

    with pytest.raises(SystemExit) as exited:
        load_settings()

    assert str(exited.value.code) == (
        "configuration error: mail template password_changed: "
        "'app.models.UserItem object' has no attribute 'nickname'"
    )


def test_start_moto_server_raises_when_it_does_not_listen_in_time():
    with pytest.raises(RuntimeError, match=r"after 0\.01 s"):
        start_moto_server(seconds=0.01)


def test_load_settings_exits_naming_every_unreadable_setting(monkeypatch):
    monkeypatch.setenv("PORT", "x")
    monkeypatch.setenv("LOG_FORMAT", "xml")

    with pytest.raises(SystemExit) as exited:
        load_settings()

    lines = str(exited.value.code).splitlines()
    assert lines[0].startswith("configuration error: PORT='x' is not valid")
    assert lines[1] == "configuration error: LOG_FORMAT must be text or json"


def test_load_settings_exits_naming_every_startup_problem(monkeypatch, root_logging):
    monkeypatch.setenv("APP_ENV", "production")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")

    with pytest.raises(SystemExit) as exited:
        load_settings(workers=1)

    assert str(exited.value.code).splitlines() == [
        "configuration error: no DynamoDB configured: set AWS_REGION (AWS) or "
        "AWS_ENDPOINT_URL_DYNAMODB (a DynamoDB-compatible server); production never starts "
        "an embedded one",
        "configuration error: SECOND_FACTORS is on but SECRET_KEYS is empty: TOTP secrets are "
        "encrypted with it (generate one with `flask users new-key`)",
    ]


def test_load_settings_warns_with_gunicorns_worker_count(monkeypatch, root_logging, caplog):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("MAIL_BACKEND", "ses")
    monkeypatch.setenv("PUBLIC_URL", "https://accounts.example.com")
    monkeypatch.setenv("SECRET_KEYS", new_key())

    # load_settings gives the root logger a handler of its own: listen on the logger itself.
    logger = logging.getLogger("app.serve")
    logger.addHandler(caplog.handler)
    try:
        settings = load_settings()
        quiet = load_settings(workers=1)
    finally:
        logger.removeHandler(caplog.handler)

    assert settings["APP_ENV"] == "production"
    assert quiet["WEB_CONCURRENCY"] == 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.serve"]
    assert warnings == [
        "configuration: RATELIMIT_STORAGE_URI is in memory with 5 workers: each worker counts "
        "on its own, so the per-address limits are that many times looser; use a shared "
        "storage (dynamodb://, the default, or redis://...)"
    ]


@pytest.mark.parametrize(
    ("environ", "warned"),
    [
        ({"DYNAMODB_ENGINE": "local"}, True),  # its data stays in instance/dynamodb
        ({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}, True),  # a DynamoDB of one's own
        ({}, False),  # the embedded moto server: its data goes with the run anyway
    ],
)
def test_share_development_key_gives_every_worker_one_key(
    monkeypatch, root_logging, caplog, environ, warned
):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("SECRET_KEYS", "")  # (set, not deleted: the key it puts is taken back)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    logger = logging.getLogger("app.serve")
    logger.addHandler(caplog.handler)
    try:
        settings = load_settings()
        share_development_key(settings)
    finally:
        logger.removeHandler(caplog.handler)

    # What each gunicorn worker's create_app() reads after the fork: the same key, so one
    # worker reads the TOTP secret another encrypted.
    workers = [Keyring.for_app(config_from_env()) for _ in range(2)]
    assert workers[0].keys == workers[1].keys == (settings["SECRET_KEYS"],)
    assert workers[1].decrypt(workers[0].encrypt("JBSWY3DPEHPK3PXP")) == "JBSWY3DPEHPK3PXP"
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.serve"]
    assert warnings == (
        [
            "configuration: SECRET_KEYS is empty, so the second factors set up now are "
            "encrypted with a key made for this run and unreadable after a restart (their "
            "recovery codes still sign in); set SECRET_KEYS to a key of your own "
            "(flask users new-key)"
        ]
        if warned
        else []
    )


@pytest.mark.parametrize(
    ("environ", "keys"),
    [
        ({"SECRET_KEYS": "mine"}, ("mine",)),  # the developer's own key is kept
        ({"SECOND_FACTORS": "false"}, ()),  # nothing to encrypt
    ],
)
def test_share_development_key_makes_none_where_none_is_needed(
    monkeypatch, root_logging, environ, keys
):
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.setenv("SECRET_KEYS", "")
    mine = new_key()
    for name, value in environ.items():
        monkeypatch.setenv(name, mine if value == "mine" else value)

    settings = load_settings()
    share_development_key(settings)

    expected = tuple(mine if key == "mine" else key for key in keys)
    assert tuple(keys_of(settings["SECRET_KEYS"])) == expected
    assert tuple(keys_of(os.environ["SECRET_KEYS"])) == expected


def test_load_settings_exits_with_status_1_and_one_line_per_problem():
    env = child_environment(
        {"APP_ENV": "production", "AWS_REGION": "eu-west-1", "PORT": "x", "LOG_FORMAT": "xml"}
    )
    done = subprocess.run(
        [sys.executable, "-c", "from app.serving import load_settings; load_settings()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("configuration error: PORT='x' is not valid")
    assert lines[1] == "configuration error: LOG_FORMAT must be text or json"
    assert done.stdout == ""


def test_import_reads_nothing_and_starts_nothing():
    # Importing with an unusable configuration must neither fail nor exit: no work at import.
    env = child_environment({"APP_ENV": "nowhere", "PORT": "x"})
    code = (
        "import threading, app.serving\n"
        "assert threading.active_count() == 1\n"
        "assert 'moto' not in __import__('sys').modules\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
