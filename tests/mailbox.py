"""A real SMTP server on loopback for tests (aiosmtpd), and reading what it received.

with Mailbox() as mailbox:           # or Mailbox(login=(user, password), delay=2.0)
    ...                               # the app sends to 127.0.0.1:mailbox.port
    mail = mailbox.wait_for("alice@example.com")
    link = link_in(mail)              # the first http(s) link of the plain-text part
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.serving import free_port

_LINK = re.compile(r"https?://\S+")
_TRANSCRIPT = logging.getLogger("mail.log")


class Mailbox:
    """An SMTP server that keeps every message it accepts; optionally slow, or with a login."""

    def __init__(
        self,
        *,
        login: tuple[str, str] | None = None,
        delay: float = 0.0,
        starttls: ssl.SSLContext | None = None,
        tls: ssl.SSLContext | None = None,
        refused: tuple[str, ...] = (),
        replies: dict[str, list[int]] | None = None,
    ) -> None:
        self.port = free_port()
        self.delay = delay
        self.refused = refused  # recipients answered 550, as for an address that does not exist
        # Codes to answer the next RCPTs or DATAs with, one each, before accepting them.
        self.replies = {"RCPT": [], "DATA": [], **(replies or {})}
        self.received: list[tuple[str, list[str], EmailMessage]] = []
        self._arrived = threading.Condition()
        options: dict[str, Any] = {}
        if login is not None:
            expected = (login[0].encode(), login[1].encode())

            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
                ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
                return AuthResult(success=ok)

            # Plain text on loopback, for tests only: a real relay would require TLS first.
            options = {"authenticator": check, "auth_required": True, "auth_require_tls": False}
        if starttls is not None:  # STARTTLS offered and required before anything else
            options.update(tls_context=starttls, require_starttls=True)
        if tls is not None:  # TLS from the first byte (port 465's way)
            options.update(ssl_context=tls)
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> Mailbox:
        # aiosmtpd logs each session's transcript (logins, messages and their links) at DEBUG:
        # the test server's own, not the app's log, which the leak check reads.
        self._transcript_level = _TRANSCRIPT.level
        _TRANSCRIPT.setLevel(logging.INFO)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
        _TRANSCRIPT.setLevel(self._transcript_level)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """aiosmtpd's hook: accept a recipient, unless it is one to refuse."""
        if address in self.refused:
            return "550 5.1.1 No such user here"
        if self.replies["RCPT"]:
            return f"{self.replies['RCPT'].pop(0)} not now"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the message (after the configured delay), then accept it."""
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.replies["DATA"]:
            return f"{self.replies['DATA'].pop(0)} not now"
        mail = message_from_bytes(envelope.content, policy=policy.default)
        with self._arrived:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
            self._arrived.notify_all()
        return "250 OK"

    def messages_to(self, address: str) -> list[EmailMessage]:
        """Every message received for `address`, oldest first."""
        with self._arrived:
            return [mail for _, to, mail in self.received if address in to]

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The `count`-th message for `address`, waiting for it up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [mail for _, to, mail in self.received if address in to]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no message #{count} for {address} in {timeout} s")
                self._arrived.wait(left)


def text_of(mail: EmailMessage) -> str:
    """The plain-text part of a message."""
    part = mail.get_body(("plain",))
    assert part is not None, "the message has no plain-text part"
    return str(part.get_content())


def html_of(mail: EmailMessage) -> str:
    """The HTML part of a message."""
    part = mail.get_body(("html",))
    assert part is not None, "the message has no HTML part"
    return str(part.get_content())


def link_in(mail: EmailMessage) -> str:
    """The first link of the plain-text part."""
    found = _LINK.search(text_of(mail))
    assert found is not None, "the message has no link"
    return found[0]
