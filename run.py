"""Development server (`make run`): the API, with an embedded DynamoDB when none is set."""

from __future__ import annotations

import logging
import os
import sys

from app import create_app
from app.config import ConfigError, config_from_env, startup_problems
from app.helpers.dynamo import default_region
from app.logs import configure_logging

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


def start_embedded_dynamodb() -> str:
    """Start moto's server in this process on a free loopback port and return its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto accepts any credentials; set dummy ones only if none are configured.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "embedded")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "embedded")
    return f"http://{host}:{port}"


def main() -> None:
    """Configure logging, pick the DynamoDB endpoint, build the app and serve it."""
    try:
        settings = config_from_env()
    except ConfigError as exc:
        sys.exit("\n".join(f"configuration error: {problem}" for problem in exc.problems))
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    problems, warnings = startup_problems(settings, workers=1, default_region=default_region())
    if problems:
        sys.exit("\n".join(f"configuration error: {problem}" for problem in problems))
    for warning in warnings:
        logging.getLogger("app.serve").warning("configuration: %s", warning)
    # Werkzeug logs every request line, query string included (?password=...): our own
    # access log (app.access) writes the path only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    note = ""
    if settings["AWS_ENDPOINT_URL_DYNAMODB"]:
        dynamo = settings["AWS_ENDPOINT_URL_DYNAMODB"]
    elif settings["APP_ENV"] == "production":
        dynamo = f"AWS, region {settings['AWS_REGION'] or 'from the AWS configuration'}"
    else:
        dynamo = settings["AWS_ENDPOINT_URL_DYNAMODB"] = start_embedded_dynamodb()
        note = EMBEDDED_NOTE.format(url=dynamo)

    app = create_app(settings)
    host, port = settings["HOST"], settings["PORT"]
    print(BANNER.format(env=settings["APP_ENV"], host=host, port=port, dynamo=dynamo) + note)
    sys.stdout.flush()
    app.run(host=host, port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
