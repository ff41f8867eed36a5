"""The mails the service writes, from Jinja templates an operator can override.

Each mail is three templates under `mail/`: `<name>.subject.txt`, `<name>.txt` (the plain
text) and `<name>.html` (autoescaped). The shipped ones are in app/templates (Flask's
template folder); a file of the same name in TEMPLATE_FOLDER takes its place. Every
template gets `product` (PRODUCT_NAME) and `public_url` (PUBLIC_URL, without a trailing
slash), and what its mail is about (MAILS).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from app.helpers.mail import Message
from app.models import UserItem

# The shipped templates: Flask's template folder of the app package.
SHIPPED = Path(__file__).resolve().parent.parent / "templates"
# Each mail, and what its templates are given besides `product` and `public_url`.
MAILS: dict[str, tuple[str, ...]] = {
    "password_reset": ("user", "link", "minutes"),
    "email_verification": ("user", "link", "hours"),
    "password_changed": ("user", "when"),
    "email_changed": ("user", "when", "new_email"),
    "second_factors_changed": ("user", "when", "change"),
}
_EXAMPLE = {
    "user": UserItem(
        username="example",
        email="example@example.com",
        first_name="Ex",
        last_name="Ample",
        account_type="standard_user",
        password_hash="",
        created_at="",
        updated_at="",
    ),
    "link": "https://accounts.example.com/#/view?token=example",
    "minutes": 30,
    "hours": 24,
    "when": "2026-01-01 00:00 UTC",
    "new_email": "e***@example.com",
    "change": "an authenticator app was turned on",
}


@dataclass(frozen=True)
class Composer:
    """Renders the mails, with the product's name and the dashboard's public address."""

    env: Environment
    product: str
    public_url: str

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> Composer:
        """The shipped templates, the operator's TEMPLATE_FOLDER first, rendered strictly."""
        return cls(
            env=_environment(settings["TEMPLATE_FOLDER"]),
            product=settings["PRODUCT_NAME"],
            public_url=settings["PUBLIC_URL"].rstrip("/"),
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


def _environment(folder: str) -> Environment:
    """Flask's way with templates (HTML autoescaped, text not), but strict.

    A misspelt variable is an error rather than nothing ("Hello ,").
    """
    loaders = [FileSystemLoader(folder)] if folder else []
    return Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(SHIPPED)]),
        autoescape=select_autoescape(("html",), default_for_string=False),
        undefined=StrictUndefined,
    )


@functools.lru_cache(maxsize=8)
def template_problems(folder: str) -> tuple[str, ...]:
    """What keeps a mail from being written with TEMPLATE_FOLDER=`folder`, by rendering each.

    With example values. Part of the settings' check: an operator's template with a typo
    stops the app at its start, rather than each mail later (after its token is made and
    its budget spent).
    """
    composer = Composer(env=_environment(folder), product="Example", public_url="https://x")
    found = []
    for name, fields in MAILS.items():
        try:
            composer.compose(name, to="example@example.com", **{f: _EXAMPLE[f] for f in fields})
        except TemplateError as exc:
            where = (
                f" ({exc.name}, line {exc.lineno})" if isinstance(exc, TemplateSyntaxError) else ""
            )
            found.append(f"mail template {name}{where}: {exc.message or type(exc).__name__}")
    return tuple(found)


def masked(email: str) -> str:
    """An address shown to another mailbox: its first character and its domain."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
