"""The mails the service writes, from Jinja templates an operator can override.

Each mail is three templates under `mail/`: `<name>.subject.txt`, `<name>.txt` (the plain
text) and `<name>.html` (autoescaped). The shipped ones are in app/templates; a file of the
same name in TEMPLATE_FOLDER takes its place. Every template gets `product` (PRODUCT_NAME)
and `public_url` (PUBLIC_URL, without a trailing slash), and what its mail is about.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from app.helpers.mail import Message


@dataclass(frozen=True)
class Composer:
    """Renders the mails of one app, with its product name and public address."""

    env: Environment
    product: str
    public_url: str

    @classmethod
    def for_app(cls, app: Flask) -> Composer:
        """The app's own Jinja environment (Flask's), the operator's folder first."""
        folder = app.config["TEMPLATE_FOLDER"]
        if folder:
            # Set before the environment is first built, which reads it once.
            app.jinja_loader = ChoiceLoader(  # type: ignore[assignment]
                [FileSystemLoader(folder), app.jinja_loader]  # type: ignore[list-item]
            )
        return cls(
            env=app.jinja_env,
            product=app.config["PRODUCT_NAME"],
            public_url=app.config["PUBLIC_URL"].rstrip("/"),
        )

    def link(self, view: str, token: str) -> str:
        """The dashboard's address of `view` with `token` in the fragment.

        A fragment never reaches a server, nor a `Referer`: the token stays out of every
        access log and proxy on the way.
        """
        return f"{self.public_url}/#/{view}?token={token}"

    def compose(self, name: str, *, to: str, **context: Any) -> Message:
        """The mail `name` to `to`: subject, plain text and HTML from its templates."""
        values = {"product": self.product, "public_url": self.public_url, **context}
        subject = self._render(f"mail/{name}.subject.txt", values)
        return Message(
            to=to,
            subject=" ".join(subject.split()),  # one line, whatever the template's layout
            text=self._render(f"mail/{name}.txt", values),
            html=self._render(f"mail/{name}.html", values),
        )

    def _render(self, template: str, values: dict[str, Any]) -> str:
        return self.env.get_template(template).render(values)


def masked(email: str) -> str:
    """An address shown to another mailbox: its first character and its domain."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
