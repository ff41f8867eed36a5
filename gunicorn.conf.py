"""gunicorn settings for `make serve`: the app under a production WSGI server.

Everything comes from the app's own settings (APP_ENV and the environment). In production
the configuration is checked once, before any worker starts: what cannot work stops the
server with one line per problem; what works but is weak is logged as a warning. In
development with no DynamoDB configured, one moto server process is started for all the
workers to share (an in-process one would give each worker its own data).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# gunicorn reads this file before it imports the app: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app.config import ConfigError, config_from_env, startup_problems
from app.helpers.dynamo import default_region
from app.logs import configure_logging

try:
    settings = config_from_env()
except ConfigError as exc:
    sys.exit("\n".join(f"configuration error: {problem}" for problem in exc.problems))

configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
log = logging.getLogger("app.serve")

wsgi_app = "app:create_app()"
bind = [f"{settings['HOST']}:{settings['PORT']}"]
workers = settings["WEB_CONCURRENCY"] or 2 * (os.cpu_count() or 1) + 1
# bcrypt releases the GIL, so threads let one worker check several passwords at once.
threads = settings["WEB_THREADS"]
worker_class = "gthread"
keepalive = 5
timeout = 30
# On SIGTERM, workers finish the requests they have for up to this long.
graceful_timeout = 20
# The app writes its own access line (path only: a query string may carry a password).
accesslog = None
errorlog = "-"

problems, warnings = startup_problems(settings, workers=workers, default_region=default_region())
if problems:
    sys.exit("\n".join(f"configuration error: {problem}" for problem in problems))
for warning in warnings:
    log.warning("configuration: %s", warning)

_embedded: subprocess.Popen[bytes] | None = None


def on_starting(server: Any) -> None:
    """Before the workers fork: start a shared DynamoDB for development if none is set."""
    global _embedded
    if settings["AWS_ENDPOINT_URL_DYNAMODB"] or settings["APP_ENV"] == "production":
        return
    _embedded, url = _start_moto_server()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    log.warning(
        "DynamoDB: a moto server on %s shared by the %d workers; its data is lost on exit. "
        "Set AWS_ENDPOINT_URL_DYNAMODB, or APP_ENV=production with AWS settings, "
        "for a real one.",
        url,
        workers,
    )


def on_exit(server: Any) -> None:
    """Stop the development DynamoDB with the server."""
    if _embedded is not None:
        _embedded.terminate()
        _embedded.wait(timeout=10)


def _start_moto_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1"]
    process = subprocess.Popen(  # noqa: S603 - our own venv's moto_server, loopback only
        [*command, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("could not start the development DynamoDB (moto_server)")
