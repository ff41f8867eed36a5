"""The users API through the Flask test client: every route, rule and error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest

from app import create_app
from app.helpers import tables
from app.helpers.state import state_of
from tests.helpers import JANE, JOHN, assert_problem, basic, bearer, login, new_user

PASSWORD = "correct horse battery"
ALICE = basic("alice", PASSWORD)
PUBLIC_FIELDS = {"username", "first_name", "last_name", "account_type"}
SELF_FIELDS = PUBLIC_FIELDS | {
    "email",
    "email_verified",
    "created_at",
    "updated_at",
    "disabled",
    "totp_enabled",
    "recovery_codes_left",
    "passkeys",
}


def assert_refused_credentials(response):
    """A 401 that invites either scheme again, and says no more than that."""
    body = assert_problem(response, 401)
    assert body["detail"] == "Valid credentials are required."
    assert response.headers["WWW-Authenticate"] == (
        'Basic realm="users-api", Bearer realm="users-api"'
    )


# -- GET /api/users -------------------------------------------------------------------------


def test_list_users_creates_and_seeds_table_on_first_request(client, store):
    tables = store.client.list_tables()["TableNames"]
    assert tables == []

    response = client.get("/api/users")

    assert response.status_code == 200
    assert sorted(u["username"] for u in response.json) == ["janedoe", "johndoe"]
    assert all(set(u) == PUBLIC_FIELDS for u in response.json)
    john = next(u for u in response.json if u["username"] == "johndoe")
    assert john == {
        "username": "johndoe",
        "first_name": "John",
        "last_name": "Doe",
        "account_type": "admin_user",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "Link" not in response.headers


def test_list_users_pages_follow_link_until_every_user_is_seen(client):
    for i in range(5):
        body = new_user(username=f"user{i}", email=f"user{i}@example.com")
        assert client.post("/api/users", json=body).status_code == 201
    seen, url, pages = [], "/api/users?limit=3", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert len(response.json) <= 3
        seen += [u["username"] for u in response.json]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7


def test_list_users_link_header_is_rfc8288_next(client):
    response = client.get("/api/users?limit=1")

    link = response.headers["Link"]
    assert link.startswith("</api/users?")
    assert link.endswith('>; rel="next"')
    assert "limit=1" in link
    assert "cursor=" in link


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_list_users_rejects_bad_limit(client, limit):
    body = assert_problem(client.get(f"/api/users?limit={limit}"), 422)
    assert [e["field"] for e in body["errors"]] == ["limit"]


@pytest.mark.parametrize("cursor", ["!!!", "AAAA", "bm90IGEgdmFsaWQgdXNlcm5hbWUh", "\u00e9t\u00e9"])
def test_list_users_rejects_forged_cursor(client, cursor):
    body = assert_problem(client.get("/api/users", query_string={"cursor": cursor}), 400)
    assert body["detail"] == "The cursor is not valid; start again from the first page."


def test_list_users_rejects_unknown_query_parameter(client):
    body = assert_problem(client.get("/api/users?page=2"), 422)
    assert body["errors"][0]["field"] == "page"


# -- GET /api/user (the original credential check) ------------------------------------------


def test_check_credentials_in_query_returns_self_view(client):
    response = client.get("/api/user?username=johndoe&password=JohnPass123")

    assert response.status_code == 200
    assert set(response.json) == SELF_FIELDS
    assert response.json["email"] == "johndoe@example.com"
    assert response.json["created_at"].endswith("Z")


def test_check_credentials_accepts_http_basic(client):
    response = client.get("/api/user", headers=JANE)

    assert response.status_code == 200
    assert response.json["username"] == "janedoe"


def test_check_credentials_ignores_username_case(client):
    response = client.get("/api/user?username=JohnDoe&password=JohnPass123")

    assert response.status_code == 200
    assert response.json["username"] == "johndoe"


def test_check_credentials_unknown_user_and_wrong_password_look_the_same(client):
    wrong = client.get("/api/user?username=johndoe&password=NotJohnsPass")
    unknown = client.get("/api/user?username=nobody&password=NotJohnsPass")

    assert_problem(wrong, 401)
    assert wrong.get_data() == unknown.get_data()
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_check_credentials_spends_one_bcrypt_check_for_unknown_user(client, monkeypatch):
    client.get("/api/users")  # create and seed the table first
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda *a: calls.append(1) or real(*a))

    client.get("/api/user?username=nobody&password=Whatever123")
    client.get("/api/user?username=bad%20name!&password=Whatever123")
    client.get("/api/user?username=johndoe&password=Whatever123")

    assert calls == [1, 1, 1]


BASIC_AND_BEARER = 'Basic realm="users-api", Bearer realm="users-api"'
BEARER = 'Bearer realm="users-api"'


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, BASIC_AND_BEARER),
        ({"Authorization": "Bearer sometoken"}, BEARER),
        ({"Authorization": "Basic !!!notbase64"}, BASIC_AND_BEARER),
        (basic("johndoe", "wrong-password"), BASIC_AND_BEARER),
        (basic("", ""), BASIC_AND_BEARER),
        ({"Authorization": "Digest username=johndoe"}, BASIC_AND_BEARER),
    ],
)
def test_check_credentials_without_valid_credentials_is_401(client, headers, challenge):
    response = client.get("/api/user", headers=headers)

    assert_problem(response, 401)
    # A bearer client (a browser) is not offered Basic: it would open a password dialog.
    assert response.headers["WWW-Authenticate"] == challenge


# -- POST /api/users ------------------------------------------------------------------------


def test_register_returns_self_view_and_location(client):
    body = new_user(username="Alice", email="Alice@Example.COM", first_name="  Alice ")
    response = client.post("/api/users", json=body)

    assert response.status_code == 201
    assert response.headers["Location"] == "/api/users/alice"
    assert set(response.json) == SELF_FIELDS
    assert response.json["username"] == "alice"
    assert response.json["email"] == "alice@example.com"
    assert response.json["first_name"] == "Alice"
    assert response.json["account_type"] == "standard_user"
    assert response.json["created_at"] == response.json["updated_at"]
    assert client.get("/api/user", headers=ALICE).status_code == 200


def test_register_accepts_demo_length_password(client):
    body = new_user(password="AlicePass11")  # 11 characters, like the demo users'

    assert client.post("/api/users", json=body).status_code == 201


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"username": "ALICE", "email": "other@example.com"},
            "The username 'alice' is already taken.",
        ),
        (
            {"username": "alice2", "email": "ALICE@example.com"},
            "That email address is already registered.",
        ),
    ],
)
def test_register_taken_username_or_email_is_409(client, alice, change, detail):
    body = assert_problem(client.post("/api/users", json=new_user(**change)), 409)
    assert body["detail"] == detail


def test_register_admin_needs_admin_credentials(client):
    admin = new_user(account_type="admin_user")

    for headers in ({}, JANE):
        body = assert_problem(client.post("/api/users", json=admin, headers=headers), 403)
        assert body["detail"] == "Only an admin can create an admin account."
    assert_problem(client.post("/api/users", json=admin, headers=basic("johndoe", "nope")), 401)
    response = client.post("/api/users", json=admin, headers=JOHN)
    assert response.status_code == 201
    assert response.json["account_type"] == "admin_user"


LONG = "x" * 90
INVALID_REGISTRATIONS = [
    ("username", "ab"),
    ("username", "a" * 33),
    ("username", "has space"),
    ("username", "emoji\U0001f600"),
    ("username", "k\u212aelvin"),
    ("username", 42),
    ("username", None),
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", "x" * 250 + "@example.com"),
    ("password", "short"),
    ("password", "y" * 257),
    ("password", "nul\x00inside-it"),
    ("password", "lone\ud800surrogate"),
    ("password", 12345678),
    ("first_name", ""),
    ("first_name", "   "),
    ("first_name", "n" * 101),
    ("first_name", "bell\x07"),
    ("first_name", "evil\u202etxt.exe"),
    ("last_name", "soft\u00adhyphen"),
    ("last_name", ["list"]),
    ("account_type", "root"),
]


@pytest.mark.parametrize(("field", "value"), INVALID_REGISTRATIONS)
def test_register_invalid_field_is_422_naming_it(client, field, value):
    response = client.post("/api/users", json=new_user(**{field: value}))

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == [field]
    assert body["errors"][0]["location"] == "json"
    assert not body["errors"][0]["detail"].startswith("Value error")


@pytest.mark.parametrize("missing", ["username", "email", "password", "first_name", "last_name"])
def test_register_missing_field_is_422_naming_it(client, missing):
    body = new_user()
    del body[missing]

    problem = assert_problem(client.post("/api/users", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [missing]


def test_register_unknown_field_is_422(client):
    problem = assert_problem(client.post("/api/users", json=new_user(is_admin=True)), 422)
    assert problem["errors"][0]["field"] == "is_admin"


def test_register_loses_nothing_on_invalid_input(client):
    client.post("/api/users", json=new_user(password="short"))

    assert client.get("/api/users/alice").status_code == 404
    assert client.post("/api/users", json=new_user()).status_code == 201


def test_register_long_password_counts_every_character(client):
    password = "p" * 100 + "A"
    assert client.post("/api/users", json=new_user(password=password)).status_code == 201

    truncated = "p" * 100 + "B"  # same first 72 bytes and more
    assert_refused_credentials(client.get("/api/user", headers=basic("alice", truncated)))
    assert client.get("/api/user", headers=basic("alice", password)).status_code == 200


def test_register_accepts_256_character_unicode_password(client):
    password = "\u00e9\u6f22" * 128  # 256 characters, 640 bytes in UTF-8
    assert client.post("/api/users", json=new_user(password=password)).status_code == 201
    assert client.get("/api/user", headers=basic("alice", password)).status_code == 200


# -- GET /api/users/<username> --------------------------------------------------------------


def test_get_user_anonymous_sees_public_view(client, alice):
    response = client.get("/api/users/alice")

    assert response.status_code == 200
    assert set(response.json) == PUBLIC_FIELDS


@pytest.mark.parametrize(("headers", "fields"), [(ALICE, SELF_FIELDS), (JOHN, SELF_FIELDS)])
def test_get_user_owner_or_admin_sees_self_view(client, alice, headers, fields):
    response = client.get("/api/users/ALICE", headers=headers)

    assert response.status_code == 200
    assert set(response.json) == fields
    assert response.json["email"] == "alice@example.com"


def test_get_user_other_standard_user_sees_public_view(client, alice):
    response = client.get("/api/users/alice", headers=JANE)

    assert set(response.json) == PUBLIC_FIELDS


def test_get_user_with_wrong_credentials_is_401(client, alice):
    assert_problem(client.get("/api/users/alice", headers=basic("alice", "wrong-one")), 401)


@pytest.mark.parametrize("username", ["nobody", "x", "a" * 40, "bad%20name"])
def test_get_user_unknown_is_404(client, username):
    assert_problem(client.get(f"/api/users/{username}"), 404)


# -- PATCH /api/users/<username> ------------------------------------------------------------


def test_update_user_changes_names_and_keeps_the_rest(client, clock, alice):
    clock.advance(90)

    response = client.patch(
        "/api/users/alice", json={"first_name": " Alicia ", "last_name": "L"}, headers=ALICE
    )

    assert response.status_code == 200
    assert response.json["first_name"] == "Alicia"
    assert response.json["last_name"] == "L"
    assert response.json["email"] == alice["email"]
    assert response.json["created_at"] == alice["created_at"] == "2027-01-15T08:00:00.000Z"
    assert response.json["updated_at"] == "2027-01-15T08:01:30.000Z"  # the app's clock
    assert client.get("/api/users/alice").json["first_name"] == "Alicia"


def test_update_user_password_replaces_old_one(client, alice):
    change = {"password": "a brand new secret", "current_password": "correct horse battery"}
    assert client.patch("/api/users/alice", json=change, headers=ALICE).status_code == 200

    assert_refused_credentials(client.get("/api/user", headers=ALICE))
    assert client.get("/api/user", headers=basic("alice", "a brand new secret")).status_code == 200


def test_update_user_email_moves_the_claim(client, alice):
    change = {"email": "New@Example.com"}
    response = client.patch("/api/users/alice", json=change, headers=ALICE)

    assert response.status_code == 200
    assert response.json["email"] == "new@example.com"
    # The old address is free again; the new one is taken.
    old = new_user(username="bob", email="alice@example.com")
    assert client.post("/api/users", json=old).status_code == 201
    taken = new_user(username="carol", email="new@example.com")
    assert_problem(client.post("/api/users", json=taken), 409)


def test_update_user_email_taken_by_other_is_409_and_changes_nothing(client, alice):
    change = {"email": "janedoe@example.com", "first_name": "Changed"}
    assert_problem(client.patch("/api/users/alice", json=change, headers=ALICE), 409)

    after = client.get("/api/users/alice", headers=ALICE).json
    assert after["email"] == "alice@example.com"
    assert after["first_name"] == "Alice"


def test_update_user_same_email_is_no_conflict(client, alice):
    change = {"email": "ALICE@example.com"}
    assert client.patch("/api/users/alice", json=change, headers=ALICE).status_code == 200


def test_update_user_empty_body_changes_nothing(client, alice):
    response = client.patch("/api/users/alice", json={}, headers=ALICE)

    assert response.status_code == 200
    assert response.json == alice


def test_update_user_account_type_by_owner_is_403(client, alice):
    change = {"account_type": "admin_user"}
    body = assert_problem(client.patch("/api/users/alice", json=change, headers=ALICE), 403)
    assert body["detail"] == "Only an admin can change an account type."
    assert client.get("/api/users/alice").json["account_type"] == "standard_user"


def test_update_user_account_type_by_admin(client, alice):
    change = {"account_type": "admin_user"}
    response = client.patch("/api/users/alice", json=change, headers=JOHN)

    assert response.status_code == 200
    assert response.json["account_type"] == "admin_user"


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (JANE, 403)])
def test_update_user_by_stranger_is_refused(client, alice, headers, status):
    body = assert_problem(
        client.patch("/api/users/alice", json={"last_name": "X"}, headers=headers), status
    )
    if status == 403:
        assert body["detail"] == "You can only change your own account."
    assert client.get("/api/users/alice").json["last_name"] == "Liddell"


@pytest.mark.parametrize("username", ["nobody", "not a name"])
def test_update_user_unknown_by_admin_is_404(client, username):
    response = client.patch(f"/api/users/{username}", json={"last_name": "X"}, headers=JOHN)

    assert assert_problem(response, 404)["detail"] == f"There is no user {username!r}."


@pytest.mark.parametrize(
    "body",
    [
        {"first_name": None},
        {"password": "short"},
        {"email": "nope"},
        {"username": "renamed"},
        {"role": "admin_user"},
    ],
)
def test_update_user_invalid_body_is_422(client, alice, body):
    assert_problem(client.patch("/api/users/alice", json=body, headers=ALICE), 422)


# -- DELETE /api/users/<username> -----------------------------------------------------------


def test_delete_user_by_owner_releases_email(client, alice):
    response = client.delete("/api/users/alice", headers=ALICE)

    assert response.status_code == 204
    assert "Content-Type" not in response.headers
    assert response.get_data() == b""
    assert_problem(client.get("/api/users/alice"), 404)
    again = new_user(username="alice2", email="alice@example.com")
    assert client.post("/api/users", json=again).status_code == 201


def test_delete_user_by_admin(client, alice):
    assert client.delete("/api/users/alice", headers=JOHN).status_code == 204
    assert_problem(client.delete("/api/users/alice", headers=JOHN), 404)


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (JANE, 403)])
def test_delete_user_by_stranger_is_refused(client, alice, headers, status):
    assert_problem(client.delete("/api/users/alice", headers=headers), status)
    assert client.get("/api/users/alice").status_code == 200


# -- Recent authentication for sensitive changes (REAUTH_WINDOW) ----------------------------

REAUTH = "tag:users-api,2026:reauthentication-required"
WINDOW = 600  # REAUTH_WINDOW's default
NEW_EMAIL = {"email": "alice.new@example.com"}


@pytest.fixture
def alice_session(client, alice, clock):
    """Alice's bearer header, from a login at the clock's start."""
    return bearer(login(client, "alice", "correct horse battery")["token"])


def reauthenticate(client, headers, password="correct horse battery"):
    return client.post(
        "/api/sessions/current/reauthentication", json={"password": password}, headers=headers
    )


def test_own_email_change_within_the_window_needs_no_password(client, alice_session, clock):
    clock.advance(WINDOW - 1)

    response = client.patch("/api/users/alice", json=NEW_EMAIL, headers=alice_session)

    assert response.status_code == 200
    assert response.json["email"] == "alice.new@example.com"


@pytest.mark.parametrize(
    ("method", "body", "how"),
    [("PATCH", NEW_EMAIL, "send current_password"), ("DELETE", None, "send HTTP Basic")],
    ids=["email-change", "deletion"],
)
def test_sensitive_change_after_the_window_is_403_reauthentication_required(
    client, alice_session, clock, method, body, how
):
    clock.advance(WINDOW)

    response = client.open("/api/users/alice", method=method, json=body, headers=alice_session)

    problem = assert_problem(response, 403, REAUTH)
    assert problem["title"] == "Reauthentication required"
    assert how in problem["detail"]
    assert "POST /api/sessions/current/reauthentication" in problem["detail"]
    assert client.get("/api/users/alice", headers=alice_session).json["email"] == (
        "alice@example.com"
    )


def test_own_email_change_with_current_password_needs_no_recent_session(
    client, alice_session, clock
):
    clock.advance(WINDOW)  # the session still lives (idle timeout 30 min)
    body = {**NEW_EMAIL, "current_password": "correct horse battery"}

    response = client.patch("/api/users/alice", json=body, headers=alice_session)

    assert response.status_code == 200
    assert response.json["email"] == "alice.new@example.com"


def test_own_email_change_with_a_wrong_current_password_is_422(client, alice_session, clock):
    clock.advance(WINDOW)
    body = {**NEW_EMAIL, "current_password": "not my password"}

    response = client.patch("/api/users/alice", json=body, headers=alice_session)

    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "current_password"
    assert client.get("/api/users/alice", headers=ALICE).json["email"] == "alice@example.com"


def test_reauthentication_opens_a_new_window(client, alice_session, clock):
    clock.advance(WINDOW)
    assert reauthenticate(client, alice_session).status_code == 200
    clock.advance(WINDOW - 1)

    assert client.delete("/api/users/alice", headers=alice_session).status_code == 204


@pytest.mark.parametrize(
    ("method", "body"),
    [("PATCH", NEW_EMAIL), ("DELETE", None)],
    ids=["email-change", "deletion"],
)
def test_http_basic_is_a_proof_of_its_own(client, alice, method, body):
    response = client.open("/api/users/alice", method=method, json=body, headers=ALICE)

    assert response.status_code in (200, 204)


@pytest.mark.parametrize(
    "body", [{"first_name": "Ali"}, {"email": "alice@example.com"}], ids=["names", "same-email"]
)
def test_changes_that_are_not_sensitive_need_no_recent_proof(client, alice_session, clock, body):
    clock.advance(WINDOW)  # the session still lives (idle timeout 30 min)

    assert client.patch("/api/users/alice", json=body, headers=alice_session).status_code == 200


def test_an_admin_changing_another_users_email_needs_no_recent_proof(client, alice, clock):
    john = bearer(login(client)["token"])
    clock.advance(WINDOW)  # the session still lives (idle timeout 30 min)

    response = client.patch("/api/users/alice", json=NEW_EMAIL, headers=john)

    assert response.status_code == 200
    assert client.delete("/api/users/alice", headers=john).status_code == 204


def test_reauth_window_zero_needs_the_password_every_time(aws, settings):
    client = create_app({**settings, "REAUTH_WINDOW": 0}).test_client()
    assert client.post("/api/users", json=new_user()).status_code == 201
    token = bearer(login(client, "alice", "correct horse battery")["token"])

    response = client.patch("/api/users/alice", json=NEW_EMAIL, headers=token)

    assert_problem(response, 403, REAUTH)
    body = {**NEW_EMAIL, "current_password": "correct horse battery"}
    assert client.patch("/api/users/alice", json=body, headers=token).status_code == 200


# -- Races ----------------------------------------------------------------------------------


def _register_concurrently(app, bodies):
    barrier = threading.Barrier(len(bodies))

    def register(body):
        client = app.test_client()
        barrier.wait()
        return client.post("/api/users", json=body).status_code

    with ThreadPoolExecutor(len(bodies)) as pool:
        return sorted(pool.map(register, bodies))


def _table_items(store, table):
    return store.client.scan(TableName=store.table_name(table))["Items"]


def test_register_same_username_concurrently_one_wins(engine_app):
    app, store = engine_app, state_of(engine_app).store
    app.test_client().get("/api/users")
    bodies = [new_user(email=f"alice{i}@example.com") for i in range(20)]

    codes = _register_concurrently(app, bodies)

    assert codes == [201] + [409] * 19
    users = [i for i in _table_items(store, "users") if i["username"]["S"] == "alice"]
    assert len(users) == 1
    claims = [i for i in _table_items(store, "user_emails") if i["username"]["S"] == "alice"]
    assert [c["email"]["S"] for c in claims] == [users[0]["email"]["S"]]


def test_register_same_email_concurrently_one_wins(engine_app):
    app, store = engine_app, state_of(engine_app).store
    app.test_client().get("/api/users")
    bodies = [new_user(username=f"alice{i}", email="shared@example.com") for i in range(20)]

    codes = _register_concurrently(app, bodies)

    assert codes == [201] + [409] * 19
    owners = [i for i in _table_items(store, "users") if i["email"]["S"] == "shared@example.com"]
    assert len(owners) == 1
    claims = [
        i for i in _table_items(store, "user_emails") if i["email"]["S"] == "shared@example.com"
    ]
    assert [c["username"]["S"] for c in claims] == [owners[0]["username"]["S"]]


def test_two_admins_disabling_each_other_at_once_leave_one_who_can_act(engine_app):
    client = engine_app.test_client()
    assert client.post("/api/users", json=new_user(account_type="admin_user"), headers=JOHN)
    barrier = threading.Barrier(2)

    def disable_other(pair):
        headers, other = pair
        barrier.wait()
        return disable(client, other, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(disable_other, [(JOHN, "alice"), (ALICE, "johndoe")]))

    # The loser's own request fails: the last admin who can act (409), or, when the other
    # disable landed before its credentials were checked, a disabled account (403).
    assert codes[0] == 200
    assert codes[1] in (403, 409)
    store = state_of(engine_app).store
    admins = [tables.users.get(store, name) for name in ("alice", "johndoe")]
    assert [admin.counts_as_admin for admin in admins].count(True) == 1
    assert tables.users.admin_count(store) == 1


def test_timestamps_come_from_the_app_clock(client, clock):
    clock.advance(0.25)
    john = client.get("/api/users/johndoe", headers=JOHN).json  # seeded by this request
    clock.advance(60)

    alice = client.post("/api/users", json=new_user()).json

    assert john["created_at"] == john["updated_at"] == "2027-01-15T08:00:00.250Z"
    assert alice["created_at"] == alice["updated_at"] == "2027-01-15T08:01:00.250Z"


# -- Password policy and query-string passwords ---------------------------------------------

COMMON = "is one of the most commonly used passwords; choose another"


@pytest.mark.parametrize(
    ("password", "detail"),
    [
        ("password1", COMMON),
        ("PASSWORD1", COMMON),
        ("Iloveyou1", COMMON),
        ("qwertyuiop", COMMON),
        ("alice-in-chains", None),
        ("Alice-Wonder", None),
    ],
)
def test_register_refuses_common_passwords(client, password, detail):
    response = client.post("/api/users", json=new_user(password=password))

    if detail is None:
        assert response.status_code == 201
    else:
        assert response.status_code == 422
        assert response.json["errors"][0]["detail"] == detail


@pytest.mark.parametrize(
    "password", ["alicewonderland", "AliceWonderland", "wonder@example.com", "WONDER@example.com"]
)
def test_register_refuses_password_equal_to_username_or_email(client, password):
    body = new_user(username="alicewonderland", email="wonder@example.com", password=password)

    response = client.post("/api/users", json=body)

    assert response.status_code == 422
    assert response.json["errors"] == [
        {
            "location": "json",
            "field": "password",
            "detail": "must not be the same as the username or the email address",
        }
    ]


def test_password_change_applies_the_policy(client):
    response = client.patch(
        "/api/users/janedoe",
        json={"password": "football1", "current_password": "JanePass123"},
        headers=JANE,
    )

    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "password"


@pytest.mark.parametrize(
    ("environment", "status"), [("development", 200), ("testing", 200), ("production", 400)]
)
def test_query_string_password_refused_in_production(aws, settings, environment, status):
    from app.config import ENVIRONMENTS, settings_of

    defaults = settings_of(ENVIRONMENTS[environment])
    settings["ALLOW_QUERY_CREDENTIALS"] = defaults["ALLOW_QUERY_CREDENTIALS"]
    client = create_app(settings).test_client()
    client.get("/api/users")
    checks = []
    real = state_of(client.application).passwords.check
    state_of(client.application).passwords.check = lambda *a: checks.append(1) or real(*a)

    response = client.get("/api/user?username=johndoe&password=JohnPass123")

    assert response.status_code == status
    assert checks == ([] if status == 400 else [1])


@pytest.mark.parametrize(
    ("query", "missing"),
    [({"username": "johndoe"}, "password"), ({"password": "JohnPass123"}, "username")],
)
@pytest.mark.parametrize("headers", [{}, JOHN], ids=["anonymous", "with-basic"])
def test_check_credentials_with_half_the_query_credentials_is_400(
    client, store, query, missing, headers
):
    response = client.get("/api/user", query_string=query, headers=headers)

    body = assert_problem(response, 400)
    assert body["detail"] == "Give both username and password in the query, or neither."
    given = ({"username", "password"} - {missing}).pop()
    assert body["errors"] == [
        {"location": "query", "field": missing, "detail": f"is required with {given}"}
    ]
    assert store.get("login_failures", {"username": "johndoe"}) is None  # nothing was checked


def test_delete_user_of_someone_else_says_delete(client, alice):
    body = assert_problem(client.delete("/api/users/janedoe", headers=ALICE), 403)

    assert body["detail"] == "You can only delete your own account."


# -- Who may read the directory (DIRECTORY) -------------------------------------------------


def directory_client(settings, directory, **more):
    return create_app({**settings, "DIRECTORY": directory, **more}).test_client()


@pytest.mark.parametrize(
    ("directory", "who", "status"),
    [
        ("public", None, 200),
        ("public", JANE, 200),
        ("signed_in", None, 401),
        ("signed_in", JANE, 200),
        ("signed_in", JOHN, 200),
        ("admins", None, 401),
        ("admins", JANE, 403),
        ("admins", JOHN, 200),
    ],
)
@pytest.mark.parametrize("path", ["/api/users", "/api/users/johndoe"])
def test_directory_decides_who_reads_the_list_and_others_profiles(
    aws, settings, directory, who, status, path
):
    client = directory_client(settings, directory)

    response = client.get(path, headers=who or {})

    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"] == (
            'Basic realm="users-api", Bearer realm="users-api"'
        )
    if status == 403:
        assert response.json["detail"] == "Only admins can read other users' accounts."


@pytest.mark.parametrize("directory", ["signed_in", "admins"])
def test_a_user_always_reads_their_own_profile(aws, settings, directory):
    client = directory_client(settings, directory)

    response = client.get("/api/users/janedoe", headers=JANE)

    assert response.status_code == 200
    assert response.json["email"] == "janedoe@example.com"  # the self view


def test_production_directory_is_for_signed_in_users():
    from app.config import config_from_env

    assert config_from_env({"APP_ENV": "production"})["DIRECTORY"] == "signed_in"
    assert config_from_env({})["DIRECTORY"] == "public"


def test_directory_must_be_one_of_three():
    from app.config import ConfigError, config_from_env

    with pytest.raises(ConfigError, match="DIRECTORY must be one of public, signed_in, admins"):
        config_from_env({"DIRECTORY": "everyone"})


def test_anonymous_directory_reads_have_a_budget_per_address(aws, settings):
    client = directory_client(settings, "public", RATELIMIT_DIRECTORY="3 per minute")

    answers = [client.get("/api/users").status_code for _ in range(2)]
    answers += [client.get("/api/users/janedoe").status_code]
    refused = client.get("/api/users")

    assert answers == [200, 200, 200]
    assert refused.status_code == 429
    assert "(3 per 1 minute)" in refused.json["detail"]
    # Readers who sign in are not counted; another address has its own budget.
    assert client.get("/api/users", headers=JANE).status_code == 200
    other = client.get("/api/users", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert other.status_code == 200


# -- Finding a user by email (admins) -------------------------------------------------------


def test_an_admin_finds_a_user_by_exact_email(client, alice):
    found = client.get("/api/users", query_string={"email": "Alice@Example.com"}, headers=JOHN)
    nobody = client.get("/api/users", query_string={"email": "nobody@example.com"}, headers=JOHN)

    assert found.status_code == 200
    assert [user["username"] for user in found.json] == ["alice"]
    assert "Link" not in found.headers
    assert (nobody.status_code, nobody.json) == (200, [])


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (JANE, 403)])
def test_only_an_admin_searches_by_email(client, alice, headers, status):
    response = client.get(
        "/api/users", query_string={"email": "alice@example.com"}, headers=headers
    )

    problem = assert_problem(response, status)
    assert "alice" not in str(problem)


def test_a_search_by_a_malformed_email_is_422(client):
    response = client.get("/api/users", query_string={"email": "not-an-email"}, headers=JOHN)

    assert assert_problem(response, 422)["errors"][0]["field"] == "email"


# -- Finding users by username prefix (admins) ----------------------------------------------


def register(client, *usernames: str) -> None:
    """Register standard users with these names (emails from the names)."""
    for name in usernames:
        body = new_user(username=name, email=f"{name}@example.com")
        assert client.post("/api/users", json=body).status_code == 201


def test_an_admin_pages_through_a_prefix_in_username_order(client):
    names = [f"user{n:02d}" for n in range(23)] + ["zed", "usa"]
    register(client, *reversed(names))
    seen, url = [], "/api/users?prefix=USER&limit=4"

    while url:
        response = client.get(url, headers=JOHN)
        assert response.status_code == 200
        assert all(user["disabled"] is False for user in response.json)
        seen += [user["username"] for user in response.json]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None

    assert seen == [f"user{n:02d}" for n in range(23)]


def test_an_empty_prefix_lists_every_user_in_order(client):
    register(client, "mallory", "bob")

    response = client.get("/api/users", query_string={"prefix": ""}, headers=JOHN)

    assert [u["username"] for u in response.json] == ["bob", "janedoe", "johndoe", "mallory"]


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (JANE, 403)])
def test_only_an_admin_searches_by_prefix(client, headers, status):
    response = client.get("/api/users", query_string={"prefix": "jo"}, headers=headers)

    assert_problem(response, status)


@pytest.mark.parametrize("prefix", ["a b", "é", "x" * 33, "%"])
def test_a_prefix_that_no_username_can_start_with_is_422(client, prefix):
    response = client.get("/api/users", query_string={"prefix": prefix}, headers=JOHN)

    assert assert_problem(response, 422)["errors"][0]["field"] == "prefix"


# -- Disabled accounts ----------------------------------------------------------------------

DISABLED = "tag:users-api,2026:account-disabled"


def disable(client, username: str, disabled: bool = True, headers=JOHN):
    return client.patch(f"/api/users/{username}", json={"disabled": disabled}, headers=headers)


def test_disabling_ends_the_sessions_at_once(client, alice):
    token = login(client, "alice", "correct horse battery")["token"]

    response = disable(client, "alice")

    assert (response.status_code, response.json["disabled"]) == (200, True)
    assert_problem(client.get("/api/user", headers=bearer(token)), 401)
    assert client.get("/api/users/alice/sessions", headers=JOHN).json == []


@pytest.mark.parametrize(
    "sign_in",
    [
        lambda c: c.post("/api/sessions", json={"username": "alice", "password": PASSWORD}),
        lambda c: c.get("/api/user", headers=ALICE),
    ],
    ids=["login", "basic"],
)
def test_a_disabled_user_gets_403_only_for_the_right_password(client, alice, sign_in):
    disable(client, "alice")

    refused = sign_in(client)
    wrong = client.post("/api/sessions", json={"username": "alice", "password": "wrong guess!"})

    problem = assert_problem(refused, 403, DISABLED)
    assert problem["title"] == "Account disabled"
    assert_refused_credentials_or_login(wrong)


def assert_refused_credentials_or_login(response) -> None:
    """The 401 of a wrong password: nothing says the account is disabled."""
    body = assert_problem(response, 401)
    assert "disabled" not in str(body).lower()


def test_enabling_restores_sign_in(client, alice):
    disable(client, "alice")

    response = disable(client, "alice", False)

    assert (response.status_code, response.json["disabled"]) == (200, False)
    assert login(client, "alice", PASSWORD)["user"]["disabled"] is False


def test_a_disabled_users_name_and_email_stay_taken(client, alice):
    disable(client, "alice")

    again = client.post("/api/users", json=new_user(email="other@example.com"))
    same_email = client.post("/api/users", json=new_user(username="alice2"))

    assert (again.status_code, same_email.status_code) == (409, 409)


def test_admins_see_which_accounts_are_disabled(client, alice):
    disable(client, "alice")

    as_admin = client.get("/api/users", headers=JOHN).json
    as_anyone = client.get("/api/users").json
    by_email = client.get("/api/users?email=alice@example.com", headers=JOHN).json

    assert {u["username"]: u["disabled"] for u in as_admin}["alice"] is True
    assert all("disabled" not in u for u in as_anyone)
    assert by_email[0]["disabled"] is True
    assert client.get("/api/users/alice", headers=JOHN).json["disabled"] is True
    assert "disabled" not in client.get("/api/users/alice").json


@pytest.mark.parametrize(
    ("username", "headers", "status"),
    [("alice", JANE, 403), ("janedoe", JANE, 403), ("johndoe", JOHN, 403), ("nobody", JOHN, 404)],
    ids=["not-an-admin", "oneself-not-an-admin", "an-admin-oneself", "no-such-user"],
)
def test_who_may_not_disable(client, alice, username, headers, status):
    response = disable(client, username, headers=headers)

    assert_problem(response, status)
    assert client.get("/api/user", headers=ALICE).status_code == 200


def test_a_disabled_admin_is_not_counted_among_the_admins(client, alice):
    assert (
        client.patch(
            "/api/users/alice", json={"account_type": "admin_user"}, headers=JOHN
        ).status_code
        == 200
    )
    assert disable(client, "johndoe", headers=ALICE).status_code == 200

    # John no longer counts: Alice is the last admin who can act.
    demote = client.patch("/api/users/alice", json={"account_type": "standard_user"}, headers=ALICE)
    assert_problem(demote, 409)
    assert disable(client, "johndoe", False, headers=ALICE).status_code == 200
    demote = client.patch("/api/users/alice", json={"account_type": "standard_user"}, headers=ALICE)
    assert demote.status_code == 200
