"""Fault injection through botocore's own event hooks: the retry machinery runs for real."""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.awsrequest import AWSResponse

URL = "https://dynamodb.us-east-1.amazonaws.com/"


class _Raw:
    """The least of a urllib3 response that `AWSResponse.content` reads."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any):
        yield self.body


def error_response(code: str, status: int = 400, **extra: Any) -> AWSResponse:
    """An HTTP response carrying a DynamoDB error, as the service sends it."""
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected fault"}
    body.update(extra)
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(URL, status, headers, _Raw(json.dumps(body).encode()))


def in_mail_worker() -> bool:
    """Whether this thread is a mail worker's, whose calls (a registration's verification
    mail) run beside the requests at a moment of their own: faults and counts leave them out.
    """
    return threading.current_thread().name.startswith("mail-")


def inject_sends(store: Any, operation: str, codes: list[str], status: int = 400) -> list:
    """Answer the next sends of `operation` ("*" for any) with these errors, then let through.

    Returns the list of sends, which grows by one per HTTP attempt (retries included).
    """
    pending = list(codes)
    sends: list = []

    def handler(request: Any, **kwargs: Any) -> AWSResponse | None:
        if in_mail_worker():
            return None
        sends.append(request)
        return error_response(pending.pop(0), status) if pending else None

    event = "before-send.dynamodb" if operation == "*" else f"before-send.dynamodb.{operation}"
    store.add_hook(event, handler)
    return sends


def record_calls(store: Any) -> list[str]:
    """The names of the API calls `store` makes from now on (one per call, not per retry).

    A mail worker's calls are not counted (`in_mail_worker`).
    """
    calls: list[str] = []

    def record(model: Any, **kwargs: Any) -> None:
        if not in_mail_worker():
            calls.append(model.name)

    store.add_hook("before-call.dynamodb", record)
    return calls


def answer(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    """What a `before-call` hook returns to answer a call in DynamoDB's place.

    Under moto's mock a `before-send` fault still lets moto apply the request (botocore
    calls every handler); a `before-call` answer means nothing is sent at all.
    """
    metadata = {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse(URL, status, {}, _Raw(b"")), {**parsed, "ResponseMetadata": metadata}
