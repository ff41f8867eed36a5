"""Second factors over HTTP: TOTP set up and removed, recovery codes, an admin's reset."""

from __future__ import annotations

import re
from types import SimpleNamespace
from xml.etree import ElementTree

import pyotp
import pytest

from app.helpers import tables, totp
from tests.authenticator import Authenticator
from tests.helpers import (
    JOHN,
    assert_problem,
    basic,
    bearer,
    enrol_totp,
    login,
    mails_to,
    outbox,
)

ALICE_PASSWORD = "correct horse battery"
ALICE_BASIC = basic("alice", ALICE_PASSWORD)
REAUTH = "tag:users-api,2026:reauthentication-required"


@pytest.fixture
def alice_token(client, alice):
    return login(client, "alice", ALICE_PASSWORD)["token"]


@pytest.fixture
def alice_totp(client, clock, alice_token):
    """Alice with TOTP on: her secret, recovery codes, and a session from before."""
    secret, codes = enrol_totp(client, alice_token, "alice", clock)
    clock.advance(totp.STEP)  # the confirming code's step is used
    return SimpleNamespace(secret=secret, codes=codes, token=alice_token)


def code_now(secret, clock):
    return totp.code_at(secret, clock())


# -- setting up --------------------------------------------------------------------------------


def test_start_totp_gives_a_secret_its_uri_and_a_qr_code(client, alice_token):
    response = client.post("/api/users/alice/totp", headers=bearer(alice_token))

    assert response.status_code == 201
    body = response.json
    assert set(body) == {"secret", "otpauth_uri", "qr_svg"}
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])  # 160 bits of base32
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert parsed.secret == body["secret"]
    assert parsed.issuer == "User accounts"  # PRODUCT_NAME
    assert parsed.name == "alice"
    svg = ElementTree.fromstring(body["qr_svg"])  # noqa: S314 - our own output
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert not [e for e in svg.iter() if e.tag.endswith("script") or "href" in str(e.attrib)]


def test_start_totp_changes_nothing_at_sign_in_until_confirmed(client, alice_token):
    client.post("/api/users/alice/totp", headers=bearer(alice_token))

    assert (
        client.post(
            "/api/sessions", json={"username": "alice", "password": ALICE_PASSWORD}
        ).status_code
        == 201
    )
    assert client.get("/api/users/alice", headers=bearer(alice_token)).json["totp_enabled"] is False


def test_confirm_totp_turns_it_on_with_ten_single_use_codes(client, clock, alice_token):
    secret = client.post("/api/users/alice/totp", headers=bearer(alice_token)).json["secret"]

    response = client.post(
        "/api/users/alice/totp/confirm",
        headers=bearer(alice_token),
        json={"code": code_now(secret, clock)},
    )

    assert response.status_code == 200
    codes = response.json["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    me = client.get("/api/users/alice", headers=bearer(alice_token)).json
    assert (me["totp_enabled"], me["recovery_codes_left"]) == (True, 10)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (-totp.STEP, True),
        (0, True),
        (totp.STEP, True),
        (-2 * totp.STEP, False),
        (2 * totp.STEP, False),
    ],
)
def test_confirm_totp_accepts_one_step_of_drift_either_way(
    client, clock, alice_token, offset, accepted
):
    secret = client.post("/api/users/alice/totp", headers=bearer(alice_token)).json["secret"]

    response = client.post(
        "/api/users/alice/totp/confirm",
        headers=bearer(alice_token),
        json={"code": totp.code_at(secret, clock() + offset)},
    )

    assert response.status_code == (200 if accepted else 422)


def test_confirm_totp_refuses_a_wrong_code_on_its_field(client, clock, alice_token):
    client.post("/api/users/alice/totp", headers=bearer(alice_token))

    response = client.post(
        "/api/users/alice/totp/confirm", headers=bearer(alice_token), json={"code": "000000"}
    )

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["code"]


def test_confirm_totp_without_a_set_up_is_a_conflict(client, alice_token):
    response = client.post(
        "/api/users/alice/totp/confirm", headers=bearer(alice_token), json={"code": "123456"}
    )

    assert_problem(response, 409)


def test_confirm_totp_needs_a_recent_password(client, clock, alice_token, app):
    secret = client.post("/api/users/alice/totp", headers=bearer(alice_token)).json["secret"]
    clock.advance(app.config["REAUTH_WINDOW"])

    response = client.post(
        "/api/users/alice/totp/confirm",
        headers=bearer(alice_token),
        json={"code": code_now(secret, clock)},
    )

    assert_problem(response, 403, REAUTH)
    proof = {"password": ALICE_PASSWORD}
    reauth = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(alice_token), json=proof
    )
    assert reauth.status_code == 200
    again = client.post(
        "/api/users/alice/totp/confirm",
        headers=bearer(alice_token),
        json={"code": code_now(secret, clock)},
    )
    assert again.status_code == 200


def test_start_totp_while_on_is_a_conflict(client, alice_totp):
    response = client.post("/api/users/alice/totp", headers=bearer(alice_totp.token))

    assert_problem(response, 409)


@pytest.mark.parametrize("headers", [JOHN, None], ids=["admin", "anonymous"])
def test_nobody_sets_up_totp_for_someone_else(client, alice, headers):
    response = client.post("/api/users/alice/totp", headers=headers)

    assert response.status_code == (403 if headers else 401)


def test_totp_works_with_http_basic_too(client, clock, alice):
    secret = client.post("/api/users/alice/totp", headers=ALICE_BASIC).json["secret"]

    response = client.post(
        "/api/users/alice/totp/confirm", headers=ALICE_BASIC, json={"code": code_now(secret, clock)}
    )

    assert response.status_code == 200


# -- recovery codes ----------------------------------------------------------------------------


def test_new_recovery_codes_void_the_old_ones(client, alice_totp):
    response = client.post("/api/users/alice/recovery-codes", headers=bearer(alice_totp.token))

    assert response.status_code == 200
    fresh = response.json["recovery_codes"]
    assert len(fresh) == 10
    assert not set(fresh) & set(alice_totp.codes)
    old = sign_in(client, alice_totp.codes[0])
    assert old.status_code == 422
    assert sign_in(client, fresh[0]).status_code == 201


def test_new_recovery_codes_need_a_second_factor(client, alice_token):
    response = client.post("/api/users/alice/recovery-codes", headers=bearer(alice_token))

    assert_problem(response, 409)


def test_new_recovery_codes_need_a_recent_proof(client, clock, alice_totp, app):
    clock.advance(app.config["REAUTH_WINDOW"])

    response = client.post("/api/users/alice/recovery-codes", headers=bearer(alice_totp.token))

    assert_problem(response, 403, REAUTH)


# -- turning it off ---------------------------------------------------------------------------


def test_remove_totp_needs_the_password_and_a_code(client, clock, alice_totp):
    removal = {"password": ALICE_PASSWORD, "code": code_now(alice_totp.secret, clock)}

    response = client.delete(
        "/api/users/alice/totp", headers=bearer(alice_totp.token), json=removal
    )

    assert response.status_code == 204
    me = client.get("/api/users/alice", headers=bearer(alice_totp.token)).json
    assert (me["totp_enabled"], me["recovery_codes_left"]) == (False, 0)
    assert login(client, "alice", ALICE_PASSWORD)["token"]  # the password alone again


def test_remove_totp_takes_a_recovery_code(client, alice_totp):
    removal = {"password": ALICE_PASSWORD, "code": alice_totp.codes[3]}

    response = client.delete(
        "/api/users/alice/totp", headers=bearer(alice_totp.token), json=removal
    )

    assert response.status_code == 204


@pytest.mark.parametrize(
    ("password", "code", "field"),
    [("wrong password!", None, "password"), (ALICE_PASSWORD, "000000", "code")],
)
def test_remove_totp_refuses_a_wrong_password_or_code(
    client, clock, alice_totp, password, code, field
):
    removal = {"password": password, "code": code or code_now(alice_totp.secret, clock)}

    response = client.delete(
        "/api/users/alice/totp", headers=bearer(alice_totp.token), json=removal
    )

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert client.get("/api/users/alice", headers=bearer(alice_totp.token)).json["totp_enabled"]


def test_remove_totp_without_it_is_a_conflict(client, alice_token):
    removal = {"password": ALICE_PASSWORD, "code": "123456"}

    response = client.delete("/api/users/alice/totp", headers=bearer(alice_token), json=removal)

    assert_problem(response, 409)


# -- an admin's reset -------------------------------------------------------------------------


def test_admin_reset_removes_the_factors_and_ends_every_session(client, alice_totp, caplog):
    response = client.delete("/api/users/alice/second-factors", headers=JOHN)

    assert response.status_code == 204
    assert client.get("/api/users/alice", headers=bearer(alice_totp.token)).status_code == 401
    assert login(client, "alice", ALICE_PASSWORD)["user"]["totp_enabled"] is False
    assert "second_factors_reset username='alice' by='johndoe'" in caplog.text


def test_only_an_admin_resets_second_factors(client, alice_totp):
    response = client.delete("/api/users/johndoe/second-factors", headers=bearer(alice_totp.token))

    assert_problem(response, 403)


def test_admin_reset_of_an_unknown_user_is_a_404(client):
    assert_problem(client.delete("/api/users/nobody/second-factors", headers=JOHN), 404)


# -- signing in -------------------------------------------------------------------------------


def sign_in(client, code, username="alice", password=ALICE_PASSWORD):
    """Both steps of a sign-in; the second step's response."""
    first = client.post("/api/sessions", json={"username": username, "password": password})
    assert first.status_code == 202, first.json
    return client.post(
        "/api/sessions/mfa", json={"challenge": first.json["challenge"], "code": code}
    )


def test_recovery_codes_sign_in_once_each(client, alice_totp):
    first = sign_in(client, alice_totp.codes[0].upper().replace("-", " "))  # as typed

    assert first.status_code == 201
    assert sign_in(client, alice_totp.codes[0]).status_code == 422
    me = client.get("/api/users/alice", headers=bearer(first.json["token"])).json
    assert me["recovery_codes_left"] == 9


def test_no_mail_carries_a_second_factor_secret(app, client, alice_totp):
    for mail in outbox(app):
        text = mail.as_string()
        assert alice_totp.secret not in text
        assert not any(code in text for code in alice_totp.codes)


# -- passkeys ---------------------------------------------------------------------------------


def add_passkey(client, token, authenticator, username="alice", name="Phone"):
    options = client.post(f"/api/users/{username}/passkey-options", headers=bearer(token))
    assert options.status_code == 200, options.json
    credential = authenticator.create(options.json["options"])
    return client.post(
        f"/api/users/{username}/passkeys",
        headers=bearer(token),
        json={"name": name, "credential": credential},
    )


def test_passkey_options_ask_for_a_discoverable_verified_credential(client, alice_token):
    response = client.post("/api/users/alice/passkey-options", headers=bearer(alice_token))

    options = response.json["options"]
    assert options["rp"] == {"name": "User accounts", "id": "localhost"}
    assert options["user"]["name"] == "alice"
    assert options["user"]["id"] != "alice"  # a random handle, not the username
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["excludeCredentials"] == []


def test_the_first_passkey_brings_recovery_codes_the_second_none(client, clock, alice_token):
    authenticator = Authenticator()

    first = add_passkey(client, alice_token, authenticator)
    clock.advance(1)
    second = add_passkey(client, alice_token, authenticator, name="Laptop")

    assert first.status_code == second.status_code == 201
    assert len(first.json["recovery_codes"]) == 10
    assert second.json["recovery_codes"] == []
    listed = client.get("/api/users/alice/passkeys", headers=bearer(alice_token)).json
    assert [p["name"] for p in listed] == ["Laptop", "Phone"]  # newest first
    me = client.get("/api/users/alice", headers=bearer(alice_token)).json
    assert (me["passkeys"], me["recovery_codes_left"]) == (2, 10)


def test_a_passkey_makes_the_password_a_first_step(client, alice_token):
    add_passkey(client, alice_token, Authenticator())

    response = client.post("/api/sessions", json={"username": "alice", "password": ALICE_PASSWORD})

    assert response.status_code == 202
    assert response.json["methods"] == ["webauthn", "recovery_code"]
    allowed = response.json["webauthn"]["allowCredentials"]
    mine = client.get("/api/users/alice/passkeys", headers=bearer(alice_token)).json
    assert [c["id"] for c in allowed] == [p["id"] for p in mine]


def test_a_forged_registration_is_a_422_on_credential(client, alice_token):
    options = client.post("/api/users/alice/passkey-options", headers=bearer(alice_token))
    credential = Authenticator(origin="https://evil.example").create(options.json["options"])

    response = client.post(
        "/api/users/alice/passkeys",
        headers=bearer(alice_token),
        json={"name": "Phone", "credential": credential},
    )

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["credential"]


def test_registration_options_are_for_their_account_only(client, alice_token):
    options = client.post("/api/users/johndoe/passkey-options", headers=JOHN).json["options"]
    credential = Authenticator().create(options)

    response = client.post(
        "/api/users/alice/passkeys",
        headers=bearer(alice_token),
        json={"name": "Phone", "credential": credential},
    )

    assert_problem(response, 422)


def test_at_most_ten_passkeys(client, alice_token):
    authenticator = Authenticator()
    for number in range(10):
        assert (
            add_passkey(client, alice_token, authenticator, name=f"Key {number}").status_code == 201
        )

    response = client.post("/api/users/alice/passkey-options", headers=bearer(alice_token))

    assert_problem(response, 409)


def test_adding_a_passkey_needs_a_recent_password(app, client, clock, alice_token):
    clock.advance(app.config["REAUTH_WINDOW"])

    response = client.post("/api/users/alice/passkey-options", headers=bearer(alice_token))

    assert_problem(response, 403, REAUTH)


def test_passkeys_are_listed_for_their_owner_and_admins_only(client, alice_token):
    add_passkey(client, alice_token, Authenticator())

    assert len(client.get("/api/users/alice/passkeys", headers=JOHN).json) == 1
    assert_problem(client.get("/api/users/johndoe/passkeys", headers=bearer(alice_token)), 403)
    assert_problem(client.post("/api/users/alice/passkey-options", headers=JOHN), 403)


def test_removing_the_last_passkey_takes_the_recovery_codes(client, alice_token):
    authenticator = Authenticator()
    add_passkey(client, alice_token, authenticator)
    [passkey] = client.get("/api/users/alice/passkeys", headers=bearer(alice_token)).json

    response = client.delete(
        f"/api/users/alice/passkeys/{passkey['id']}", headers=bearer(alice_token)
    )

    assert response.status_code == 204
    me = client.get("/api/users/alice", headers=bearer(alice_token)).json
    assert (me["passkeys"], me["recovery_codes_left"]) == (0, 0)
    options = client.post("/api/sessions/passkey-options").json["options"]
    refused = client.post("/api/sessions/passkey", json={"credential": authenticator.get(options)})
    assert refused.status_code == 401
    assert login(client, "alice", ALICE_PASSWORD)["token"]


def test_a_passkey_left_keeps_the_recovery_codes_when_totp_goes(client, clock, alice_totp):
    add_passkey(client, alice_totp.token, Authenticator())
    removal = {"password": ALICE_PASSWORD, "code": code_now(alice_totp.secret, clock)}

    assert (
        client.delete(
            "/api/users/alice/totp", headers=bearer(alice_totp.token), json=removal
        ).status_code
        == 204
    )

    me = client.get("/api/users/alice", headers=bearer(alice_totp.token)).json
    assert (me["totp_enabled"], me["passkeys"], me["recovery_codes_left"]) == (False, 1, 10)


def test_removing_an_unknown_passkey_is_a_404(client, alice_token):
    assert_problem(
        client.delete("/api/users/alice/passkeys/nothere", headers=bearer(alice_token)), 404
    )


def test_admin_reset_removes_passkeys_too(client, alice_token):
    authenticator = Authenticator()
    add_passkey(client, alice_token, authenticator)

    assert client.delete("/api/users/alice/second-factors", headers=JOHN).status_code == 204

    options = client.post("/api/sessions/passkey-options").json["options"]
    refused = client.post("/api/sessions/passkey", json={"credential": authenticator.get(options)})
    assert refused.status_code == 401
    assert login(client, "alice", ALICE_PASSWORD)["user"]["passkeys"] == 0


def test_a_disabled_account_is_told_so_after_a_good_passkey(client, alice_token):
    authenticator = Authenticator()
    add_passkey(client, alice_token, authenticator)
    assert (
        client.patch("/api/users/alice", headers=JOHN, json={"disabled": True}).status_code == 200
    )

    options = client.post("/api/sessions/passkey-options").json["options"]
    response = client.post("/api/sessions/passkey", json={"credential": authenticator.get(options)})

    assert_problem(response, 403, "tag:users-api,2026:account-disabled")


def test_deleting_a_user_removes_their_passkeys(client, state, alice_token):
    add_passkey(client, alice_token, Authenticator())
    [passkey] = client.get("/api/users/alice/passkeys", headers=JOHN).json

    assert client.delete("/api/users/alice", headers=JOHN).status_code == 204

    assert tables.passkeys.get(state.store, passkey["id"]) is None


# -- notices ---------------------------------------------------------------------------------


def notices_to_alice(app):
    return [
        mail.get_body(("plain",)).get_content()
        for mail in mails_to(app, "alice@example.com", "Two-step sign-in changed")
    ]


def test_every_change_to_second_factors_is_mailed_to_the_owner(app, client, clock, alice_totp):
    token = alice_totp.token
    client.post("/api/users/alice/recovery-codes", headers=bearer(token))
    add_passkey(client, token, Authenticator(), name="Laptop")
    [passkey] = client.get("/api/users/alice/passkeys", headers=bearer(token)).json
    client.delete(f"/api/users/alice/passkeys/{passkey['id']}", headers=bearer(token))
    removal = {"password": ALICE_PASSWORD, "code": code_now(alice_totp.secret, clock)}
    client.delete("/api/users/alice/totp", headers=bearer(token), json=removal)
    client.delete("/api/users/alice/second-factors", headers=JOHN)

    changes = [
        text.split(", ", 1)[1].split(" on your account")[0] for text in notices_to_alice(app)
    ]

    assert sorted(changes) == sorted(
        [  # sent by two mail workers: in any order
            "an authenticator app was turned on",
            "new recovery codes were made (the old ones no longer work)",
            'a passkey "Laptop" was added',
            'the passkey "Laptop" was removed',
            "the authenticator app was turned off",
            "an administrator removed every second factor",
        ]
    )


def test_a_second_factors_notice_says_when_by_the_apps_clock(app, client, clock, alice_totp):
    [notice] = notices_to_alice(app)  # the app turned on, at the fake clock's start

    assert notice.split(", ", 1)[0].endswith("On 2027-01-15 08:00 UTC")


def test_a_passkeys_name_is_text_in_the_notice(app, client, alice_token):
    add_passkey(client, alice_token, Authenticator(), name="<b>Laptop</b>")

    [mail] = mails_to(app, "alice@example.com", "Two-step sign-in changed")
    html = mail.get_body(("html",)).get_content()

    assert "&lt;b&gt;Laptop&lt;/b&gt;" in html
    assert "<b>Laptop</b>" not in html


def test_new_recovery_codes_with_passkeys_only(client, alice_token):
    first = add_passkey(client, alice_token, Authenticator())

    response = client.post("/api/users/alice/recovery-codes", headers=bearer(alice_token))

    assert response.status_code == 200
    assert not set(response.json["recovery_codes"]) & set(first.json["recovery_codes"])
