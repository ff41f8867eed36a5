"""Logging: a request id on every line, one access line per request, text or JSON."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from typing import Any

from apiflask import APIFlask
from flask import Response, g, has_request_context, request

from app.helpers.clock import iso
from app.helpers.dynamo import DynamoInterface
from app.helpers.mail import job_request_id
from app.models import printable

access_log = logging.getLogger("app.access")

# At DEBUG these libraries log whole request bodies, password hashes included.
_CHATTY = ("botocore", "boto3", "urllib3", "s3transfer")
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# The access line's own fields, which the JSON format writes as keys of their own.
ACCESS_FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user",
    "client",
    "dynamodb_calls",
    "dynamodb_ms",
)


class RequestContext(logging.Filter):
    """Stamp every record with the id of its request ("-" outside one).

    In a mail worker, that is the request which queued the job being run.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        if has_request_context():
            record.request_id = g.get("request_id", "-")
        else:
            record.request_id = job_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: D102
        entry: dict[str, Any] = {
            "time": iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in ACCESS_FIELDS if hasattr(record, k)})
        if hasattr(record, "event"):  # a security event (app/helpers/events.py)
            entry["event"] = record.event
            entry.update(record.event_fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, log_format: str) -> None:
    """Send every log record to standard error, as text or JSON, with its request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestContext())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def init_app(app: APIFlask, store: DynamoInterface) -> None:
    """Request ids, DynamoDB call accounting and the access line, for every request."""
    logging.getLogger("app").setLevel(app.config["LOG_LEVEL"])
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
    store.add_hook("before-call.dynamodb", _call_started)
    store.add_hook("after-call.dynamodb", _call_ended)
    store.add_hook("after-call-error.dynamodb", _call_ended)

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.dynamodb_calls, g.dynamodb_seconds = 0, 0.0

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        duration_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        fields = {
            # The path only, never the query string: it may carry a password.
            "method": request.method,
            "path": printable(request.path),
            "status": response.status_code,
            "duration_ms": round(duration_ms, 1),
            "user": g.get("username"),
            "client": request.remote_addr,
            "dynamodb_calls": g.get("dynamodb_calls", 0),
            "dynamodb_ms": round(g.get("dynamodb_seconds", 0.0) * 1000, 1),
        }
        access_log.info(
            "%(method)s %(path)s %(status)s %(duration_ms).1fms user=%(user)s "
            "client=%(client)s dynamodb=%(dynamodb_calls)s/%(dynamodb_ms).1fms",
            {**fields, "user": fields["user"] or "-", "client": fields["client"] or "-"},
            extra=fields,
        )
        return response


# A request's calls may run side by side (`DynamoInterface.map_calls`): each call keeps its
# start in botocore's own context for that call, and the request's totals change under a lock.
_TOTALS = threading.Lock()


def _call_started(context: dict[str, Any] | None = None, **_: Any) -> None:
    if context is not None:
        context["app_started"] = time.perf_counter()


def _call_ended(context: dict[str, Any] | None = None, **_: Any) -> None:
    if has_request_context() and context is not None and "app_started" in context:
        seconds = time.perf_counter() - context.pop("app_started")
        with _TOTALS:
            g.dynamodb_calls = g.get("dynamodb_calls", 0) + 1
            g.dynamodb_seconds = g.get("dynamodb_seconds", 0.0) + seconds
