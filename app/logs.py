"""Log levels, and the access line written for every request."""

from __future__ import annotations

import logging
import time

from apiflask import APIFlask
from flask import Response, g, request

access_log = logging.getLogger("app.access")

# At DEBUG these libraries log whole request bodies, password hashes included.
_CHATTY = ("botocore", "boto3", "urllib3", "s3transfer")


def init_app(app: APIFlask) -> None:
    """Set the app's log level and write one access line per request (path, never query)."""
    logging.getLogger("app").setLevel(app.config["LOG_LEVEL"])
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)

    @app.before_request
    def start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        # request.path, not the request line: a query string may carry a password.
        access_log.info(
            "%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms
        )
        return response
