"""Running the service: ports, the embedded DynamoDB, child processes, settings, workers.

Shared by run.py (`make run`), gunicorn.conf.py (`make serve`), the benchmark and the tests
that start the service. Nothing here runs at import: the environment is read, and anything
started, only when a function is called.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from app.config import ConfigError, config_from_env, keys_of, startup_problems
from app.helpers.dynamo import default_region
from app.helpers.keyring import new_key
from app.helpers.messages import template_problems
from app.logs import configure_logging

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

LOOPBACK = "127.0.0.1"
# Variables that would send a server we start to another DynamoDB, account or environment.
FOREIGN_SETTINGS = ("AWS_", "APP_")

log = logging.getLogger("app.serve")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, process: subprocess.Popen[Any] | None = None, seconds: float = 30
) -> None:
    """Return once loopback `port` accepts; RuntimeError if `process` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{_program(process)} exited with status {process.returncode} "
                f"before listening on {LOOPBACK}:{port}"
            )
        with contextlib.suppress(OSError):
            socket.create_connection((LOOPBACK, port), timeout=0.5).close()
            return
        if time.monotonic() >= deadline:
            raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {seconds:g} s")
        # A starting process says nothing when it is ready: polling is all there is.
        time.sleep(0.1)


def use_dummy_credentials() -> None:
    """Give boto3 credentials for moto, which accepts any, unless some are configured."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")


def start_embedded_dynamodb() -> tuple[ThreadedMotoServer, str]:
    """Start moto's DynamoDB in a thread of this process on a free loopback port: it, its URL."""
    # Imported here: moto is slow to import and only development without an endpoint needs it.
    from moto.server import ThreadedMotoServer

    # moto's own default address is 0.0.0.0: always loopback.
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    use_dummy_credentials()
    return server, f"http://{host}:{port}"


def start_moto_server(
    *,
    output: IO[bytes] | int = subprocess.DEVNULL,
    own_session: bool = False,
    seconds: float = 30,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `moto_server` as a process on a free loopback port; once it listens, it and its URL."""
    # `own_session`: a process group of its own, out of reach of the terminal's Ctrl-C.
    port = free_port()
    moto_server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(  # noqa: S603 - our own environment's moto_server, loopback only
        [str(moto_server), "-H", LOOPBACK, "-p", str(port)],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
    )
    try:
        wait_for_port(port, process=process, seconds=seconds)
    except RuntimeError:
        stop_process(process, group=own_session)
        raise
    use_dummy_credentials()
    return process, f"http://{LOOPBACK}:{port}"


def stop_process(
    process: subprocess.Popen[Any] | None, *, timeout: float = 10, group: bool = False
) -> None:
    """Stop a process we started (its process group with `group`): SIGTERM, then SIGKILL."""
    # A group (a process started in a session of its own) gets both signals, so that nothing
    # it started outlives it: gunicorn's workers, for one.
    if process is None:
        return

    def send(signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)

    if process.poll() is None:
        send(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    if group or process.poll() is None:
        # The group's leader may be gone while a member it started is not.
        send(signal.SIGKILL)
    process.wait(timeout=timeout)


def child_environment(
    values: Mapping[str, str], *, drop: tuple[str, ...] = FOREIGN_SETTINGS
) -> dict[str, str]:
    """The environment for a server we start: ours without the `drop` prefixes, then `values`."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(drop)}
    environment.update(values)
    return environment


@dataclass(frozen=True)
class Answer:
    """An HTTP response: status, headers and body (decoded JSON when it is JSON, else bytes)."""

    status: int
    headers: http.client.HTTPMessage
    body: Any


def http_call(
    port: int,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """One request to loopback `port` on a new connection; `body` goes as JSON unless bytes."""
    sent = dict(headers or {})
    data = body
    if body is not None and not isinstance(body, bytes):
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        decoded = raw
    return Answer(response.status, response.headers, decoded)


def worker_count(configured: int) -> int:
    """The gunicorn workers for WEB_CONCURRENCY=`configured`: 0 means 2 x cores + 1."""
    return configured or 2 * (os.cpu_count() or 1) + 1


def load_settings(*, workers: int | None = None) -> dict[str, Any]:
    """The settings, logging configured; exit 1 with a line per problem, warn of weak ones."""
    # `workers`: the processes that will serve (None: gunicorn's, from WEB_CONCURRENCY); the
    # rate limiter's warning depends on it.
    try:
        settings = config_from_env()
    except ConfigError as exc:
        _exit_naming(exc.problems)
    # What create_app would refuse too, said before any worker starts.
    templates = template_problems(settings["TEMPLATE_FOLDER"])
    if templates:
        _exit_naming(list(templates))
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    serving = worker_count(settings["WEB_CONCURRENCY"]) if workers is None else workers
    problems, warnings = startup_problems(
        settings, workers=serving, default_region=default_region()
    )
    if problems:
        _exit_naming(problems)
    for warning in warnings:
        log.warning("configuration: %s", warning)
    return settings


def share_development_key(settings: dict[str, Any]) -> None:
    """Outside production, second factors on and no SECRET_KEYS: one key for the server.

    Each app would otherwise make its own (Keyring.for_app), and a gunicorn worker could not
    read the TOTP secret another worker had encrypted: called before the workers fork, it
    puts the key in the environment, which their create_app() reads. The key dies with the
    server: where the data outlives it (DynamoDB Local's folder, a DynamoDB of one's own),
    say so.
    """
    if (
        settings["APP_ENV"] == "production"
        or not settings["SECOND_FACTORS"]
        or keys_of(settings["SECRET_KEYS"])
    ):
        return
    settings["SECRET_KEYS"] = os.environ["SECRET_KEYS"] = new_key()
    if settings["AWS_ENDPOINT_URL_DYNAMODB"] or settings["DYNAMODB_ENGINE"] == "local":
        log.warning(
            "configuration: SECRET_KEYS is empty, so the second factors set up now are "
            "encrypted with a key made for this run and unreadable after a restart (their "
            "recovery codes still sign in); set SECRET_KEYS to a key of your own "
            "(flask users new-key)"
        )


def _exit_naming(problems: list[str]) -> NoReturn:
    sys.exit("\n".join(f"configuration error: {problem}" for problem in problems))


def _program(process: subprocess.Popen[Any]) -> str:
    args = process.args
    first = args[0] if isinstance(args, list | tuple) and args else args
    return Path(str(first)).name
