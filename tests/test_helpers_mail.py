"""Mail delivery: the queue and its workers, and each backend against a real server or moto."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask.testing import FlaskClient
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
from tests.faults import answer
from tests.mailbox import Mailbox, link_in

SENDER = "Accounts <no-reply@example.com>"
LINK = "http://127.0.0.1:5000/#/reset?token=abc"
MESSAGE = Message(
    to="alice@example.com",
    subject="Reset your password",
    text=f"Open {LINK} to choose a new password.",
    html=f'<p><a href="{LINK}">Choose a new password</a></p>',
)
SMTP_USER, SMTP_PASSWORD = "relay-user", "relay secret 42"


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server on loopback that requires a login (over plain text: tests only)."""
    with Mailbox(login=(SMTP_USER, SMTP_PASSWORD)) as mailbox:
        yield mailbox


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
    # What mail servers and spam filters expect of every message: its date (in UTC, the
    # same wherever the server runs) and a unique id.
    assert parsedate_to_datetime(sent["Date"]).year >= 2026
    assert sent["Date"].endswith(("-0000", "+0000"))
    assert sent["Message-ID"].startswith("<")
    assert sent["Message-ID"].endswith(">")
    assert mailer.send(MESSAGE)
    assert mailer.flush()
    assert backend.outbox[1]["Message-ID"] != sent["Message-ID"]
    # Its threads never keep a process (a flask command) from exiting.
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("mail-"))


def test_the_mailer_and_its_backend_follow_the_settings(settings):
    settings.update(
        MAIL_BACKEND="smtp",
        SMTP_HOST="smtp.example.com",
        SMTP_PORT=465,
        SMTP_SECURITY="tls",
        SMTP_TIMEOUT=3.5,
        MAIL_QUEUE_SIZE=7,
        MAIL_WORKERS=3,
        MAIL_ATTEMPTS=5,
    )

    mailer = Mailer.from_config(settings)

    backend = mailer.backend
    assert isinstance(backend, SmtpBackend)
    assert (backend.host, backend.port, backend.security, backend.timeout) == (
        "smtp.example.com",
        465,
        "tls",
        3.5,
    )
    assert (mailer._queue.maxsize, mailer._workers, mailer.attempts) == (7, 3, 5)
    ses = Mailer.from_config({**settings, "MAIL_BACKEND": "ses", "AWS_REGION": "eu-west-3"})
    assert isinstance(ses.backend, SesBackend)
    assert ses.backend._args["region_name"] == "eu-west-3"


def test_the_console_backend_writes_the_whole_message_to_the_log(caplog):
    mailer, _ = mailer_of(ConsoleBackend())
    caplog.set_level(logging.INFO, logger="app.helpers.mail")

    mailer.send(MESSAGE)
    mailer.flush()

    [shown] = [r.getMessage() for r in caplog.records if "console backend" in r.getMessage()]
    headers = f"From: {SENDER}\nTo: {MESSAGE.to}\nSubject: {MESSAGE.subject}\n\n"
    assert shown.startswith(f"mail (console backend, not sent):\n{headers}{MESSAGE.text}")
    assert LINK in shown  # whole, as a developer copies it
    # The HTML part by its size (as MIME carries it: with a final line break).
    assert shown.endswith(f"\n[an HTML part of {len(MESSAGE.html) + 1} characters]")


def test_smtp_sends_to_a_real_server_with_a_login(smtp_server, caplog):
    backend = SmtpBackend(
        host="127.0.0.1",
        port=smtp_server.port,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        security="none",
    )
    mailer, pauses = mailer_of(backend)
    caplog.set_level(logging.INFO, logger="app.helpers.mail")

    mailer.send(MESSAGE)
    assert mailer.flush()

    [(mail_from, recipients, mail)] = smtp_server.received
    assert (mail_from, recipients) == ("no-reply@example.com", [MESSAGE.to])
    assert link_in(mail) == LINK
    assert pauses == []
    assert any("sent to alice@example.com" in r.getMessage() for r in caplog.records)


def test_smtp_with_a_wrong_password_delivers_nothing_and_never_logs_it(smtp_server, caplog):
    backend = SmtpBackend(
        host="127.0.0.1",
        port=smtp_server.port,
        username=SMTP_USER,
        password="wrong",
        security="none",
        timeout=1,  # aiosmtpd leaves smtplib's second mechanism unanswered after a refusal
    )
    mailer, _ = mailer_of(backend, attempts=2)

    assert mailer.send(MESSAGE) is True
    assert mailer.flush(timeout=30)

    assert smtp_server.received == []
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "mail 'Reset your password' to alice@example.com not sent" in logged
    assert "wrong" not in logged
    assert SMTP_PASSWORD not in logged


def test_a_refused_recipient_is_not_tried_again(caplog):
    with Mailbox(refused=(MESSAGE.to,)) as mailbox:
        backend = SmtpBackend(host="127.0.0.1", port=mailbox.port, security="none")
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

    assert pauses == []
    assert any("not sent: SMTPRecipientsRefused" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
@pytest.mark.parametrize(
    ("code", "tried_again"), [(400, True), (451, True), (499, True), (500, False), (554, False)]
)
def test_a_4xx_reply_is_tried_again_and_a_5xx_is_not(caplog, stage, code, tried_again):
    with Mailbox(replies={stage: [code]}) as mailbox:
        backend = SmtpBackend(host="127.0.0.1", port=mailbox.port, security="none")
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

        # "Try again later" (4xx) is: the second attempt is delivered; 5xx is final.
        assert len(mailbox.received) == (1 if tried_again else 0)
    assert pauses == ([1.0] if tried_again else [])


def test_a_server_without_starttls_is_not_tried_again_in_plain_text(caplog):
    with Mailbox() as mailbox:  # offers no STARTTLS
        backend = SmtpBackend(host="127.0.0.1", port=mailbox.port, security="starttls")
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

        assert mailbox.received == []
    assert pauses == []
    assert any("not sent: SMTPNotSupportedError" in r.getMessage() for r in caplog.records)


def test_a_mail_server_that_is_down_is_tried_again_then_given_up(caplog):
    backend = SmtpBackend(host="127.0.0.1", port=free_port(), security="none", timeout=1)
    mailer, pauses = mailer_of(backend, attempts=3)

    assert mailer.send(MESSAGE) is True  # the caller is never held or failed
    mailer.flush()

    assert pauses == [1.0, 2.0]
    assert any("not sent after 3 attempts" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_a_mail_server_that_never_answers_costs_smtp_timeout(caplog, security):
    with socket.socket() as silent:  # connections are accepted by the kernel, never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        backend = SmtpBackend(host="127.0.0.1", port=port, security=security, timeout=0.3)
        mailer, pauses = mailer_of(backend, attempts=2)

        mailer.send(MESSAGE)
        assert mailer.flush(timeout=5)  # not held for ever by a greeting that never comes

    assert pauses == [1.0]
    assert any("not sent after 2 attempts" in r.getMessage() for r in caplog.records)


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
        assert set(sent.destinations) == {MESSAGE.to}  # moto lists the To header and the envelope
        assert LINK in sent.raw_data


def test_ses_refusing_an_unverified_sender_is_logged_not_retried(caplog):
    with mock_aws():
        mailer, pauses = mailer_of(SesBackend(region="eu-west-1"))

        mailer.send(MESSAGE)
        mailer.flush()

    assert pauses == []
    assert any("not sent: MessageRejected" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("code", ["Throttling", "ThrottlingException", "ServiceUnavailable"])
def test_ses_throttling_or_down_for_a_moment_is_tried_again(caplog, code):
    with mock_aws():
        ses = boto3.client("ses", region_name="eu-west-1")
        ses.verify_email_identity(EmailAddress="no-reply@example.com")
        backend = SesBackend(region="eu-west-1")
        refusals = [code]

        def busy(**_):  # SES's answer once, in place of sending
            if refusals:
                error = {"Error": {"Code": refusals.pop(), "Message": "slow down"}}
                return answer(400, {**error, "ResponseMetadata": {"HTTPStatusCode": 400}})
            return None

        backend.client.meta.events.register("before-call.ses.SendRawEmail", busy)
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

        [sent] = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    assert LINK in sent.raw_data
    assert pauses == [1.0]
    assert any(f"attempt 1 failed ({code})" in r.getMessage() for r in caplog.records)


def test_the_app_has_a_mailer_from_its_settings(app):
    mailer = state_of(app).mailer

    assert isinstance(mailer.backend, MemoryBackend)  # the testing settings
    assert mailer.sender == app.config["MAIL_FROM"]


# -- TLS: STARTTLS and TLS from the first byte, against a certificate the test makes -----------


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1, which the client trusts.

    The client's default context reads SSL_CERT_FILE: the certificate is its only authority.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_smtp_secures_the_connection_before_logging_in(certificate, security):
    tls = {security: certificate}
    with Mailbox(login=(SMTP_USER, SMTP_PASSWORD), **tls) as mailbox:
        backend = SmtpBackend(
            host="127.0.0.1",
            port=mailbox.port,
            username=SMTP_USER,
            password=SMTP_PASSWORD,
            security=security,
        )
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

        assert link_in(mailbox.wait_for(MESSAGE.to)) == LINK
        assert pauses == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_smtp_refuses_a_certificate_it_cannot_trust_at_once(
    certificate, monkeypatch, caplog, security
):
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's authorities: none signed it
    with Mailbox(**{security: certificate}) as mailbox:
        backend = SmtpBackend(host="127.0.0.1", port=mailbox.port, security=security)
        mailer, pauses = mailer_of(backend)

        mailer.send(MESSAGE)
        assert mailer.flush()

        assert mailbox.received == []
    assert pauses == []  # not a failure that passes
    assert any("not sent: SSLCertVerificationError" in r.getMessage() for r in caplog.records)


# -- jobs: composing the message in the worker ---------------------------------------------------


def test_a_job_composes_its_message_in_a_worker_thread():
    backend = MemoryBackend()
    mailer, _ = mailer_of(backend)
    ran_in: list[str] = []

    def job() -> Message:
        ran_in.append(threading.current_thread().name)
        return MESSAGE

    assert mailer.submit(job, what="a test mail") is True
    assert mailer.flush()

    assert ran_in[0].startswith("mail-")
    assert [m["To"] for m in backend.outbox] == [MESSAGE.to]


def test_a_job_with_nothing_to_send_sends_nothing():
    backend = MemoryBackend()
    mailer, _ = mailer_of(backend)

    mailer.submit(lambda: None, what="nothing")
    assert mailer.flush()

    assert backend.outbox == []


def test_a_failing_job_is_logged_by_its_type_only(caplog):
    backend = MemoryBackend()
    mailer, _ = mailer_of(backend)

    def job() -> Message:
        raise ValueError("key token_hash=0123abcd is not valid")

    mailer.submit(job, what="password reset")
    assert mailer.flush()

    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "mail password reset not composed: ValueError" in logged
    assert "0123abcd" not in logged
    assert backend.outbox == []


def test_in_a_request_a_job_is_queued_once_the_response_is_sent(app):
    mailer = state_of(app).mailer
    started = threading.Event()

    @app.get("/api/mailing")
    def mailing() -> str:
        mailer.submit(lambda: started.set() or None, what="after the answer")
        return "answered"

    # A plain client: the leak-checking one closes each response as soon as it has read it.
    with FlaskClient(app, app.response_class) as client:
        response = client.get("/api/mailing")
        assert mailer.flush()
        queued_before_close = started.is_set()
        response.close()  # the server has sent the body
    assert mailer.flush()

    assert queued_before_close is False
    assert started.is_set()
