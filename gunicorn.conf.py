"""gunicorn settings for `make serve`: the app under a production WSGI server.

Everything comes from the app's own settings (APP_ENV and the environment). In production
the configuration is checked once, before any worker starts: what cannot work stops the
server with one line per problem; what works but is weak is logged as a warning. In
development with no DynamoDB configured, one DynamoDB process is started for all the
workers to share (an in-process one would give each worker its own data): a moto server,
or with DYNAMODB_ENGINE=local Amazon's DynamoDB Local, whose data survives a restart.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

# gunicorn reads this file before it imports the app: make the project importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from app import dynamodb_local
from app.config import config_from_env, demo_users_warning
from app.helpers.state import state_of
from app.serving import (
    load_settings,
    share_development_key,
    start_moto_server,
    stop_process,
    worker_count,
)

settings = load_settings()
log = logging.getLogger("app.serve")

wsgi_app = "app:create_app()"
bind = [f"{settings['HOST']}:{settings['PORT']}"]
workers = worker_count(settings["WEB_CONCURRENCY"])
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

_embedded: subprocess.Popen[bytes] | None = None


def on_starting(server: Any) -> None:
    """Before the workers fork: start a shared DynamoDB for development if none is set."""
    global _embedded
    if settings["AWS_ENDPOINT_URL_DYNAMODB"] or settings["APP_ENV"] == "production":
        return
    if settings["DYNAMODB_ENGINE"] == "local":
        _embedded, url, path = dynamodb_local.start_configured(settings)
        log.warning(
            "DynamoDB: Amazon's DynamoDB Local on %s shared by the %d workers; its data stays "
            "in %s across restarts (stop the server and delete that folder to start afresh).",
            url,
            workers,
            path,
        )
    else:
        try:
            _embedded, url = start_moto_server(seconds=15, own_session=True)
        except RuntimeError:
            sys.exit("could not start the development DynamoDB (moto_server)")
        log.warning(
            "DynamoDB: a moto server on %s shared by the %d workers; its data is lost on "
            "exit. Set DYNAMODB_ENGINE=local to keep it, AWS_ENDPOINT_URL_DYNAMODB for "
            "another DynamoDB, or APP_ENV=production with AWS settings for AWS.",
            url,
            workers,
        )
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    # Our own DynamoDB: the demo accounts harm nothing there.
    os.environ.setdefault("SEED_DEMO_USERS", "true")


def when_ready(server: Any) -> None:
    """Before the workers fork: warn of demo accounts others can reach; share one key.

    The demo accounts matter on an address other machines can reach; the key, when
    SECRET_KEYS has none (app.serving.share_development_key).
    """
    warning = demo_users_warning(config_from_env())
    if warning:
        log.warning("configuration: %s", warning)
    # The settings as loaded, before on_starting set the embedded DynamoDB's address.
    share_development_key(settings)


# How long a stopping worker waits for the mail it queued (within graceful_timeout).
MAIL_FLUSH_SECONDS = 10.0


def worker_exit(server: Any, worker: Any) -> None:
    """Let a stopping worker's queued mail leave: its mail threads end with it."""
    app = getattr(worker, "wsgi", None)
    if app is not None and not state_of(app).mailer.flush(timeout=MAIL_FLUSH_SECONDS):
        log.warning("mail still queued after %.0f s was lost with the worker", MAIL_FLUSH_SECONDS)


def on_exit(server: Any) -> None:
    """Stop the development DynamoDB with the server."""
    # Both kinds run in a session of their own: the group holds all of it.
    stop_process(_embedded, group=True)
