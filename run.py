"""Development server (`make run`): the API, with an embedded DynamoDB when none is set."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from typing import Any, NoReturn

from app import create_app, dynamodb_local
from app.config import demo_users_warning
from app.serving import (
    load_settings,
    share_development_key,
    start_embedded_dynamodb,
    stop_process,
)

BANNER = """\
Users API ({env}) at http://{host}:{port}/api/users  -  docs at http://{host}:{port}/api/docs
DynamoDB: {dynamo}
"""
EMBEDDED_NOTE = """\
  This is moto's DynamoDB-compatible server, embedded in this process on {url}:
  the data lives in memory and is lost on exit. To use a real DynamoDB instead, set
    AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000   a local DynamoDB-compatible server, or
    APP_ENV=production AWS_REGION=...                AWS itself, with AWS credentials
"""
LOCAL_NOTE = """\
  This is Amazon's DynamoDB Local (Java), started by this process on {url}; it stops with it.
  The data stays in {path} across restarts. To start afresh, stop the server and
    rm -rf {path}
"""


def main() -> None:
    """Configure logging, pick the DynamoDB endpoint, build the app and serve it."""
    settings = load_settings(workers=1)
    # Werkzeug logs every request line, query string included (?password=...): our own
    # access log (app.access) writes the path only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # A SIGTERM ends the server as Ctrl-C does, so that what it started stops with it.
    signal.signal(signal.SIGTERM, _exit)

    with contextlib.ExitStack() as started:
        note = ""
        if settings["AWS_ENDPOINT_URL_DYNAMODB"]:
            dynamo = settings["AWS_ENDPOINT_URL_DYNAMODB"]
        elif settings["APP_ENV"] == "production":
            dynamo = f"AWS, region {settings['AWS_REGION'] or 'from the AWS configuration'}"
        elif settings["DYNAMODB_ENGINE"] == "local":
            process, dynamo, path = dynamodb_local.start_configured(settings)
            started.callback(stop_process, process, group=True)
            note = LOCAL_NOTE.format(url=dynamo, path=path)
        else:
            _server, dynamo = start_embedded_dynamodb()
            note = EMBEDDED_NOTE.format(url=dynamo)
        share_development_key(settings)  # before the embedded DynamoDB's address is set
        if note:
            settings["AWS_ENDPOINT_URL_DYNAMODB"] = dynamo
            # Our own DynamoDB: the demo accounts harm nothing there.
            if "SEED_DEMO_USERS" not in os.environ:
                settings["SEED_DEMO_USERS"] = True
        warning = demo_users_warning(settings)
        if warning:
            logging.getLogger("app.serve").warning("configuration: %s", warning)

        app = create_app(settings)
        host, port = settings["HOST"], settings["PORT"]
        print(BANNER.format(env=settings["APP_ENV"], host=host, port=port, dynamo=dynamo) + note)
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            app.run(host=host, port=port, threaded=True, use_reloader=False)


def _exit(signum: int, frame: Any) -> NoReturn:
    sys.exit(0)


if __name__ == "__main__":
    main()
