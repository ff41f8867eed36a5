"""The tables' named reads and writes: every condition holds, and says what it found."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from app.helpers import tables
from app.helpers.dynamo import ConditionFailed
from app.helpers.state import state_of
from app.helpers.tables import Changed, Claimed
from app.helpers.tables.conditional import update_existing
from app.helpers.tables.sessions import SESSIONS
from app.helpers.tables.users import EMAILS, USERS
from app.models import SessionItem, UserItem

ALICE = UserItem(
    username="alice",
    email="alice@example.com",
    first_name="Alice",
    last_name="Liddell",
    account_type="standard_user",
    password_hash="$2b$04$" + "a" * 53,
    created_at="2027-01-15T08:00:00.000Z",
    updated_at="2027-01-15T08:00:00.000Z",
    session_key="key-1",
)
SESSION = SessionItem(
    token_hash="h" * 64,
    id="session-1",
    username="alice",
    user_key="key-1",
    created_at=1,
    last_seen_at=1,
    expires_at=2,
    absolute_expires_at=3,
)


@pytest.fixture
def settings(settings):
    """No demo users: each test sees only what it writes."""
    return {**settings, "SEED_DEMO_USERS": False}


def items(store, table):
    return store.client.scan(TableName=store.table_name(table))["Items"]


@pytest.mark.parametrize(
    ("other", "field"),
    [({"email": "other@example.com"}, "username"), ({"username": "bob"}, "email")],
)
def test_insert_names_the_value_already_claimed_and_writes_nothing(store, other, field):
    tables.users.insert(store, ALICE)

    with pytest.raises(Claimed) as claimed:
        tables.users.insert(store, ALICE.model_copy(update=other))

    assert claimed.value.field == field
    assert len(items(store, USERS)) == 1
    assert len(items(store, EMAILS)) == 1


def test_update_of_a_user_deleted_meanwhile_creates_nothing(store):
    tables.users.insert(store, ALICE)
    tables.users.delete(store, ALICE)

    with pytest.raises(Changed):
        tables.users.update(store, ALICE, {"first_name": "Alicia"})

    assert items(store, USERS) == []


def test_update_together_refuses_a_user_changed_meanwhile(store):
    tables.users.insert(store, ALICE)
    tables.users.set_session_key(store, "alice", "key-2")  # a password change elsewhere

    with pytest.raises(Changed):
        tables.users.update_together(store, ALICE, {"email": "new@example.com"}, also=[])

    assert tables.users.get(store, "alice").email == "alice@example.com"
    assert [i["email"]["S"] for i in items(store, EMAILS)] == ["alice@example.com"]


def test_update_together_moves_the_session_only_if_it_still_exists(store):
    tables.users.insert(store, ALICE)
    also = [tables.sessions.adopt_key(SESSION, "key-2")]  # the session was never stored

    with pytest.raises(Changed):
        tables.users.update_together(store, ALICE, {"session_key": "key-2"}, also=also)

    assert items(store, SESSIONS) == []  # no half-made session item
    assert tables.users.get(store, "alice").session_key == "key-1"


@pytest.mark.parametrize(
    "meanwhile",
    [
        {"email": "elsewhere@example.com"},  # the user's email changed
        {"claim_owner": "mallory"},  # the claim on the address is someone else's
    ],
)
def test_delete_refuses_when_user_or_claim_changed_meanwhile(store, meanwhile):
    tables.users.insert(store, ALICE)
    if "email" in meanwhile:
        tables.users.update(store, ALICE, meanwhile)
    else:
        store.put(EMAILS, {"email": ALICE.email, "username": meanwhile["claim_owner"]})

    with pytest.raises(Changed):
        tables.users.delete(store, ALICE)

    assert tables.users.get(store, "alice") is not None


def test_replace_hash_only_over_the_hash_that_was_read(store):
    tables.users.insert(store, ALICE)

    assert tables.users.replace_hash(store, "alice", old="not it", new="$2b$05$x") is False
    assert tables.users.get(store, "alice").password_hash == ALICE.password_hash
    assert tables.users.replace_hash(store, "alice", old=ALICE.password_hash, new="$2b$05$x")
    assert tables.users.get(store, "alice").password_hash == "$2b$05$x"


def test_set_session_key_of_no_such_user_creates_nothing(store):
    with pytest.raises(Changed):
        tables.users.set_session_key(store, "nobody", "key")

    assert items(store, USERS) == []


def test_touch_of_an_ended_session_creates_nothing(store):
    with pytest.raises(Changed):
        tables.sessions.touch(store, SESSION.token_hash, last_seen=5, expires=6)

    assert items(store, SESSIONS) == []


def test_touch_sets_its_two_fields_and_keeps_the_rest(store):
    tables.sessions.insert(store, SESSION)

    tables.sessions.touch(store, SESSION.token_hash, last_seen=5, expires=6)

    stored = store.get(SESSIONS, {"token_hash": SESSION.token_hash})
    assert SessionItem.model_validate(stored) == SESSION.model_copy(
        update={"last_seen_at": 5, "expires_at": 6}
    )


def test_a_proof_in_an_ended_session_creates_nothing(store):
    with pytest.raises(Changed):
        tables.sessions.set_authenticated(store, SESSION.token_hash, at=5)

    assert items(store, SESSIONS) == []


def test_a_proof_sets_when_and_keeps_the_rest(store):
    tables.sessions.insert(store, SESSION)

    tables.sessions.set_authenticated(store, SESSION.token_hash, at=5)

    stored = store.get(SESSIONS, {"token_hash": SESSION.token_hash})
    assert SessionItem.model_validate(stored) == SESSION.model_copy(update={"authenticated_at": 5})


def test_an_item_is_stored_without_its_empty_attributes(store):
    tables.sessions.insert(store, SESSION)  # no user agent, no address, no proof time

    raw = store.client.get_item(
        TableName=store.table_name(SESSIONS), Key={"token_hash": {"S": SESSION.token_hash}}
    )["Item"]

    # An old DynamoDB (and DynamoDB Local of that age) refuses an empty string.
    assert {"user_agent", "address", "authenticated_at"}.isdisjoint(raw)
    assert SessionItem.model_validate(store.get(SESSIONS, {"token_hash": SESSION.token_hash})) == (
        SESSION
    )


def test_update_existing_sets_fields_named_by_reserved_words(store):
    tables.users.insert(store, ALICE)
    fields = {"name": "Alice L.", "status": "active"}  # both reserved words in DynamoDB

    updated = update_existing(
        store, USERS, {"username": "alice"}, fields, condition="attribute_exists(username)"
    )

    # Empty and unset fields are written as no attribute.
    stored = {k: v for k, v in ALICE.model_dump().items() if v not in ("", None, set())}
    assert updated == {**stored, "shard": tables.users.shard_of("alice"), **fields}
    assert store.get(USERS, {"username": "alice"}) == updated


def test_failures_are_first_written_then_added_below_the_threshold_then_cleared(store):
    failures = tables.login_failures
    failures.replace(store, "alice", seen=None, failures=1, now=10.5, forget_at=99.5)
    with pytest.raises(Changed):  # only where there was no record
        failures.replace(store, "alice", seen=None, failures=1, now=10.5, forget_at=99.5)
    for _ in range(2):
        failures.add_below(store, "alice", threshold=3, now=11.5, forget_at=100.5)
    with pytest.raises(Changed):  # 3 is the threshold: no more
        failures.add_below(store, "alice", threshold=3, now=12.5, forget_at=101.5)

    record = failures.get(store, "alice")
    assert (record["failures"], record["last_failure_at"], record["expires_at"]) == (3, 11.5, 100.5)
    failures.clear(store, "alice")
    assert failures.get_with_user(store, "alice") == (None, None)


def test_a_failure_record_is_replaced_only_as_it_was_read(store):
    failures = tables.login_failures
    failures.replace(store, "alice", seen=None, failures=5, now=10.0, forget_at=99.0)
    seen = failures.get(store, "alice")
    failures.add_below(store, "alice", threshold=9, now=11.0, forget_at=99.0)  # meanwhile

    with pytest.raises(Changed):
        failures.replace(store, "alice", seen=seen, failures=6, now=12.0, forget_at=99.0)
    failures.replace(
        store, "alice", seen=failures.get(store, "alice"), failures=7, now=13.0, forget_at=99.0
    )

    assert failures.get(store, "alice")["failures"] == 7


def test_adding_a_failure_to_no_record_creates_nothing(store):
    with pytest.raises(Changed):
        tables.login_failures.add_below(store, "alice", threshold=5, now=1.0, forget_at=2.0)

    assert tables.login_failures.get(store, "alice") is None


def test_a_session_is_never_written_over_another(store):
    tables.sessions.insert(store, SESSION)

    with pytest.raises(ConditionFailed):
        tables.sessions.insert(store, SESSION.model_copy(update={"username": "mallory"}))

    assert tables.sessions.of_user(store, "alice")[0].username == "alice"


# -- the users in username order: sharded index, merged -------------------------------------


def as_user(username: str) -> UserItem:
    """ALICE under another name and email."""
    return ALICE.model_copy(update={"username": username, "email": f"{username}@example.com"})


def test_search_merges_the_shards_in_order_across_pages(engine_app):
    store = state_of(engine_app).store
    names = [f"u{n:02d}" for n in range(40)]
    for name in [*reversed(names), "t99", "v00", "u"]:
        tables.users.insert(store, as_user(name))
    shards = Counter(tables.users.shard_of(name) for name in names)
    # The case worth testing: every shard in play, some holding more than one Query reads.
    limit = 5
    assert len(shards) == tables.users.SHARDS
    assert max(shards.values()) > math.ceil(limit / tables.users.SHARDS) + 2

    seen, after, more = [], None, True
    while more:
        page, more = tables.users.search(store, prefix="u", limit=limit, after=after)
        assert len(page) == limit or not more
        seen += [user.username for user in page]
        after = seen[-1]

    assert seen == ["u", *names]


@pytest.mark.parametrize(
    ("prefix", "after", "expected"),
    [
        ("", None, ["ab", "abc", "b-c", "b.c", "b0", "b_c", "bz"]),
        ("b", "b.c", ["b0", "b_c", "bz"]),
        ("ab", None, ["ab", "abc"]),
        ("ab", "abc", []),
        ("c", None, []),
        ("b", "zz", []),  # a cursor past the prefix
    ],
)
def test_search_bounds(store, prefix, after, expected):
    for name in ["bz", "b_c", "b0", "b.c", "b-c", "abc", "ab"]:
        tables.users.insert(store, as_user(name))

    page, more = tables.users.search(store, prefix=prefix, limit=10, after=after)

    assert ([user.username for user in page], more) == (expected, False)


def test_add_shards_puts_users_stored_before_the_index_in_it(store):
    tables.users.insert(store, ALICE)
    store.client.update_item(
        TableName=store.table_name(USERS),
        Key={"username": {"S": "alice"}},
        UpdateExpression="REMOVE #shard",
        ExpressionAttributeNames={"#shard": "shard"},
    )
    assert tables.users.search(store, prefix="", limit=5, after=None) == ([], False)

    assert tables.users.add_shards(store) == 1
    assert tables.users.add_shards(store) == 0
    page, _ = tables.users.search(store, prefix="", limit=5, after=None)
    assert [user.username for user in page] == ["alice"]
