"""Mail delivery: the queue and its workers, and each backend against a real server or moto."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from app.helpers.mail import (
    ConsoleBackend,
    Mailer,
    MemoryBackend,
    Message,
    SesBackend,
    SmtpBackend,
    TransientMailError,
)
from app.helpers.state import state_of
from app.serving import free_port

SENDER = "Accounts <no-reply@example.com>"
LINK = "http://127.0.0.1:5000/#/reset?token=abc"
MESSAGE = Message(
    to="alice@example.com",
    subject="Reset your password",
    text=f"Open {LINK} to choose a new password.",
    html=f'<p><a href="{LINK}">Choose a new password</a></p>',
)
SMTP_USER, SMTP_PASSWORD = "relay-user", "relay secret 42"


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        SMTP_USER.encode(),
        SMTP_PASSWORD.encode(),
    )
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server on loopback that requires a login (over plain text: tests only)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_check_login,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield port, inbox
    controller.stop()


def mailer_of(backend: Any, **options: Any) -> tuple[Mailer, list[float]]:
    """A mailer whose pauses between attempts are recorded, not slept."""
    pauses: list[float] = []
    return Mailer(backend, sender=SENDER, pause=pauses.append, **options), pauses


def test_a_message_is_sent_off_the_request_path_with_text_and_html():
    backend = MemoryBackend()
    mailer, _ = mailer_of(backend)

    assert mailer.send(MESSAGE) is True
    assert mailer.flush()

    [sent] = backend.outbox
    assert (sent["From"], sent["To"], sent["Subject"]) == (SENDER, MESSAGE.to, MESSAGE.subject)
    assert LINK in sent.get_body(("plain",)).get_content()
    assert f'href="{LINK}"' in sent.get_body(("html",)).get_content()


def test_the_console_backend_writes_the_whole_message_to_the_log(caplog):
    mailer, _ = mailer_of(ConsoleBackend())
    caplog.set_level(logging.INFO, logger="app.helpers.mail")

    mailer.send(MESSAGE)
    mailer.flush()

    [shown] = [r.getMessage() for r in caplog.records if "console backend" in r.getMessage()]
    assert f"To: {MESSAGE.to}" in shown
    assert f"Subject: {MESSAGE.subject}" in shown
    assert LINK in shown  # whole, as a developer copies it


def test_smtp_sends_to_a_real_server_with_a_login(smtp_server, caplog):
    port, inbox = smtp_server
    backend = SmtpBackend(
        host="127.0.0.1", port=port, username=SMTP_USER, password=SMTP_PASSWORD, security="none"
    )
    mailer, pauses = mailer_of(backend)
    caplog.set_level(logging.INFO, logger="app.helpers.mail")

    mailer.send(MESSAGE)
    assert mailer.flush()

    [(mail_from, recipients, content)] = inbox.received
    assert (mail_from, recipients) == ("no-reply@example.com", [MESSAGE.to])
    assert LINK.encode() in content
    assert pauses == []
    assert any("sent to alice@example.com" in r.getMessage() for r in caplog.records)


def test_smtp_with_a_wrong_password_delivers_nothing_and_never_logs_it(smtp_server, caplog):
    port, inbox = smtp_server
    backend = SmtpBackend(
        host="127.0.0.1",
        port=port,
        username=SMTP_USER,
        password="wrong",
        security="none",
        timeout=1,  # aiosmtpd leaves smtplib's second mechanism unanswered after a refusal
    )
    mailer, _ = mailer_of(backend, attempts=2)

    assert mailer.send(MESSAGE) is True
    assert mailer.flush(timeout=30)

    assert inbox.received == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "mail 'Reset your password' to alice@example.com not sent" in logged
    assert "wrong" not in logged
    assert SMTP_PASSWORD not in logged


def test_a_mail_server_that_is_down_is_tried_again_then_given_up(caplog):
    backend = SmtpBackend(host="127.0.0.1", port=free_port(), security="none", timeout=1)
    mailer, pauses = mailer_of(backend, attempts=3)

    assert mailer.send(MESSAGE) is True  # the caller is never held or failed
    mailer.flush()

    assert pauses == [1.0, 2.0]
    assert any("not sent after 3 attempts" in r.getMessage() for r in caplog.records)


class Flaky:
    """Fails with a transient error `failures` times, then delivers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientMailError("Throttling")
        self.delivered.append(message)


def test_a_transient_failure_is_tried_again_after_doubling_pauses():
    backend = Flaky(failures=2)
    mailer, pauses = mailer_of(backend, attempts=3)

    mailer.send(MESSAGE)
    mailer.flush()

    assert len(backend.delivered) == 1
    assert pauses == [1.0, 2.0]


class Stuck:
    """Holds every delivery until released: the workers are busy."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def send(self, message: EmailMessage) -> None:
        self.release.wait(10)


def test_a_full_queue_drops_the_message_with_a_warning_and_never_blocks(caplog):
    backend = Stuck()
    mailer, _ = mailer_of(backend, queue_size=1, workers=1)
    try:
        results = [mailer.send(MESSAGE) for _ in range(4)]
    finally:
        backend.release.set()
    mailer.flush()

    # One in the worker's hands, one waiting; the others find the queue full.
    assert results.count(False) >= 2
    assert any("dropped: the queue is full" in r.getMessage() for r in caplog.records)


def test_ses_sends_through_moto_with_the_recipient_and_the_link():
    with mock_aws():
        ses = boto3.client("ses", region_name="eu-west-1")
        ses.verify_email_identity(EmailAddress="no-reply@example.com")
        mailer, _ = mailer_of(SesBackend(region="eu-west-1"))

        mailer.send(MESSAGE)
        assert mailer.flush()

        [sent] = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
        assert sent.destinations == [MESSAGE.to] or MESSAGE.to in str(sent.destinations)
        assert LINK in sent.raw_data


def test_ses_refusing_an_unverified_sender_is_logged_not_retried(caplog):
    with mock_aws():
        mailer, pauses = mailer_of(SesBackend(region="eu-west-1"))

        mailer.send(MESSAGE)
        mailer.flush()

    assert pauses == []
    assert any("not sent: MessageRejected" in r.getMessage() for r in caplog.records)


def test_the_app_has_a_mailer_from_its_settings(app):
    mailer = state_of(app).mailer

    assert isinstance(mailer.backend, MemoryBackend)  # the testing settings
    assert mailer.sender == app.config["MAIL_FROM"]
