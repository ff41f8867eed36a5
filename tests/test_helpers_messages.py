"""The mails' templates: composing, escaping, the operator's folder, the start-up check."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import ConfigError
from app.helpers.mail import Message
from app.helpers.messages import MAILS, Composer, masked, template_problems
from app.models import UserItem
from tests.helpers import JOHN, mails_to, new_user, token_in

SETTINGS = {"TEMPLATE_FOLDER": "", "PRODUCT_NAME": "Acme ID", "PUBLIC_URL": "https://id.acme.test/"}


def compose(name: str, composer: Composer | None = None, **values: object) -> Message:
    composer = composer or Composer.from_config(SETTINGS)
    example = {"link": "https://id.acme.test/#/reset?token=T", "minutes": 30, "hours": 24}
    example |= {"when": "2026-12-02 10:00 UTC", "new_email": "a***@example.org"}
    example |= {"change": 'a passkey "Laptop" was added'}
    return composer.compose(name, to="alice@example.com", **{**example, **values})


@pytest.mark.parametrize("name", sorted(MAILS))
def test_every_mail_has_a_one_line_subject_a_text_and_an_html_part(name):
    message = compose(name, user=_alice())

    assert message.to == "alice@example.com"
    assert "\n" not in message.subject
    assert "Acme ID" in message.subject + message.text
    assert message.html.lstrip().startswith("<!doctype html>")


def test_a_link_keeps_the_token_in_the_fragment():
    composer = Composer.from_config(SETTINGS)

    assert composer.link("verify", "abc") == "https://id.acme.test/#/verify?token=abc"


def test_names_are_escaped_in_html_only():
    message = compose("password_changed", user=_alice(first_name="<b>Al</b> & co"))

    assert "Hello <b>Al</b> & co," in message.text
    assert "Hello &lt;b&gt;Al&lt;/b&gt; &amp; co," in message.html


@pytest.mark.parametrize(
    ("email", "shown"),
    [("alice@example.org", "a***@example.org"), ("x@y.example", "x***@y.example")],
)
def test_an_address_shown_to_another_mailbox_is_masked(email, shown):
    assert masked(email) == shown


def test_an_operator_template_takes_the_place_of_the_shipped_one(aws, settings, tmp_path):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "password_reset.subject.txt").write_text(
        "{{ product }}: your reset link, {{ user.first_name }}"
    )
    app = create_app({**settings, "TEMPLATE_FOLDER": str(tmp_path), "PRODUCT_NAME": "Acme ID"})
    client = app.test_client()
    client.post("/api/users", json=new_user(email_verified=True), headers=JOHN)

    client.post("/api/password-resets", json={"username": "alice"})

    [mail] = mails_to(app, "alice@example.com")
    assert mail["Subject"] == "Acme ID: your reset link, Alice"
    # The parts it did not override are the shipped ones, with the product's name.
    assert "on Acme ID" in mail.get_body(("plain",)).get_content()
    token_in(mail)


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        (
            "password_reset.txt",
            "Hello {{ usr.first_name }}",
            "mail template password_reset: 'usr' is undefined",
        ),
        (
            "email_changed.subject.txt",
            "{% if %}",
            "mail template email_changed (mail/email_changed.subject.txt, line 1): Expected an",
        ),
    ],
)
def test_a_mail_template_that_cannot_be_written_stops_the_start(
    aws, settings, tmp_path, name, text, problem
):
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / name).write_text(text)

    with pytest.raises(ConfigError) as refused:
        create_app({**settings, "TEMPLATE_FOLDER": str(tmp_path)})

    assert [p[: len(problem)] for p in refused.value.problems] == [problem]


def test_the_shipped_mail_templates_are_whole():
    assert template_problems("") == ()


def _alice(**changes: object) -> UserItem:
    fields = {
        "username": "alice",
        "email": "alice@example.com",
        "first_name": "Alice",
        "last_name": "Liddell",
        "account_type": "standard_user",
        "password_hash": "",
        "created_at": "",
        "updated_at": "",
    }
    return UserItem.model_validate({**fields, **changes})
