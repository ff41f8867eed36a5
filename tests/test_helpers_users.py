"""The users service against moto: seeding, uniqueness claims, all-or-nothing writes."""

from __future__ import annotations

import pytest

from app import create_app
from app.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from app.helpers import users
from app.models import UserCreate, UserUpdate
from tests.conftest import new_user

NOW = 1_800_000_000.0


@pytest.fixture
def passwords(app):
    return app.extensions["passwords"]


def scan(store, table):
    return store.client.scan(TableName=store.table_name(table))["Items"]


def create(store, passwords, **overrides):
    data = UserCreate(**new_user(**overrides))
    return users.create_user(store, passwords=passwords, data=data, actor=None, now=NOW)


def test_seed_runs_once_when_the_table_is_created(store):
    page, _ = users.list_users(store, limit=10)
    users.list_users(store, limit=10)

    assert sorted(u.username for u in page) == ["janedoe", "johndoe"]
    assert len(scan(store, users.USERS)) == 2
    assert sorted(i["email"]["S"] for i in scan(store, users.EMAILS)) == [
        "janedoe@example.com",
        "johndoe@example.com",
    ]


def test_seed_never_overwrites_an_existing_user(store, passwords):
    users.list_users(store, limit=1)
    users.update_user(
        store,
        passwords=passwords,
        actor=users.get_user(store, username="johndoe"),
        username="johndoe",
        changes=UserUpdate(first_name="Johnny"),
        now=NOW,
    )

    users.seed_demo_users(store, passwords=passwords, now=NOW)

    assert users.get_user(store, username="johndoe").first_name == "Johnny"
    assert len(scan(store, users.USERS)) == 2


def test_seed_off_leaves_the_table_empty(aws, settings):
    settings["SEED_DEMO_USERS"] = False
    store = create_app(settings).extensions["dynamo"]

    page, cursor = users.list_users(store, limit=10)

    assert (page, cursor) == ([], None)


def test_demo_users_log_in_with_the_tutorial_passwords(store, passwords):
    users.list_users(store, limit=1)
    john = users.verify_credentials(
        store, passwords=passwords, username="johndoe", password="JohnPass123", now=NOW
    )
    jane = users.verify_credentials(
        store, passwords=passwords, username="janedoe", password="JanePass123", now=NOW
    )

    assert (john.first_name, john.last_name, john.account_type) == ("John", "Doe", "admin_user")
    assert (jane.first_name, jane.last_name, jane.account_type) == ("Jane", "Doe", "standard_user")


def test_create_user_stores_hash_not_password(store, passwords):
    user = create(store, passwords)

    raw = store.get(users.USERS, {"username": "alice"})
    assert raw["password_hash"].startswith("$2b$04$")
    assert "correct horse battery" not in str(raw)
    assert "password" not in raw
    assert "password_hash" not in user.self_view().model_dump()
    assert store.get(users.EMAILS, {"email": "alice@example.com"}) == {
        "email": "alice@example.com",
        "username": "alice",
    }


def test_create_user_with_taken_email_writes_nothing(store, passwords):
    create(store, passwords)

    with pytest.raises(Conflict, match="email"):
        create(store, passwords, username="bob")

    assert store.get(users.USERS, {"username": "bob"}) is None
    assert store.get(users.EMAILS, {"email": "alice@example.com"})["username"] == "alice"


def test_create_admin_requires_admin_actor(store, passwords):
    users.list_users(store, limit=1)
    data = UserCreate(**new_user(account_type="admin_user"))
    jane = users.get_user(store, username="janedoe")
    john = users.get_user(store, username="johndoe")

    with pytest.raises(Forbidden):
        users.create_user(store, passwords=passwords, data=data, actor=None, now=NOW)
    with pytest.raises(Forbidden):
        users.create_user(store, passwords=passwords, data=data, actor=jane, now=NOW)
    assert users.create_user(store, passwords=passwords, data=data, actor=john, now=NOW).is_admin


def test_update_email_moves_claim_in_one_transaction(store, passwords):
    alice = create(store, passwords)

    users.update_user(
        store,
        passwords=passwords,
        actor=alice,
        username="alice",
        changes=UserUpdate(email="new@example.com"),
        now=NOW,
    )

    assert store.get(users.EMAILS, {"email": "alice@example.com"}) is None
    assert store.get(users.EMAILS, {"email": "new@example.com"})["username"] == "alice"
    assert users.get_user(store, username="alice").email == "new@example.com"


def test_update_email_loses_race_when_email_changed_meanwhile(store, passwords):
    alice = create(store, passwords)
    raced = []

    def concurrent_writer(**kwargs):
        # Another request changes Alice's email between our read and our transaction.
        if not raced:
            raced.append(True)
            store.client.update_item(
                TableName=store.table_name(users.USERS),
                Key={"username": {"S": "alice"}},
                UpdateExpression="SET email = :e",
                ExpressionAttributeValues={":e": {"S": "elsewhere@example.com"}},
            )

    store.add_hook("before-call.dynamodb.TransactWriteItems", concurrent_writer)

    with pytest.raises(Conflict):
        users.update_user(
            store,
            passwords=passwords,
            actor=alice,
            username="alice",
            changes=UserUpdate(email="new@example.com"),
            now=NOW,
        )

    assert store.get(users.EMAILS, {"email": "new@example.com"}) is None
    assert store.get(users.EMAILS, {"email": "alice@example.com"})["username"] == "alice"


def test_delete_user_removes_user_and_claim(store, passwords):
    alice = create(store, passwords)

    users.delete_user(store, actor=alice, username="alice")

    assert store.get(users.USERS, {"username": "alice"}) is None
    assert store.get(users.EMAILS, {"email": "alice@example.com"}) is None
    with pytest.raises(NotFound):
        users.delete_user(store, actor=alice, username="alice")


def test_verify_credentials_same_error_for_unknown_and_wrong(store, passwords):
    create(store, passwords)

    with pytest.raises(Unauthorized) as wrong:
        users.verify_credentials(
            store, passwords=passwords, username="alice", password="nope1234", now=NOW
        )
    with pytest.raises(Unauthorized) as unknown:
        users.verify_credentials(
            store, passwords=passwords, username="zed", password="nope1234", now=NOW
        )

    assert str(wrong.value) == str(unknown.value)


@pytest.mark.parametrize("username", ["alice", "user.name_1-x", "a" * 32])
def test_cursor_round_trip(username):
    cursor = users.encode_cursor(username)

    assert "=" not in cursor
    assert users.decode_cursor(cursor) == username


@pytest.mark.parametrize("cursor", ["", "%%%", "QQ", users.encode_cursor("UPPER"), "4pyT"])
def test_decode_cursor_rejects_what_it_did_not_make(cursor):
    with pytest.raises(BadRequest):
        users.decode_cursor(cursor)


def test_list_users_reads_only_public_fields(store):
    users.list_users(store, limit=1)  # create and seed the table first
    asked = []
    store.add_hook(
        "before-parameter-build.dynamodb.Scan", lambda params, **kw: asked.append(params)
    )

    page, _ = users.list_users(store, limit=10)

    names = set(asked[0]["ExpressionAttributeNames"].values())
    assert names == {"username", "first_name", "last_name", "account_type"}
    assert all(set(user.model_dump()) == names for user in page)
