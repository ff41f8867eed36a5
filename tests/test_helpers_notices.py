"""What is mailed: the tokens' storage, and the budgets per account and per address."""

from __future__ import annotations

import pytest

from app import create_app
from app.helpers import notices, tables
from app.helpers.state import state_of
from app.models import UserItem
from tests.helpers import JOHN, mails_to, new_user, security_events, token_in

ALICE = "alice@example.com"
RESET, VERIFY = "Reset your", "Verify your email"


def test_a_token_is_stored_by_its_hash_with_its_purpose_and_deadline(app, client, alice, clock):
    client.post("/api/password-resets", json={"username": "alice"})

    token = token_in(mails_to(app, ALICE, RESET)[0])
    stored = tables.tokens.get(state_of(app).store, notices.hash_of(token) or "")
    assert stored is not None
    assert (stored.purpose, stored.username, stored.email) == ("password_reset", "alice", ALICE)
    assert stored.expires_at == stored.created_at + 30 * 60
    assert token not in str(stored.model_dump())
    assert len(token) == 43  # 256 random bits, base64url


def test_the_account_stamp_changes_with_the_password_or_the_email():
    user = UserItem(
        username="alice",
        email=ALICE,
        first_name="A",
        last_name="L",
        account_type="standard_user",
        password_hash="$2b$04$x",
        created_at="",
        updated_at="",
    )
    stamps = {
        notices.account_stamp(user),
        notices.account_stamp(user.model_copy(update={"password_hash": "$2b$04$y"})),
        notices.account_stamp(user.model_copy(update={"email": "alice@example.org"})),
    }

    assert len(stamps) == 3
    assert notices.account_stamp(user.model_copy(update={"first_name": "Al"})) in stamps


@pytest.mark.parametrize("settings", [{"MAIL_PER_ACCOUNT": "2 per hour"}], indirect=True)
def test_an_account_gets_at_most_its_reset_mails_whoever_asks(client, app, alice, caplog):
    for body in ({"email": ALICE}, {"username": "alice"}, {"email": ALICE}, {"username": "Alice"}):
        assert client.post("/api/password-resets", json=body).status_code == 202

    assert len(mails_to(app, ALICE, RESET)) == 2
    refused = [r for r in caplog.records if r.getMessage().startswith("password_reset_refused")]
    assert len(refused) == 2
    assert "reason='account_budget'" in refused[0].getMessage()


@pytest.mark.parametrize("settings", [{"MAIL_PER_ACCOUNT": "2 per hour"}], indirect=True)
def test_an_address_gets_at_most_its_verification_mails_but_a_new_one_gets_its_own(
    client, app, alice
):
    for _ in range(3):
        client.post("/api/email-verifications", json={"username": "alice"})
    assert len(mails_to(app, ALICE, VERIFY)) == 2  # registration's and one more

    client.patch("/api/users/alice", json={"email": "alice@example.org"}, headers=JOHN)

    assert len(mails_to(app, "alice@example.org", VERIFY)) == 1


@pytest.mark.parametrize("settings", [{"MAIL_PER_ACCOUNT": "2 per hour"}], indirect=True)
def test_resets_and_verifications_have_budgets_of_their_own(client, app, alice):
    for _ in range(3):
        client.post("/api/password-resets", json={"username": "alice"})
    client.post("/api/email-verifications", json={"username": "alice"})

    assert len(mails_to(app, ALICE, RESET)) == 2  # the third was over the reset budget
    assert len(mails_to(app, ALICE, VERIFY)) == 2  # registration's and the resend: untouched


@pytest.mark.parametrize("settings", [{"MAIL_PER_ACCOUNT": "1 per hour"}], indirect=True)
def test_verification_mails_are_security_events_with_the_askers_address(client, app, caplog):
    client.post("/api/users", json=new_user(username="alice", email=ALICE))
    mails_to(app, ALICE)  # its mail has gone before the resend is asked for
    client.post("/api/email-verifications", json={"username": "alice"})
    mails_to(app, ALICE)

    events = [
        (event, fields)
        for event, fields in security_events(caplog, address=True)
        if event.startswith("verification_mail")
    ]
    here = {"username": "alice", "address": "127.0.0.1"}
    assert events == [
        ("verification_mailed", here),
        ("verification_mail_refused", {**here, "reason": "account_budget"}),
    ]


@pytest.mark.parametrize(
    ("settings", "hours"), [({}, 24), ({"EMAIL_VERIFICATION_TTL": 7200}, 2)], indirect=["settings"]
)
def test_a_verification_mail_says_how_long_its_link_works(client, app, alice, hours):
    [mail] = mails_to(app, ALICE, VERIFY)

    assert f"by opening this link within {hours} hours:" in mail.get_body(("plain",)).get_content()


@pytest.mark.parametrize("settings", [{"MAIL_PER_ACCOUNT": "2 per hour"}], indirect=True)
def test_registering_again_and_again_cannot_bury_an_inbox(client, app):
    for number in range(4):
        body = new_user(username=f"someone-{number}", email="victim@example.com")
        assert client.post("/api/users", json=body).status_code == 201
        assert client.delete(f"/api/users/someone-{number}", headers=JOHN).status_code == 204

    assert len(mails_to(app, "victim@example.com", VERIFY)) == 2


def test_rate_limiting_off_lets_every_mail_through(aws, settings):
    app = create_app({**settings, "RATELIMIT_ENABLED": False, "MAIL_PER_ACCOUNT": "1 per hour"})
    client = app.test_client()
    client.post("/api/users", json=new_user())
    for _ in range(3):
        client.post("/api/password-resets", json={"username": "alice"})

    assert len(mails_to(app, ALICE, RESET)) == 3
