"""Checking a password: one error and one bcrypt check whatever fails, and re-hashing."""

from __future__ import annotations

import argon2
import bcrypt
import pytest

from app.errors import Unauthorized
from app.helpers import passwords, users
from app.helpers.credentials import check_password
from app.helpers.state import state_of
from app.models import UserCreate
from tests.faults import in_mail_worker
from tests.helpers import basic, before_first, login, new_user

WRONG = "not-the-password"
ALICE_PASSWORD = "correct horse battery"
ALICE_NEW_PASSWORD = "a brand new secret"


def by_session(client, username, password):
    return client.post("/api/sessions", json={"username": username, "password": password})


def test_demo_users_log_in_with_the_tutorial_passwords(state, store):
    users.list_users(state, limit=1)
    john = check_password(state, username="johndoe", password="JohnPass123")
    jane = check_password(state, username="janedoe", password="JanePass123")

    assert (john.first_name, john.last_name, john.account_type) == ("John", "Doe", "admin_user")
    assert (jane.first_name, jane.last_name, jane.account_type) == ("Jane", "Doe", "standard_user")


def test_check_password_same_error_for_unknown_and_wrong(state):
    users.create_user(state, data=UserCreate(**new_user()), actor=None)

    with pytest.raises(Unauthorized) as wrong:
        check_password(state, username="alice", password="nope1234")
    with pytest.raises(Unauthorized) as unknown:
        check_password(state, username="zed", password="nope1234")

    assert str(wrong.value) == str(unknown.value)


def test_login_rehashes_a_weaker_hash(app, client, store):
    client.post("/api/users", json=new_user())
    weak = store.get("users", {"username": "alice"})["password_hash"]
    assert weak.startswith("$2b$04$")
    state_of(app).passwords.rounds = 5

    login(client, "alice", "correct horse battery")

    stronger = store.get("users", {"username": "alice"})["password_hash"]
    assert stronger.startswith("$2b$05$")
    assert (
        client.get("/api/user", headers=basic("alice", "correct horse battery")).status_code == 200
    )


@pytest.mark.parametrize("scheme", ["bcrypt", "argon2id"])
def test_login_rehashes_an_imported_hash_to_ours(app, client, store, scheme):
    client.post("/api/users", json=new_user())
    made_elsewhere = {
        "bcrypt": lambda: bcrypt.hashpw(ALICE_PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        "argon2id": lambda: argon2.PasswordHasher(1, 8, 1).hash(ALICE_PASSWORD),
    }[scheme]()
    stored = passwords.stored_form(scheme, made_elsewhere)
    store.client.update_item(
        TableName=store.table_name("users"),
        Key={"username": {"S": "alice"}},
        UpdateExpression="SET password_hash = :h",
        ExpressionAttributeValues={":h": {"S": stored}},
    )
    wrong = by_session(client, "alice", WRONG)
    assert store.get("users", {"username": "alice"})["password_hash"] == stored

    login(client, "alice", ALICE_PASSWORD)

    ours = store.get("users", {"username": "alice"})["password_hash"]
    assert wrong.status_code == 401
    assert passwords.origin_form(ours) == ("bcrypt-sha256", ours)
    assert ours.startswith("$2b$04$")
    assert client.get("/api/user", headers=basic("alice", ALICE_PASSWORD)).status_code == 200


def test_rehash_never_undoes_a_password_change_made_meanwhile(app, client, store):
    client.post("/api/users", json=new_user())
    state_of(app).passwords.rounds = 5  # alice's hash (cost 4) is now due a re-hash
    changed_meanwhile = state_of(app).passwords.hash(ALICE_NEW_PASSWORD)

    def concurrent_password_change():
        # Another request sets a new password between this login's read and its re-hash.
        store.client.update_item(
            TableName=store.table_name("users"),
            Key={"username": {"S": "alice"}},
            UpdateExpression="SET password_hash = :h",
            ExpressionAttributeValues={":h": {"S": changed_meanwhile}},
        )

    before_first(store, "UpdateItem", concurrent_password_change)

    login(client, "alice", ALICE_PASSWORD)  # the old password was right when it was read

    assert store.get("users", {"username": "alice"})["password_hash"] == changed_meanwhile
    assert client.get("/api/user", headers=basic("alice", ALICE_PASSWORD)).status_code == 401
    assert client.get("/api/user", headers=basic("alice", ALICE_NEW_PASSWORD)).status_code == 200


# -- An unknown username costs what a wrong password costs ----------------------------------
# The same DynamoDB calls and one bcrypt check at the same cost on both paths: that is what
# makes their times equal. The times themselves are measured at production cost by
# `make bench` (bench/README.md, "Login timing"), not in a timed unit test.


@pytest.fixture
def work_done(monkeypatch):
    """Each DynamoDB operation sent to moto and the cost of each bcrypt check, in order."""
    import bcrypt
    from moto.core.botocore_stubber import BotocoreStubber

    from app.helpers import passwords

    work: list[tuple[str, str | int]] = []
    original_call, original_checkpw = BotocoreStubber.__call__, bcrypt.checkpw

    def dynamodb_call(self, event_name, *args, **kwargs):
        # A mail worker's calls (a registration's verification mail) are not the login's.
        if not in_mail_worker():
            work.append(("dynamodb", event_name.rpartition(".")[2]))
        return original_call(self, event_name, *args, **kwargs)

    def checkpw(password, hashed):
        work.append(("bcrypt", passwords.cost_of(hashed.decode("ascii"))))
        return original_checkpw(password, hashed)

    monkeypatch.setattr(BotocoreStubber, "__call__", dynamodb_call)
    monkeypatch.setattr(passwords.bcrypt, "checkpw", checkpw)
    return work


def test_login_unknown_user_and_wrong_password_do_the_same_work(client, work_done):
    for i in range(3):
        body = new_user(username=f"known{i}", email=f"known{i}@example.com")
        assert client.post("/api/users", json=body).status_code == 201
    by_session(client, "first-ever", WRONG)  # creates the failures table, outside the count

    def attempt(username):
        del work_done[:]
        return by_session(client, username, WRONG), list(work_done)

    for i in range(3):
        (unknown, unknown_work), (wrong, wrong_work) = attempt(f"ghost{i}"), attempt(f"known{i}")

        assert unknown.status_code == wrong.status_code == 401
        assert unknown.get_data() == wrong.get_data()
        assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
        assert unknown_work == wrong_work
        assert [cost for kind, cost in wrong_work if kind == "bcrypt"] == [4]
