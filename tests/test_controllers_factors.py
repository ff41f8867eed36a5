"""Second factors over HTTP: TOTP set up and removed, recovery codes, an admin's reset."""

from __future__ import annotations

import re
from types import SimpleNamespace
from xml.etree import ElementTree

import pyotp
import pytest

from app.helpers import totp
from tests.helpers import (
    JOHN,
    assert_problem,
    basic,
    bearer,
    enrol_totp,
    login,
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
