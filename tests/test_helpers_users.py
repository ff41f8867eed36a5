"""The users service against moto: seeding, uniqueness claims, all-or-nothing writes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from app.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from app.helpers import tables, users
from app.helpers.state import state_of
from app.helpers.tables.users import EMAILS, USERS
from app.models import UserCreate, UserUpdate
from tests.faults import record_calls
from tests.helpers import before_first, new_user


def scan(store, table):
    return store.client.scan(TableName=store.table_name(table))["Items"]


def create(state, **overrides):
    data = UserCreate(**new_user(**overrides))
    return users.create_user(state, data=data, actor=None)


def test_seed_runs_once_when_the_table_is_created(state, store):
    page, _ = users.list_users(state, limit=10)
    users.list_users(state, limit=10)

    assert sorted(u.username for u in page) == ["janedoe", "johndoe"]
    assert len(scan(store, USERS)) == 2
    assert sorted(i["email"]["S"] for i in scan(store, EMAILS)) == [
        "janedoe@example.com",
        "johndoe@example.com",
    ]


def test_seed_never_overwrites_an_existing_user(state, store):
    users.list_users(state, limit=1)
    users.update_user(
        state,
        actor=users.get_user(state, username="johndoe"),
        username="johndoe",
        changes=UserUpdate(first_name="Johnny"),
    )

    users.seed_demo_users(state)

    assert users.get_user(state, username="johndoe").first_name == "Johnny"
    assert len(scan(store, USERS)) == 2


def test_seed_off_leaves_the_table_empty(aws, settings):
    settings["SEED_DEMO_USERS"] = False
    state = state_of(create_app(settings))

    page, cursor = users.list_users(state, limit=10)

    assert (page, cursor) == ([], None)


def test_create_user_stores_hash_not_password(state, store):
    user = create(state)

    raw = store.get(USERS, {"username": "alice"})
    assert raw["password_hash"].startswith("$2b$04$")
    assert "correct horse battery" not in str(raw)
    assert "password" not in raw
    assert "password_hash" not in user.self_view().model_dump()
    assert store.get(EMAILS, {"email": "alice@example.com"}) == {
        "email": "alice@example.com",
        "username": "alice",
    }


def test_create_user_with_taken_email_writes_nothing(state, store):
    create(state)

    with pytest.raises(Conflict, match="email"):
        create(state, username="bob")

    assert store.get(USERS, {"username": "bob"}) is None
    assert store.get(EMAILS, {"email": "alice@example.com"})["username"] == "alice"


def test_create_admin_requires_admin_actor(state, store):
    users.list_users(state, limit=1)
    data = UserCreate(**new_user(account_type="admin_user"))
    jane = users.get_user(state, username="janedoe")
    john = users.get_user(state, username="johndoe")

    with pytest.raises(Forbidden):
        users.create_user(state, data=data, actor=None)
    with pytest.raises(Forbidden):
        users.create_user(state, data=data, actor=jane)
    assert users.create_user(state, data=data, actor=john).is_admin


def test_update_email_moves_claim_in_one_transaction(state, store):
    alice = create(state)

    users.update_user(
        state,
        actor=alice,
        username="alice",
        changes=UserUpdate(email="new@example.com"),
        password_checked=True,  # HTTP Basic
    )

    assert store.get(EMAILS, {"email": "alice@example.com"}) is None
    assert store.get(EMAILS, {"email": "new@example.com"})["username"] == "alice"
    assert users.get_user(state, username="alice").email == "new@example.com"


def test_update_email_loses_race_when_email_changed_meanwhile(state, store):
    alice = create(state)
    raced = []

    def concurrent_writer(**kwargs):
        # Another request changes Alice's email between our read and our transaction.
        if not raced:
            raced.append(True)
            store.client.update_item(
                TableName=store.table_name(USERS),
                Key={"username": {"S": "alice"}},
                UpdateExpression="SET email = :e",
                ExpressionAttributeValues={":e": {"S": "elsewhere@example.com"}},
            )

    store.add_hook("before-call.dynamodb.TransactWriteItems", concurrent_writer)

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        users.update_user(
            state,
            actor=alice,
            username="alice",
            changes=UserUpdate(email="new@example.com"),
            password_checked=True,
        )

    assert store.get(EMAILS, {"email": "new@example.com"}) is None
    assert store.get(EMAILS, {"email": "alice@example.com"})["username"] == "alice"


def test_delete_user_removes_user_and_claim(state, store):
    alice = create(state)

    users.delete_user(state, actor=alice, username="alice", password_checked=True)

    assert store.get(USERS, {"username": "alice"}) is None
    assert store.get(EMAILS, {"email": "alice@example.com"}) is None
    with pytest.raises(NotFound):
        users.delete_user(state, actor=alice, username="alice", password_checked=True)


@pytest.mark.parametrize("username", ["alice", "user.name_1-x", "a" * 32])
def test_cursor_round_trip(username):
    cursor = users.encode_cursor(username)

    assert "=" not in cursor
    assert users.decode_cursor(cursor) == username


@pytest.mark.parametrize("cursor", ["", "%%%", "QQ", users.encode_cursor("UPPER"), "4pyT"])
def test_decode_cursor_rejects_what_it_did_not_make(cursor):
    with pytest.raises(BadRequest):
        users.decode_cursor(cursor)


def test_list_users_reads_only_the_summary_fields(state, store):
    users.list_users(state, limit=1)  # create and seed the table first
    asked = []
    store.add_hook(
        "before-parameter-build.dynamodb.Scan", lambda params, **kw: asked.append(params)
    )

    page, _ = users.list_users(state, limit=10)

    names = set(asked[0]["ExpressionAttributeNames"].values())
    assert names == {"username", "first_name", "last_name", "account_type", "disabled"}
    # Whether an account is disabled is for admins: anyone else gets the public fields.
    assert all(set(user.model_dump()) == names - {"disabled"} for user in page)


def test_update_user_checks_a_new_password_against_the_new_email(state):
    alice = create(state)
    changes = UserUpdate(
        email="wonder@example.com",
        password="wonder@example.com",
        current_password="correct horse battery",
    )

    with pytest.raises(ValidationFailed) as refused:
        users.update_user(state, actor=alice, username="alice", changes=changes)

    assert refused.value.errors[0]["field"] == "password"
    assert "the username or the email" in refused.value.errors[0]["detail"]


def test_update_user_of_a_user_deleted_meanwhile_is_404(state, store):
    alice = create(state)
    john = users.get_user(state, username="johndoe")
    before_first(store, "UpdateItem", lambda: tables.users.delete(store, alice))

    with pytest.raises(NotFound, match=r"There is no user 'alice'\."):
        users.update_user(state, actor=john, username="alice", changes=UserUpdate(last_name="X"))

    assert tables.users.get(store, "alice") is None  # not brought back as a half item


def test_a_change_of_names_alone_is_one_conditional_update(state, store):
    alice = create(state)
    calls = record_calls(store)

    users.update_user(state, actor=alice, username="alice", changes=UserUpdate(first_name="Al"))

    # No transaction when only the user's own item changes: one read, one write.
    assert calls == ["GetItem", "UpdateItem"]


def test_delete_user_losing_a_race_says_so(state, store):
    alice = create(state)
    before_first(
        store,
        "TransactWriteItems",
        lambda: tables.users.update(store, alice, {"email": "moved@example.com"}),
    )

    with pytest.raises(Conflict, match=r"A concurrent request changed this user; retry\."):
        users.delete_user(state, actor=alice, username="alice", password_checked=True)

    assert tables.users.get(store, "alice") is not None


@pytest.mark.parametrize("username", ["x", "not a name", "a" * 40])
def test_get_user_that_cannot_exist_reads_nothing(state, store, username):
    users.list_users(state, limit=1)  # the table exists
    calls = record_calls(store)

    with pytest.raises(NotFound):
        users.get_user(state, username=username)

    assert calls == []  # such a key is not even valid for DynamoDB


# -- Never zero admins ----------------------------------------------------------------------

DEMOTE = UserUpdate(account_type="standard_user")
LAST_ADMIN = r"'johndoe' is the last admin: make another admin first\."


def admins_in(store):
    return sorted(
        i["username"]["S"] for i in scan(store, USERS) if i["account_type"]["S"] == "admin_user"
    )


def admin(state, username):
    john = users.get_user(state, username="johndoe")
    data = UserCreate(**new_user(username=username, email=f"{username}@example.com"))
    return users.create_user(
        state, data=data.model_copy(update={"account_type": "admin_user"}), actor=john
    )


def test_the_last_admin_can_neither_demote_nor_delete_themself(state, store):
    john = users.get_user(state, username="johndoe")

    with pytest.raises(Conflict, match=LAST_ADMIN):
        users.update_user(state, actor=john, username="johndoe", changes=DEMOTE)
    with pytest.raises(Conflict, match=LAST_ADMIN):
        users.delete_user(state, actor=john, username="johndoe", password_checked=True)

    assert admins_in(store) == ["johndoe"]
    assert tables.users.admin_count(store) == 1


def test_with_another_admin_one_may_go(state, store):
    carol = admin(state, "carol")
    john = users.get_user(state, username="johndoe")
    assert tables.users.admin_count(store) == 2

    users.update_user(state, actor=john, username="johndoe", changes=DEMOTE)

    assert admins_in(store) == ["carol"]
    assert tables.users.admin_count(store) == 1
    with pytest.raises(Conflict, match="'carol' is the last admin"):
        users.delete_user(state, actor=carol, username="carol", password_checked=True)


def test_deleting_an_admin_counts_one_less(state, store):
    carol = admin(state, "carol")

    users.delete_user(state, actor=carol, username="carol", password_checked=True)

    assert tables.users.admin_count(store) == 1
    create(state)  # a standard user changes nothing
    users.delete_user(
        state,
        actor=users.get_user(state, username="alice"),
        username="alice",
        password_checked=True,
    )
    assert tables.users.admin_count(store) == 1


def test_promoting_counts_one_more(state, store):
    alice = create(state)
    john = users.get_user(state, username="johndoe")

    users.update_user(
        state, actor=john, username=alice.username, changes=UserUpdate(account_type="admin_user")
    )

    assert tables.users.admin_count(store) == 2
    users.update_user(state, actor=john, username="johndoe", changes=DEMOTE)
    assert admins_in(store) == ["alice"]


def test_the_count_starts_from_the_admins_already_stored(state, store):
    admin(state, "carol")
    admin(state, "dave")
    # A deployment from before the count: the admins are there, the count is not.
    store.client.delete_item(
        TableName=store.table_name("user_counts"), Key={"name": {"S": "admins"}}
    )
    john = users.get_user(state, username="johndoe")

    for username in ("carol", "dave"):
        users.update_user(state, actor=john, username=username, changes=DEMOTE)

    assert tables.users.admin_count(store) == 1
    with pytest.raises(Conflict, match=LAST_ADMIN):
        users.update_user(state, actor=john, username="johndoe", changes=DEMOTE)


@pytest.mark.parametrize("how", ["demote", "delete"])
def test_two_admins_going_at_once_leave_exactly_one(engine_app, how):
    state = state_of(engine_app)
    store = state.store
    admin(state, "carol")
    actors = [users.get_user(state, username=name) for name in ("johndoe", "carol")]
    barrier = threading.Barrier(2)

    def go(actor):
        barrier.wait()
        try:
            if how == "demote":
                users.update_user(state, actor=actor, username=actor.username, changes=DEMOTE)
            else:
                users.delete_user(
                    state, actor=actor, username=actor.username, password_checked=True
                )
        except Conflict as refused:
            return str(refused)
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(go, actors))

    assert sorted(outcome == "done" for outcome in outcomes) == [False, True]
    assert len(admins_in(store)) == 1
    assert tables.users.admin_count(store) == 1


def test_one_admin_demoted_twice_at_once_counts_once(engine_app):
    state = state_of(engine_app)
    store = state.store
    admin(state, "carol")
    admin(state, "dave")
    john = users.get_user(state, username="johndoe")
    barrier = threading.Barrier(2)

    def demote(_):
        barrier.wait()
        try:
            users.update_user(state, actor=john, username="carol", changes=DEMOTE)
        except Conflict:
            return "refused"
        return "done"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(demote, range(2)))

    # The second either lost the race (refused) or came after the first and found nothing
    # to change (done): either way carol left the count once.
    assert outcomes in (["done", "refused"], ["done", "done"])
    assert tables.users.admin_count(store) == 2  # johndoe and dave


def test_a_change_never_lands_on_a_user_registered_again_meanwhile(state, store):
    alice = create(state)
    john = users.get_user(state, username="johndoe")

    def replaced():
        tables.users.delete(store, alice)
        create(state, first_name="Another")  # a new alice, a new account

    before_first(store, "UpdateItem", replaced)

    with pytest.raises(Conflict, match="A concurrent request changed this user"):
        users.update_user(state, actor=john, username="alice", changes=UserUpdate(last_name="X"))

    stored = tables.users.get(store, "alice")
    assert (stored.first_name, stored.last_name) == ("Another", "Liddell")


def test_find_by_email_reads_the_claim_and_the_user_only(state, store):
    alice = create(state)
    john = users.get_user(state, username="johndoe")
    calls = record_calls(store)

    found = users.find_by_email(state, email="alice@example.com", actor=john)

    assert [user.username for user in found] == [alice.username]
    assert calls == ["GetItem", "GetItem"]  # never a Scan


def test_find_by_email_finds_no_one_through_a_leftover_claim(state, store):
    create(state)
    john = users.get_user(state, username="johndoe")
    store.client.delete_item(TableName=store.table_name(USERS), Key={"username": {"S": "alice"}})

    assert users.find_by_email(state, email="alice@example.com", actor=john) == []


def test_a_prefix_search_before_init_db_adds_the_index_is_503_not_a_crash(engine_app, caplog):
    state = state_of(engine_app)
    store = state.store
    store.client.create_table(  # the users table as it was before the search index
        TableName=store.table_name(USERS),
        KeySchema=[{"AttributeName": "username", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "username", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    with pytest.raises(ServiceUnavailable) as refused:
        users.list_users(state, limit=5, prefix="", actor=users.OPERATOR)

    assert "flask users init-db" in refused.value.detail
    assert any("index by_name" in record.getMessage() for record in caplog.records)
