"""Mail delivery off the request path: one small interface, a backend chosen by MAIL_BACKEND.

`Mailer.send` puts a message on a bounded queue and returns at once; `Mailer.submit` puts
a job that composes one there (reading the database, making a token: work whose time must
not show in the request's). A few worker threads run the jobs and deliver through the
backend, trying again on a transient failure (a mail server down, SES throttling), with
one log line per outcome. A full queue or a mail server that is down
never holds a request, and never turns it into an error: the caller learns only whether the
message was queued. No backend logs a message's body but the console one, which exists to
show it (development only).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from flask import Response, after_this_request, g, has_request_context

log = logging.getLogger(__name__)

# The id of the request that queued the job a worker is running: its log lines and security
# events carry it (app.logs), so that a request and the mail it caused read together.
job_request_id: ContextVar[str] = ContextVar("job_request_id", default="-")


@contextlib.contextmanager
def _on_behalf_of(request_id: str) -> Iterator[None]:
    """Log as the request `request_id` while in this block."""
    named = job_request_id.set(request_id)
    try:
        yield
    finally:
        job_request_id.reset(named)


# SES answers these when it is overloaded or down for a moment: worth another attempt.
_SES_TRANSIENT = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure"}


@dataclass(frozen=True)
class Message:
    """What to send: one recipient, a subject, a plain-text body and an optional HTML one."""

    to: str
    subject: str
    text: str
    html: str | None = None


# Composes the message to send, in a worker thread; None: nothing to send after all.
Job = Callable[[], "Message | None"]


class TransientMailError(Exception):
    """A failure that may pass: the message is tried again."""


class Backend(Protocol):
    """Hands a finished message to whatever delivers it."""

    def send(self, message: EmailMessage) -> None:
        """Deliver `message`; `TransientMailError` when trying again may succeed."""


def build(message: Message, *, sender: str) -> EmailMessage:
    """The MIME message: plain text, and HTML as its alternative when there is one."""
    mime = EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(localtime=False)
    mime["Message-ID"] = make_msgid()
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class ConsoleBackend:
    """Writes each message to the log, readable, instead of sending it (development)."""

    def send(self, message: EmailMessage) -> None:
        """Log the headers and the plain-text body; the HTML part by its size."""
        headers = "\n".join(f"{name}: {message[name]}" for name in ("From", "To", "Subject"))
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        body = text.get_content() if text is not None else ""
        extra = f"\n[an HTML part of {len(html.get_content())} characters]" if html else ""
        log.info("mail (console backend, not sent):\n%s\n\n%s%s", headers, body.rstrip(), extra)


class MemoryBackend:
    """Keeps each message in `outbox` (tests)."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Keep the message."""
        with self._lock:
            self.outbox.append(message)


class SmtpBackend:
    """Sends through an SMTP server (a relay, a provider), one connection per message."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        security: str = "starttls",
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.security, self.timeout = host, port, security, timeout
        self._username, self._password = username, password

    def send(self, message: EmailMessage) -> None:
        """Connect, secure the connection as configured, log in if asked, send."""
        try:
            smtp = self._connect()
            try:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self._username:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
            finally:
                # A server that hung up after refusing us must not hide why it refused.
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    smtp.quit()
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
            raise TransientMailError(type(exc).__name__) from exc
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # the server's "try again later"
                raise TransientMailError(f"SMTP {exc.smtp_code}") from exc
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            # Each refused recipient has its own answer: only 4xx ones may pass.
            if all(400 <= code < 500 for code, _ in exc.recipients.values()):
                raise TransientMailError("SMTP recipient refused for now") from exc
            raise
        except (smtplib.SMTPException, ssl.SSLError):
            # smtplib's other refusals (no STARTTLS, no AUTH) and TLS failures (a certificate
            # we cannot trust) are the configuration's: another attempt would meet the same.
            raise
        except OSError as exc:  # refused, unreachable, timed out: the network's, may pass
            raise TransientMailError(type(exc).__name__) from exc

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


class SesBackend:
    """Sends through Amazon SES, with the region and credentials DynamoDB uses."""

    def __init__(self, *, region: str | None, endpoint_url: str | None = None) -> None:
        self._args = {"region_name": region, "endpoint_url": endpoint_url}
        self._client: Any = None
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """SendRawEmail: the MIME message as it is, to its one recipient."""
        try:
            self.client.send_raw_email(
                Source=str(message["From"]),
                Destinations=[str(message["To"])],
                RawMessage={"Data": message.as_bytes()},
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _SES_TRANSIENT:
                raise TransientMailError(code) from exc
            raise
        except BotoCoreError as exc:  # unreachable, timed out
            raise TransientMailError(type(exc).__name__) from exc

    @property
    def client(self) -> Any:
        """The SES client, built on first use (never at start-up)."""
        with self._lock:
            if self._client is None:
                session = botocore.session.get_session()
                self._client = session.create_client("ses", **self._args)
            return self._client


def backend_from_config(settings: Mapping[str, Any]) -> Backend:
    """The backend MAIL_BACKEND names, with its settings."""
    kind = settings["MAIL_BACKEND"]
    if kind == "smtp":
        return SmtpBackend(
            host=settings["SMTP_HOST"],
            port=settings["SMTP_PORT"],
            username=settings["SMTP_USERNAME"],
            password=settings["SMTP_PASSWORD"],
            security=settings["SMTP_SECURITY"],
            timeout=settings["SMTP_TIMEOUT"],
        )
    if kind == "ses":
        return SesBackend(region=settings["AWS_REGION"])
    if kind == "memory":
        return MemoryBackend()
    return ConsoleBackend()


class Mailer:
    """Queues messages and delivers them from worker threads, never holding the caller."""

    def __init__(
        self,
        backend: Backend,
        *,
        sender: str,
        queue_size: int = 100,
        workers: int = 2,
        attempts: int = 3,
        first_wait: float = 1.0,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backend = backend
        self.sender = sender
        self.attempts, self.first_wait, self.pause = attempts, first_wait, pause
        self._queue: queue.Queue[tuple[str, Job, str]] = queue.Queue(maxsize=queue_size)
        self._workers = workers
        self._started = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Mailer:
        """Build from the app's settings."""
        return cls(
            backend_from_config(settings),
            sender=settings["MAIL_FROM"],
            queue_size=settings["MAIL_QUEUE_SIZE"],
            workers=settings["MAIL_WORKERS"],
            attempts=settings["MAIL_ATTEMPTS"],
        )

    def send(self, message: Message) -> bool:
        """Queue `message` for delivery; False (and a warning) when the queue is full."""
        return self.submit(lambda: message, what=f"{message.subject!r} to {message.to}")

    def submit(self, job: Job, *, what: str) -> bool:
        """Queue a job that composes a message, named `what` in the log; False when full.

        The job runs in a worker thread; an exception in it is logged by its type alone
        (its text may quote a stored key), and nothing is sent. In a request, it is queued
        once the response has been sent (closed): its work, which depends on what it finds,
        cannot then take the GIL from the request and lengthen the answer.
        """
        if has_request_context():
            request_id = g.get("request_id", "-")

            @after_this_request
            def queue_when_sent(response: Response) -> Response:
                response.call_on_close(lambda: self._enqueue(what, job, request_id))
                return response

            return True
        return self._enqueue(what, job)

    def _enqueue(self, what: str, job: Job, request_id: str = "-") -> bool:
        self._start()
        try:
            self._queue.put_nowait((what, job, request_id))
        except queue.Full:
            with _on_behalf_of(request_id):  # at the response's close, outside the request
                log.warning("mail %s dropped: the queue is full", what)
            return False
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message has been handled; False if `timeout` ran out."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or not self._queue.all_tasks_done.wait(left):
                    return not self._queue.unfinished_tasks
        return True

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for number in range(self._workers):
                name = f"mail-{number}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
            self._started = True

    def _work(self) -> None:
        while True:
            what, job, request_id = self._queue.get()
            try:
                with _on_behalf_of(request_id):
                    self._run(what, job)
            finally:
                self._queue.task_done()

    def _run(self, what: str, job: Job) -> None:
        try:
            message = job()
        except Exception as exc:
            log.error("mail %s not composed: %s", what, type(exc).__name__)
            return
        if message is not None:
            self._deliver(build(message, sender=self.sender))

    def _deliver(self, message: EmailMessage) -> None:
        """Send, trying again after doubling pauses on a transient failure; log the outcome."""
        subject, to = message["Subject"], message["To"]
        wait = self.first_wait
        for attempt in range(1, self.attempts + 1):
            try:
                self.backend.send(message)
            except TransientMailError as exc:
                if attempt == self.attempts:
                    log.error(
                        "mail %r to %s not sent after %d attempts: %s", subject, to, attempt, exc
                    )
                    return
                log.warning(
                    "mail %r to %s: attempt %d failed (%s); trying again", subject, to, attempt, exc
                )
                self.pause(wait)
                wait *= 2
            except Exception as exc:  # a refusal that will not pass (a bad address, auth)
                log.error("mail %r to %s not sent: %s", subject, to, type(exc).__name__)
                return
            else:
                log.info("mail %r sent to %s", subject, to)
                return
