"""Security events: one structured record per event, on the `app.security` logger.

Each record's message reads as text ("login_failed username='x' reason=wrong_password
address=203.0.113.7"), and the JSON log format writes the same fields as keys of their own.
Never a password, a token or a hash: only names, reasons, addresses and who did what.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from app.models import printable

security_log = logging.getLogger("app.security")
# Usernames as typed at a login are attacker-controlled: short and printable in the log.
_TYPED_LENGTH = 64


def emit(event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one security event with its fields, and the client's address in a request."""
    if has_request_context() and "address" not in fields:
        fields["address"] = request.remote_addr
    text = " ".join(
        f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
        for name, value in fields.items()
    )
    security_log.log(level, "%s %s", event, text, extra={"event": event, "event_fields": fields})


def warn(event: str, **fields: Any) -> None:
    """A security event that may be an attack: a failure, a lock, a refusal."""
    emit(event, level=logging.WARNING, **fields)


def typed(username: str) -> str:
    """A username as someone typed it, safe to log."""
    return printable(username)[:_TYPED_LENGTH]
