"""Sessions through the test client: log in, use the token, expire, revoke, log out."""

from __future__ import annotations

import base64
import hashlib

import pytest

from app import create_app
from app.helpers import sessions, tables, totp
from app.helpers.sessions import hash_token
from app.helpers.state import state_of
from app.models import Credentials
from tests.authenticator import Authenticator
from tests.helpers import (
    JANE,
    JOHN,
    assert_problem,
    basic,
    bearer,
    before_first,
    enrol_totp,
    login,
    new_user,
)

TTL = 12 * 3600
BASIC_OR_BEARER = 'Basic realm="users-api", Bearer realm="users-api"'
IDLE = 30 * 60


def assert_401(response):
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="users-api"'
    return response.get_data()


def session_items(store):
    return store.client.scan(TableName=store.table_name("sessions"))["Items"]


# -- POST /api/sessions ---------------------------------------------------------------------


def test_login_returns_token_expiry_and_self_view(client, clock):
    response = client.post("/api/sessions", json={"username": "JohnDoe", "password": "JohnPass123"})

    assert response.status_code == 201
    assert response.headers["Location"] == "/api/sessions/current"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer"
    owner, _, secret = body["token"].partition(".")
    assert base64.urlsafe_b64decode(owner + "==") == b"johndoe"
    assert len(secret) == 43  # 32 random bytes, URL-safe base64
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert body["user"]["username"] == "johndoe"
    assert body["user"]["email"] == "johndoe@example.com"
    assert body["expires_at"] == "2027-01-15T08:30:00.000Z"  # clock + 30 min idle timeout


def test_login_gives_a_new_token_every_time(client):
    tokens = {login(client)["token"] for _ in range(3)}

    assert len(tokens) == 3


def test_login_stores_only_the_token_hash(client, store):
    token = login(client)["token"]

    items = session_items(store)
    assert len(items) == 1
    assert token not in str(items)
    # Worked out here, not by the app's own function: the stored form is a plain SHA-256.
    assert items[0]["token_hash"]["S"] == hashlib.sha256(token.encode()).hexdigest()
    assert items[0]["username"]["S"] == "johndoe"
    assert int(items[0]["expires_at"]["N"]) > 0


def test_sessions_table_has_ttl_and_username_index(client, store):
    login(client)
    name = store.table_name("sessions")

    ttl = store.client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    indexes = store.client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert [i["KeySchema"][0]["AttributeName"] for i in indexes] == ["username"]


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": "johndoe", "password": "wrong-password"},
        {"username": "nobody", "password": "wrong-password"},
        {"username": "not a name!", "password": "wrong-password"},
    ],
)
def test_login_failure_is_one_401_for_every_reason(client, credentials):
    reference = client.post(
        "/api/sessions", json={"username": "janedoe", "password": "wrong-password"}
    )
    response = client.post("/api/sessions", json=credentials)

    assert assert_401(response) == assert_401(reference)


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "johndoe"}, {"password": "x"}, {"username": "", "password": "x"}, []],
)
def test_login_malformed_body_is_422(client, body):
    response = client.post("/api/sessions", json=body)

    assert response.status_code == 422
    assert response.json["errors"]


# -- Using the token ------------------------------------------------------------------------


def test_token_answers_who_am_i(client):
    token = login(client, "janedoe", "JanePass123")["token"]

    response = client.get("/api/user", headers=bearer(token))

    assert response.status_code == 200
    assert response.json["username"] == "janedoe"
    assert response.headers["Cache-Control"] == "no-store"


def test_token_authenticates_every_basic_route(client):
    token = login(client)["token"]
    auth = bearer(token)

    assert set(client.get("/api/users/janedoe", headers=auth).json) >= {"email"}
    admin = new_user(account_type="admin_user")
    assert client.post("/api/users", json=admin, headers=auth).status_code == 201
    change = {"last_name": "Liddell-Hart"}
    assert client.patch("/api/users/alice", json=change, headers=auth).status_code == 200
    assert client.delete("/api/users/alice", headers=auth).status_code == 204


def test_token_of_standard_user_gets_no_admin_rights(client):
    token = login(client, "janedoe", "JanePass123")["token"]

    response = client.patch("/api/users/johndoe", json={"first_name": "X"}, headers=bearer(token))

    assert response.status_code == 403


def test_current_session_describes_itself(client, clock):
    token = login(client)["token"]

    response = client.get("/api/sessions/current", headers=bearer(token))

    assert response.status_code == 200
    assert response.json["current"] is True
    assert response.json["created_at"] == "2027-01-15T08:00:00.000Z"
    assert "token" not in response.json


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_current_session_refuses_basic_without_checking_the_password(app, client, method):
    checks = []
    hasher = state_of(app).passwords
    real = hasher.check
    hasher.check = lambda *args: checks.append(1) or real(*args)

    response = client.open("/api/sessions/current", method=method, headers=JOHN)

    assert_401(response)  # and the challenge offers Bearer only: Basic cannot work here
    assert response.json["detail"] == "Valid credentials are required."
    assert checks == []


# -- POST /api/sessions/current/reauthentication --------------------------------------------

REAUTHENTICATION = "/api/sessions/current/reauthentication"


def test_reauthentication_records_when_the_password_was_proven(client, clock):
    token = bearer(login(client)["token"])
    clock.advance(120)

    response = client.post(REAUTHENTICATION, json={"password": "JohnPass123"}, headers=token)

    assert response.status_code == 200
    assert response.json["current"] is True
    assert response.json["created_at"] == "2027-01-15T08:00:00.000Z"
    assert response.json["authenticated_at"] == "2027-01-15T08:02:00.000Z"
    current = client.get("/api/sessions/current", headers=token).json
    assert current["authenticated_at"] == "2027-01-15T08:02:00.000Z"


def test_a_new_session_was_authenticated_when_it_began(client, clock):
    token = bearer(login(client)["token"])

    current = client.get("/api/sessions/current", headers=token).json

    assert current["authenticated_at"] == current["created_at"] == "2027-01-15T08:00:00.000Z"


def test_reauthentication_with_a_wrong_password_is_422_and_the_session_stays(client, clock):
    token = bearer(login(client)["token"])
    clock.advance(120)

    response = client.post(REAUTHENTICATION, json={"password": "not it"}, headers=token)

    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {"location": "json", "field": "password", "detail": "is not the current password"}
    ]
    current = client.get("/api/sessions/current", headers=token)
    assert current.status_code == 200
    assert current.json["authenticated_at"] == "2027-01-15T08:00:00.000Z"


def test_wrong_reauthentications_count_under_the_lockout(client):
    token = bearer(login(client)["token"])
    for _ in range(5):
        client.post(REAUTHENTICATION, json={"password": "not it"}, headers=token)

    response = client.post(REAUTHENTICATION, json={"password": "JohnPass123"}, headers=token)

    assert_problem(response, 429)
    assert "Retry-After" in response.headers


def test_reauthentication_needs_a_token(client, app):
    checks = []
    hasher = state_of(app).passwords
    real = hasher.check
    hasher.check = lambda *args: checks.append(1) or real(*args)

    response = client.post(REAUTHENTICATION, json={"password": "JohnPass123"}, headers=JOHN)

    assert_401(response)
    assert checks == []


def test_reauthentication_of_a_session_ended_meanwhile_is_401(client, store):
    token = login(client)["token"]
    # The session ends while the password is checked (a logout in another tab): the
    # check's last write is forgetting the failures (a DeleteItem).
    before_first(store, "DeleteItem", lambda: tables.sessions.delete(store, hash_token(token)))

    response = client.post(
        REAUTHENTICATION, json={"password": "JohnPass123"}, headers=bearer(token)
    )

    assert_401(response)
    assert tables.sessions.get_with_user(store, hash_token(token), "johndoe")[0] is None


# -- Expiry ---------------------------------------------------------------------------------


def test_token_expires_after_idle_timeout(client, clock):
    token = login(client)["token"]

    clock.advance(IDLE - 1)
    assert client.get("/api/user", headers=bearer(token)).status_code == 200
    clock.advance(IDLE - 1)  # idle for just under the timeout since the last use
    assert client.get("/api/user", headers=bearer(token)).status_code == 200
    clock.advance(IDLE)
    assert_401(client.get("/api/user", headers=bearer(token)))


def test_token_expires_at_absolute_lifetime_even_when_busy(client, clock):
    token = login(client)["token"]

    for _ in range(TTL // (IDLE // 2) - 1):
        clock.advance(IDLE // 2)
        assert client.get("/api/user", headers=bearer(token)).status_code == 200
    clock.advance(IDLE // 2)
    assert_401(client.get("/api/user", headers=bearer(token)))


def test_token_use_is_written_back_at_most_once_a_minute(client, store, clock):
    token = login(client)["token"]
    updates = []
    store.client.meta.events.register(
        "before-call.dynamodb.UpdateItem", lambda **kw: updates.append(1)
    )

    for _ in range(5):
        clock.advance(10)
        assert client.get("/api/user", headers=bearer(token)).status_code == 200
    assert updates == []
    clock.advance(9.5)  # 59.5 s since the login
    client.get("/api/user", headers=bearer(token))
    assert updates == []
    clock.advance(0.5)  # the refresh interval, to the second
    client.get("/api/user", headers=bearer(token))
    client.get("/api/user", headers=bearer(token))
    assert updates == [1]


def test_expired_session_is_refused_even_if_dynamodb_has_not_deleted_it(client, store, clock):
    token = login(client)["token"]
    clock.advance(TTL + 1)

    assert_401(client.get("/api/user", headers=bearer(token)))
    assert len(session_items(store)) == 1  # TTL deletion is DynamoDB's, and late


# -- Logging out and revoking ---------------------------------------------------------------


def test_logout_ends_the_token_at_once(client, store):
    token = login(client)["token"]

    response = client.delete("/api/sessions/current", headers=bearer(token))

    assert response.status_code == 204
    assert_401(client.get("/api/user", headers=bearer(token)))
    assert session_items(store) == []


def test_rejected_tokens_all_get_the_same_401(client, clock):
    revoked = login(client, "janedoe", "JanePass123")["token"]
    client.delete("/api/sessions/current", headers=bearer(revoked))
    expired = login(client, "janedoe", "JanePass123")["token"]
    client.post("/api/users", json=new_user())
    orphan = login(client, "alice", "correct horse battery")["token"]
    client.delete("/api/users/alice", headers=JOHN)
    clock.advance(IDLE + 1)
    random = "am9obmRvZQ." + "A" * 43  # johndoe's prefix, a made-up secret
    forged = revoked.replace(revoked.partition(".")[0], "am9obmRvZQ")  # jane's secret as john

    bodies = {
        assert_401(client.get("/api/user", headers=bearer(token)))
        for token in (revoked, expired, orphan, random, forged, "short", "x" * 500, "a.b")
    }

    assert len(bodies) == 1


def test_list_sessions_shows_live_sessions_without_tokens(client, clock):
    first = login(client, "janedoe", "JanePass123")["token"]
    clock.advance(5)
    second = login(client, "janedoe", "JanePass123")["token"]

    response = client.get("/api/users/janedoe/sessions", headers=bearer(second))

    assert response.status_code == 200
    listed = response.json
    assert [s["current"] for s in listed] == [True, False]
    assert set(listed[0]) == {
        "id",
        "created_at",
        "authenticated_at",
        "amr",
        "second_factor_at",
        "last_seen_at",
        "expires_at",
        "current",
        "user_agent",
        "address",
    }
    text = response.get_data(as_text=True)
    for token in (first, second):
        assert token not in text
        assert hash_token(token) not in text


def test_list_sessions_by_admin_and_not_by_others(client):
    login(client, "janedoe", "JanePass123")

    assert len(client.get("/api/users/janedoe/sessions", headers=JOHN).json) == 1
    forbidden = client.get("/api/users/johndoe/sessions", headers=JANE)
    assert forbidden.status_code == 403
    assert forbidden.json["detail"] == "You can only see the sessions of your own account."
    anonymous = client.get("/api/users/janedoe/sessions")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == BASIC_OR_BEARER
    missing = client.get("/api/users/nobody/sessions", headers=JOHN)
    assert missing.status_code == 404
    assert missing.json["detail"] == "There is no user 'nobody'."


def test_revoke_all_sessions_logs_out_everywhere(client):
    tokens = [login(client, "janedoe", "JanePass123")["token"] for _ in range(3)]

    response = client.delete("/api/users/janedoe/sessions", headers=bearer(tokens[0]))

    assert response.status_code == 204
    for token in tokens:
        assert_401(client.get("/api/user", headers=bearer(token)))
    fresh = login(client, "janedoe", "JanePass123")["token"]
    assert client.get("/api/user", headers=bearer(fresh)).status_code == 200


def test_revoke_all_sessions_of_another_user_needs_admin(client):
    token = login(client, "janedoe", "JanePass123")["token"]

    forbidden = client.delete("/api/users/johndoe/sessions", headers=bearer(token))
    assert forbidden.status_code == 403
    assert forbidden.json["detail"] == "You can only end the sessions of your own account."
    assert client.delete("/api/users/janedoe/sessions", headers=JOHN).status_code == 204
    assert_401(client.get("/api/user", headers=bearer(token)))


# -- Password changes, deletion, demotion ---------------------------------------------------


def test_password_change_needs_the_current_password(client):
    token = login(client, "janedoe", "JanePass123")["token"]
    auth = bearer(token)

    missing = client.patch("/api/users/janedoe", json={"password": "new secret 123"}, headers=auth)
    wrong = client.patch(
        "/api/users/janedoe",
        json={"password": "new secret 123", "current_password": "not it"},
        headers=auth,
    )

    for response, detail in (
        (missing, "is required to set a new password"),
        (wrong, "is not the current password"),
    ):
        assert response.status_code == 422
        assert response.json["errors"] == [
            {"location": "json", "field": "current_password", "detail": detail}
        ]
    assert client.get("/api/user", headers=JANE).status_code == 200


def test_password_change_ends_every_other_session(client):
    mine = login(client, "janedoe", "JanePass123")["token"]
    others = [login(client, "janedoe", "JanePass123")["token"] for _ in range(2)]

    response = client.patch(
        "/api/users/janedoe",
        json={"password": "new secret 123", "current_password": "JanePass123"},
        headers=bearer(mine),
    )

    assert response.status_code == 200
    assert client.get("/api/user", headers=bearer(mine)).status_code == 200
    for token in others:
        assert_401(client.get("/api/user", headers=bearer(token)))
    listed = client.get("/api/users/janedoe/sessions", headers=bearer(mine)).json
    assert [s["current"] for s in listed] == [True]


def test_admin_changes_another_users_password_without_theirs(client):
    token = login(client, "janedoe", "JanePass123")["token"]

    response = client.patch(
        "/api/users/janedoe", json={"password": "set by the admin"}, headers=JOHN
    )

    assert response.status_code == 200
    assert_401(client.get("/api/user", headers=bearer(token)))
    assert client.get("/api/user", headers=basic("janedoe", "set by the admin")).status_code == 200


def test_admin_changing_own_password_needs_current_one(client):
    response = client.patch("/api/users/johndoe", json={"password": "new secret 123"}, headers=JOHN)

    assert response.status_code == 422


def test_deleted_user_token_fails_and_a_new_account_with_the_name_does_not_revive_it(client, store):
    client.post("/api/users", json=new_user())
    token = login(client, "alice", "correct horse battery")["token"]

    assert client.delete("/api/users/alice", headers=bearer(token)).status_code == 204
    assert_401(client.get("/api/user", headers=bearer(token)))
    assert stored_sessions_of(store, "alice") == []  # tidied, not only dead
    client.post("/api/users", json=new_user())
    assert_401(client.get("/api/user", headers=bearer(token)))


def test_demoted_admin_loses_rights_on_next_request(client):
    client.post("/api/users", json=new_user(account_type="admin_user"), headers=JOHN)
    token = login(client, "alice", "correct horse battery")["token"]
    auth = bearer(token)
    assert (
        client.patch("/api/users/janedoe", json={"last_name": "D"}, headers=auth).status_code == 200
    )

    demote = {"account_type": "standard_user"}
    assert client.patch("/api/users/alice", json=demote, headers=JOHN).status_code == 200

    assert (
        client.patch("/api/users/janedoe", json={"last_name": "E"}, headers=auth).status_code == 403
    )


# -- Two app instances over one DynamoDB ----------------------------------------------------


def test_two_instances_share_sessions(app, settings):
    other = create_app(settings)
    one, two = app.test_client(), other.test_client()

    token = login(one)["token"]
    assert two.get("/api/user", headers=bearer(token)).status_code == 200
    assert two.delete("/api/sessions/current", headers=bearer(token)).status_code == 204
    assert_401(one.get("/api/user", headers=bearer(token)))


def test_token_with_another_username_part_is_refused(client):
    token = login(client, "janedoe", "JanePass123")["token"]
    as_john = "am9obmRvZQ." + token.partition(".")[2]  # base64url("johndoe")

    assert_401(client.get("/api/user", headers=bearer(as_john)))
    assert client.get("/api/user", headers=bearer(token)).json["username"] == "janedoe"


def test_password_and_taken_email_together_change_nothing(client):
    token = login(client, "janedoe", "JanePass123")["token"]
    other = login(client, "janedoe", "JanePass123")["token"]
    change = {
        "password": "new secret 123",
        "current_password": "JanePass123",
        "email": "johndoe@example.com",
    }

    response = client.patch("/api/users/janedoe", json=change, headers=bearer(token))

    assert response.status_code == 409
    assert response.json["detail"] == "That email address is already registered."
    assert client.get("/api/user", headers=JANE).status_code == 200  # old password
    for still_alive in (token, other):
        assert client.get("/api/user", headers=bearer(still_alive)).status_code == 200


def test_password_change_with_basic_credentials_ends_every_session(client, store):
    tokens = [login(client, "janedoe", "JanePass123")["token"] for _ in range(2)]

    change = {"password": "new secret 123", "current_password": "JanePass123"}
    assert client.patch("/api/users/janedoe", json=change, headers=JANE).status_code == 200

    for token in tokens:
        assert_401(client.get("/api/user", headers=bearer(token)))
    assert session_items(store) == []  # tidied, not only dead


# -- Revocation where it is guaranteed: the user's session key, not the index clean-up -------
#
# A password change, "log out everywhere" and a deletion also delete the user's sessions,
# found through the sessions' username index. That is tidying: DynamoDB answers an index
# query eventually, so right after a login the index may not list the new session yet. What
# makes old tokens fail at once is the session key each session shares with its user. These
# tests make the index find nothing, so only the key check stands between a token and a 200.

ALICE_PASSWORD = "correct horse battery"
ALICE_NEW_PASSWORD = "a brand new secret"


def alice_tokens(client, count=3):
    """Register alice and log her in `count` times."""
    assert client.post("/api/users", json=new_user()).status_code == 201
    return [login(client, "alice", ALICE_PASSWORD)["token"] for _ in range(count)]


def stored_sessions_of(store, username):
    return [item for item in session_items(store) if item["username"]["S"] == username]


def _change_own_password(client):
    change = {"password": ALICE_NEW_PASSWORD, "current_password": ALICE_PASSWORD}
    return [client.patch("/api/users/alice", json=change, headers=basic("alice", ALICE_PASSWORD))]


def _admin_sets_password(client):
    return [client.patch("/api/users/alice", json={"password": ALICE_NEW_PASSWORD}, headers=JOHN)]


def _log_out_everywhere(client):
    return [client.delete("/api/users/alice/sessions", headers=basic("alice", ALICE_PASSWORD))]


def _admin_logs_out_everywhere(client):
    return [client.delete("/api/users/alice/sessions", headers=JOHN)]


def _delete_account(client):
    return [client.delete("/api/users/alice", headers=JOHN)]


def _delete_and_register_again(client):
    # A new account under the same name is a new person: the old tokens name it, too.
    return [*_delete_account(client), client.post("/api/users", json=new_user())]


REVOCATIONS = {
    "own-password-change": _change_own_password,
    "admin-sets-password": _admin_sets_password,
    "log-out-everywhere": _log_out_everywhere,
    "admin-logs-out-everywhere": _admin_logs_out_everywhere,
    "account-deletion": _delete_account,
    "deletion-then-same-name-registered": _delete_and_register_again,
}


@pytest.mark.parametrize("revoke", REVOCATIONS.values(), ids=REVOCATIONS)
def test_old_tokens_fail_when_the_index_has_not_caught_up(client, store, lagging_index, revoke):
    tokens = alice_tokens(client)

    for response in revoke(client):
        assert response.status_code in (200, 201, 204), response.json

    assert lagging_index, "the clean-up did not even ask the index"
    assert len(stored_sessions_of(store, "alice")) == 3  # nothing tidied: the key must hold
    for token in tokens:
        assert_401(client.get("/api/user", headers=bearer(token)))


def test_own_password_change_with_a_token_keeps_only_that_token(client, store, lagging_index):
    mine, *others = alice_tokens(client)
    change = {"password": ALICE_NEW_PASSWORD, "current_password": ALICE_PASSWORD}

    response = client.patch("/api/users/alice", json=change, headers=bearer(mine))

    assert response.status_code == 200
    assert client.get("/api/user", headers=bearer(mine)).json["username"] == "alice"
    for token in others:
        assert_401(client.get("/api/user", headers=bearer(token)))
    listed = client.get("/api/users/alice/sessions", headers=bearer(mine))
    assert listed.status_code == 200  # the listing reads the index, which lags: no sessions
    assert listed.json == []


def test_log_out_everywhere_ends_more_sessions_than_one_index_page(client, state, store, clock):
    assert client.post("/api/users", json=new_user()).status_code == 201
    alice = Credentials(username="alice", password=ALICE_PASSWORD)
    tokens = [
        sessions.login(state, credentials=alice).token for _ in range(sessions.MAX_LISTED + 20)
    ]

    response = client.delete("/api/users/alice/sessions", headers=JOHN)

    assert response.status_code == 204
    for token in tokens:
        assert_401(client.get("/api/user", headers=bearer(token)))
    assert stored_sessions_of(store, "alice") == []  # every page tidied, not only the first


# -- Races the conditional writes settle ----------------------------------------------------


def test_session_logged_out_during_a_request_is_not_served(client, store, clock):
    token = login(client)["token"]
    clock.advance(120)  # due a write-back of its last use

    def concurrent_logout():
        store.client.delete_item(
            TableName=store.table_name("sessions"),
            Key={"token_hash": {"S": hash_token(token)}},
        )

    before_first(store, "UpdateItem", concurrent_logout)

    assert_401(client.get("/api/user", headers=bearer(token)))
    assert session_items(store) == []  # the write-back did not bring it back


def test_list_sessions_leaves_out_one_that_expires_this_very_second(client, clock):
    ending = login(client, "janedoe", "JanePass123")["token"]
    clock.advance(IDLE - 60)
    fresh = login(client, "janedoe", "JanePass123")["token"]
    clock.advance(60)  # the first one's idle deadline is now

    listed = client.get("/api/users/janedoe/sessions", headers=bearer(fresh)).json

    assert [s["current"] for s in listed] == [True]
    assert_401(client.get("/api/user", headers=bearer(ending)))


def test_revoking_the_sessions_of_no_such_user_creates_nothing(client, store):
    response = client.delete("/api/users/nobody/sessions", headers=JOHN)

    assert response.status_code == 404
    assert response.json["detail"] == "There is no user 'nobody'."
    assert store.get("users", {"username": "nobody"}) is None


def test_list_sessions_leaves_out_expired_ones(client, store, clock):
    idle = login(client, "janedoe", "JanePass123")["token"]
    clock.advance(IDLE + 1)
    fresh = login(client, "janedoe", "JanePass123")["token"]

    listed = client.get("/api/users/janedoe/sessions", headers=bearer(fresh)).json

    assert len(session_items(store)) == 2  # DynamoDB has not deleted the idle one yet
    assert [s["current"] for s in listed] == [True]
    assert listed[0]["created_at"] == "2027-01-15T08:30:01.000Z"
    assert_401(client.get("/api/user", headers=bearer(idle)))


def test_current_session_shows_the_use_it_just_recorded(client, clock):
    token = login(client)["token"]
    clock.advance(120)

    session = client.get("/api/sessions/current", headers=bearer(token)).json

    assert session["last_seen_at"] == "2027-01-15T08:02:00.000Z"
    assert session["expires_at"] == "2027-01-15T08:32:00.000Z"  # idle deadline moved on


# -- Sessions a user can recognise and end one by one ---------------------------------------


def login_from(client, address, user_agent, username="janedoe", password="JanePass123"):
    response = client.post(
        "/api/sessions",
        json={"username": username, "password": password},
        headers={"User-Agent": user_agent},
        environ_base={"REMOTE_ADDR": address},
    )
    assert response.status_code == 201
    return response.json["token"]


def test_the_list_shows_where_each_session_began(client, clock):
    login_from(client, "203.0.113.7", "Firefox/140.0")
    clock.advance(5)
    phone = login_from(client, "2001:db8::42", "MobileSafari/18")

    listed = client.get("/api/users/janedoe/sessions", headers=bearer(phone)).json

    assert [(s["address"], s["user_agent"]) for s in listed] == [
        ("2001:db8::42", "MobileSafari/18"),
        ("203.0.113.7", "Firefox/140.0"),
    ]


def test_behind_a_trusted_proxy_the_list_shows_the_clients_address(aws, settings):
    client = create_app({**settings, "TRUSTED_PROXY_COUNT": 1}).test_client()
    response = client.post(
        "/api/sessions",
        json={"username": "janedoe", "password": "JanePass123"},
        headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )

    listed = client.get("/api/users/janedoe/sessions", headers=bearer(response.json["token"]))

    assert listed.json[0]["address"] == "203.0.113.7"


def test_a_user_agent_is_kept_short_and_printable(client):
    token = login_from(client, "203.0.113.7", "Evil\x1b[31mAgent\x07 " + "x" * 400)

    shown = client.get("/api/users/janedoe/sessions", headers=bearer(token)).json[0]

    assert shown["user_agent"].startswith("Evil\\x1b[31mAgent\\x07 xxx")
    assert len(shown["user_agent"]) == 256


def test_a_session_without_a_user_agent_shows_none(client):
    response = client.post(
        "/api/sessions",
        json={"username": "janedoe", "password": "JanePass123"},
        headers={"User-Agent": ""},
    )

    listed = client.get("/api/users/janedoe/sessions", headers=bearer(response.json["token"]))

    assert listed.json[0]["user_agent"] is None


def test_a_user_ends_one_session_and_only_that_one(client):
    laptop = login_from(client, "203.0.113.7", "Firefox/140.0")
    phone = login_from(client, "203.0.113.8", "MobileSafari/18")
    listed = client.get("/api/users/janedoe/sessions", headers=bearer(laptop)).json
    phone_id = next(s["id"] for s in listed if s["user_agent"] == "MobileSafari/18")

    response = client.delete(f"/api/users/janedoe/sessions/{phone_id}", headers=bearer(laptop))

    assert response.status_code == 204
    assert_401(client.get("/api/user", headers=bearer(phone)))
    assert client.get("/api/user", headers=bearer(laptop)).status_code == 200
    left = client.get("/api/users/janedoe/sessions", headers=bearer(laptop)).json
    assert [s["user_agent"] for s in left] == ["Firefox/140.0"]


def test_an_admin_ends_another_users_session(client):
    token = login(client, "janedoe", "JanePass123")["token"]
    session_id = client.get("/api/sessions/current", headers=bearer(token)).json["id"]

    response = client.delete(f"/api/users/janedoe/sessions/{session_id}", headers=JOHN)

    assert response.status_code == 204
    assert_401(client.get("/api/user", headers=bearer(token)))


def test_ending_a_session_refuses_others_and_unknown_ids(client):
    token = login(client, "johndoe", "JohnPass123")["token"]
    session_id = client.get("/api/sessions/current", headers=bearer(token)).json["id"]

    forbidden = client.delete(f"/api/users/johndoe/sessions/{session_id}", headers=JANE)
    assert forbidden.status_code == 403
    assert forbidden.json["detail"] == "You can only end the sessions of your own account."
    # janedoe cannot end johndoe's session through her own URL either: it is not hers.
    hers = client.delete(f"/api/users/janedoe/sessions/{session_id}", headers=JANE)
    assert hers.status_code == 404
    assert hers.json["detail"] == f"There is no session {session_id!r} of 'janedoe'."
    unknown = client.delete("/api/users/johndoe/sessions/nothing-like-it", headers=JOHN)
    assert unknown.status_code == 404
    anonymous = client.delete(f"/api/users/johndoe/sessions/{session_id}")
    assert anonymous.status_code == 401
    assert client.get("/api/user", headers=bearer(token)).status_code == 200


def test_an_ended_or_expired_session_cannot_be_ended_again(client, clock):
    token = login(client, "janedoe", "JanePass123")["token"]
    session_id = client.get("/api/sessions/current", headers=bearer(token)).json["id"]
    assert (
        client.delete(f"/api/users/janedoe/sessions/{session_id}", headers=JANE).status_code == 204
    )

    again = client.delete(f"/api/users/janedoe/sessions/{session_id}", headers=JANE)

    assert again.status_code == 404


# -- the second step of a sign-in ----------------------------------------------------------


@pytest.fixture
def jane_totp(client, clock):
    """Jane with TOTP on (set up in a session of her own): her secret and recovery codes."""
    secret, codes = enrol_totp(
        client, login(client, "janedoe", "JanePass123")["token"], "janedoe", clock
    )
    clock.advance(totp.STEP)
    return secret, codes


JANE_LOGIN = {"username": "janedoe", "password": "JanePass123"}


def challenge_for(client, credentials=JANE_LOGIN):
    response = client.post("/api/sessions", json=credentials)
    assert response.status_code == 202, response.json
    return response.json


def test_login_with_a_second_factor_answers_202_with_a_challenge_and_no_token(
    client, clock, jane_totp
):
    response = client.post("/api/sessions", json=JANE_LOGIN)

    assert response.status_code == 202
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"challenge", "methods", "expires_at"}
    assert body["methods"] == ["totp", "recovery_code"]
    assert len(base64.urlsafe_b64decode(body["challenge"] + "=")) == 32
    assert "Location" not in response.headers


def test_a_wrong_first_step_is_the_same_401_with_or_without_a_second_factor(client, jane_totp):
    with_factor = client.post("/api/sessions", json={**JANE_LOGIN, "password": "nope nope"})
    without = client.post("/api/sessions", json={"username": "johndoe", "password": "nope nope"})

    assert with_factor.status_code == without.status_code == 401
    assert with_factor.get_data() == without.get_data()


def test_mfa_step_opens_a_session_recording_both_factors(client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]

    response = client.post(
        "/api/sessions/mfa",
        json={"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())},
    )

    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/sessions/current")
    current = client.get("/api/sessions/current", headers=bearer(response.json["token"])).json
    assert current["amr"] == ["pwd", "otp"]
    assert current["second_factor_at"] == current["created_at"]


def test_a_session_without_a_second_step_says_password_only(client):
    token = login(client)["token"]

    current = client.get("/api/sessions/current", headers=bearer(token)).json

    assert (current["amr"], current["second_factor_at"]) == (["pwd"], None)


def test_mfa_step_with_a_recovery_code_records_it(client, jane_totp):
    challenge = challenge_for(client)["challenge"]

    response = client.post(
        "/api/sessions/mfa", json={"challenge": challenge, "code": jane_totp[1][0]}
    )

    current = client.get("/api/sessions/current", headers=bearer(response.json["token"])).json
    assert current["amr"] == ["pwd", "recovery_code"]


def test_mfa_step_keeps_the_challenge_after_a_wrong_code(client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]

    wrong = client.post("/api/sessions/mfa", json={"challenge": challenge, "code": "000000"})
    right = client.post(
        "/api/sessions/mfa",
        json={"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())},
    )

    body = assert_problem(wrong, 422)
    assert [e["field"] for e in body["errors"]] == ["code"]
    assert right.status_code == 201


def test_mfa_challenge_is_single_use(client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]
    first = {"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())}
    assert client.post("/api/sessions/mfa", json=first).status_code == 201
    clock.advance(totp.STEP)

    again = {"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())}
    assert client.post("/api/sessions/mfa", json=again).status_code == 401


def test_mfa_challenge_expires(app, client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]
    clock.advance(app.config["MFA_CHALLENGE_TTL"])

    proof = {"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())}
    assert client.post("/api/sessions/mfa", json=proof).status_code == 401


@pytest.mark.parametrize("challenge", ["", "x" * 43, "é" * 10, "a" * 300])
def test_mfa_step_refuses_a_made_up_challenge(client, jane_totp, challenge):
    response = client.post("/api/sessions/mfa", json={"challenge": challenge, "code": "123456"})

    assert response.status_code in (401, 422)
    assert response.status_code == 401 or challenge in ("", "a" * 300)


def test_mfa_step_refuses_a_replayed_code(client, clock, jane_totp):
    code = totp.code_at(jane_totp[0], clock())
    first = client.post(
        "/api/sessions/mfa", json={"challenge": challenge_for(client)["challenge"], "code": code}
    )
    assert first.status_code == 201

    replay = {"challenge": challenge_for(client)["challenge"], "code": code}
    assert client.post("/api/sessions/mfa", json=replay).status_code == 422


def test_mfa_challenge_dies_with_a_password_change(client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]
    change = {"password": "a whole new password", "current_password": "JanePass123"}
    assert client.patch("/api/users/janedoe", headers=JANE, json=change).status_code == 200

    proof = {"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())}
    assert client.post("/api/sessions/mfa", json=proof).status_code == 401


def test_wrong_codes_lock_the_second_step_not_the_password(app, client, clock, jane_totp):
    threshold = app.config["LOCKOUT_THRESHOLD"]
    challenge = challenge_for(client)["challenge"]
    for _ in range(threshold):
        client.post("/api/sessions/mfa", json={"challenge": challenge, "code": "000000"})

    locked = client.post(
        "/api/sessions/mfa",
        json={"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())},
    )

    assert assert_problem(locked, 429)["detail"].startswith("Too many wrong codes")
    assert int(locked.headers["Retry-After"]) >= 1
    # The password's own count is untouched: the first step still answers.
    assert client.post("/api/sessions", json=JANE_LOGIN).status_code == 202
    clock.advance(int(locked.headers["Retry-After"]))
    proof = {
        "challenge": challenge_for(client)["challenge"],
        "code": totp.code_at(jane_totp[0], clock()),
    }
    assert client.post("/api/sessions/mfa", json=proof).status_code == 201


def test_wrong_passwords_do_not_lock_the_second_step(app, client, clock, jane_totp):
    challenge = challenge_for(client)["challenge"]
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        client.post("/api/sessions", json={**JANE_LOGIN, "password": "nope nope"})

    proof = {"challenge": challenge, "code": totp.code_at(jane_totp[0], clock())}
    assert client.post("/api/sessions/mfa", json=proof).status_code == 201


def test_reauthentication_with_a_code_steps_the_session_up(client, clock, jane_totp):
    first = client.post(
        "/api/sessions/mfa",
        json={"challenge": challenge_for(client)["challenge"], "code": jane_totp[1][0]},
    )
    token = first.json["token"]
    clock.advance(totp.STEP)

    response = client.post(
        "/api/sessions/current/reauthentication",
        headers=bearer(token),
        json={"code": totp.code_at(jane_totp[0], clock())},
    )

    assert response.status_code == 200
    assert response.json["amr"] == ["pwd", "recovery_code", "otp"]
    assert response.json["second_factor_at"] == response.json["authenticated_at"]


def test_reauthentication_takes_a_password_or_a_code_not_both(client):
    token = login(client)["token"]

    both = {"password": "JohnPass123", "code": "123456"}
    response = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json=both
    )

    assert_problem(response, 422)


def test_reauthentication_with_a_code_needs_a_second_factor(client):
    token = login(client)["token"]

    response = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json={"code": "123456"}
    )

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["code"]


# -- passkeys -----------------------------------------------------------------------------------


@pytest.fixture
def jane_passkey(client):
    """Jane's software authenticator, holding the passkey she added."""
    token = login(client, "janedoe", "JanePass123")["token"]
    authenticator = Authenticator()
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    credential = authenticator.create(options["options"])
    added = client.post(
        "/api/users/janedoe/passkeys",
        headers=bearer(token),
        json={"name": "Phone", "credential": credential},
    )
    assert added.status_code == 201
    return authenticator


def test_a_passkey_alone_signs_in_as_a_second_factor(client, jane_passkey):
    options = client.post("/api/sessions/passkey-options").json["options"]

    response = client.post("/api/sessions/passkey", json={"credential": jane_passkey.get(options)})

    assert response.status_code == 201
    assert response.json["user"]["username"] == "janedoe"
    current = client.get("/api/sessions/current", headers=bearer(response.json["token"])).json
    assert current["amr"] == ["webauthn"]
    assert current["second_factor_at"] == current["created_at"]


def test_a_passkey_completes_the_second_step(client, jane_passkey):
    challenge = challenge_for(client)

    response = client.post(
        "/api/sessions/mfa",
        json={
            "challenge": challenge["challenge"],
            "credential": jane_passkey.get(challenge["webauthn"]),
        },
    )

    assert response.status_code == 201
    current = client.get("/api/sessions/current", headers=bearer(response.json["token"])).json
    assert current["amr"] == ["pwd", "webauthn"]


def test_a_passkey_answer_to_other_options_does_not_complete_the_second_step(client, jane_passkey):
    challenge = challenge_for(client)
    other = client.post("/api/sessions/passkey-options").json["options"]

    response = client.post(
        "/api/sessions/mfa",
        json={"challenge": challenge["challenge"], "credential": jane_passkey.get(other)},
    )

    body = assert_problem(response, 422)
    assert [e["field"] for e in body["errors"]] == ["credential"]


def test_the_second_step_takes_a_code_or_a_passkey_not_both(client, jane_passkey):
    challenge = challenge_for(client)
    both = {
        "challenge": challenge["challenge"],
        "code": "123456",
        "credential": jane_passkey.get(challenge["webauthn"]),
    }

    assert_problem(client.post("/api/sessions/mfa", json=both), 422)


def test_an_admin_signed_in_with_a_passkey_may_act(aws, settings):
    app = create_app({**settings, "REQUIRE_ADMIN_MFA": True})
    client = app.test_client()
    token = login(client)["token"]
    authenticator = Authenticator()
    options = client.post("/api/users/johndoe/passkey-options", headers=bearer(token)).json
    credential = authenticator.create(options["options"])
    client.post(
        "/api/users/johndoe/passkeys",
        headers=bearer(token),
        json={"name": "Key", "credential": credential},
    )
    assert client.get("/api/users/janedoe/sessions", headers=bearer(token)).status_code == 403

    options = client.post("/api/sessions/passkey-options").json["options"]
    signed_in = client.post(
        "/api/sessions/passkey", json={"credential": authenticator.get(options)}
    )

    assert (
        client.get(
            "/api/users/janedoe/sessions", headers=bearer(signed_in.json["token"])
        ).status_code
        == 200
    )


def test_reauthentication_with_a_passkey_steps_the_session_up(client):
    token = login(client, "janedoe", "JanePass123")["token"]  # a password-only session
    authenticator = Authenticator()
    options = client.post("/api/users/janedoe/passkey-options", headers=bearer(token)).json
    credential = authenticator.create(options["options"])
    body = {"name": "Phone", "credential": credential}
    assert (
        client.post("/api/users/janedoe/passkeys", headers=bearer(token), json=body).status_code
        == 201
    )
    options = client.post("/api/sessions/passkey-options").json["options"]
    answer = authenticator.get(options)

    stepped = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json={"credential": answer}
    )
    replayed = client.post(
        "/api/sessions/current/reauthentication", headers=bearer(token), json={"credential": answer}
    )

    assert stepped.status_code == 200
    assert stepped.json["amr"] == ["pwd", "webauthn"]
    assert stepped.json["second_factor_at"] == stepped.json["authenticated_at"]
    body = assert_problem(replayed, 422)  # the options were used
    assert [e["field"] for e in body["errors"]] == ["credential"]


def test_reauthentication_with_someone_elses_passkey_is_refused(client, jane_passkey):
    token = login(client)["token"]  # john, who has no passkey
    options = client.post("/api/sessions/passkey-options").json["options"]

    response = client.post(
        "/api/sessions/current/reauthentication",
        headers=bearer(token),
        json={"credential": jane_passkey.get(options)},
    )

    body = assert_problem(response, 422)
    assert body["errors"][0] == {
        "location": "json",
        "field": "credential",
        "detail": "no passkey is set up",
    }
