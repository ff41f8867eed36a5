"""Checking a password: one error and one bcrypt check for every failure, re-hashing, timing."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.errors import Unauthorized
from app.helpers import users
from app.helpers.credentials import check_password
from app.helpers.state import state_of
from app.models import UserCreate
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


# -- Timing: an unknown username costs what a wrong password costs ---------------------------


@pytest.fixture
def fake_dynamodb(monkeypatch):
    """The operations sent to moto (the stand-in for DynamoDB) and the time spent in it.

    moto builds a response in Python: a returned user item costs about 0.5 ms here, and
    several times that when CPython 3.11's frame-stack chunk thrashing (gh-142183) hits its
    loop at the stack depth pytest gives it. DynamoDB itself takes microseconds for that,
    and only the wrong-password path gets an item back; so the comparison leaves moto out.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    spent = {"cpu": 0.0, "operations": []}
    original = BotocoreStubber.__call__

    def timed(self, event_name, *args, **kwargs):
        began = time.thread_time()
        try:
            return original(self, event_name, *args, **kwargs)
        finally:
            spent["cpu"] += time.thread_time() - began
            spent["operations"].append(event_name.rpartition(".")[2])

    monkeypatch.setattr(BotocoreStubber, "__call__", timed)
    return spent


def test_login_unknown_user_and_wrong_password_take_the_same_time(client, clock, fake_dynamodb):
    attempts, warm_up = 60, 10
    for i in range(attempts + warm_up):
        body = new_user(username=f"timed{i}", email=f"timed{i}@example.com")
        assert client.post("/api/users", json=body).status_code == 201
    by_session(client, "first-ever", WRONG)  # creates the failures table, outside the count

    def timed(username):
        before = dict(fake_dynamodb, operations=len(fake_dynamodb["operations"]))
        wall, cpu = time.perf_counter(), time.thread_time()
        response = by_session(client, username, WRONG)
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        return {
            "response": response,
            "operations": fake_dynamodb["operations"][before["operations"] :],
            "wall": wall,
            "app": cpu - (fake_dynamodb["cpu"] - before["cpu"]),
        }

    def measure():
        pairs = []
        for i in range(attempts + warm_up):
            # Interleaved, alternating which goes first; each username is tried once only.
            pair = [("unknown", f"ghost{i}"), ("wrong", f"timed{i}")]
            pairs.append({kind: timed(name) for kind, name in (pair if i % 2 else pair[::-1])})
        return pairs[warm_up:]

    # In a fresh thread the frame stack starts empty: under pytest's deep stack, CPython 3.11
    # can cross a frame-stack chunk boundary inside a hot loop (gh-142183) on one path only.
    with ThreadPoolExecutor(1) as pool:
        pairs = pool.submit(measure).result()

    for pair in pairs:
        unknown, wrong = pair["unknown"]["response"], pair["wrong"]["response"]
        assert unknown.status_code == wrong.status_code == 401
        assert unknown.get_data() == wrong.get_data()
        assert unknown.headers["WWW-Authenticate"] == wrong.headers["WWW-Authenticate"]
        assert pair["unknown"]["operations"] == pair["wrong"]["operations"]

    def median_ms(kind, measure):
        return statistics.median(pair[kind][measure] for pair in pairs) * 1000

    print(f"\nmedian login times over {attempts} attempts each (ms):")
    for measure, label in (("wall", "response (wall)"), ("app", "app CPU, moto out")):
        print(
            f"  {label:18}: unknown user {median_ms('unknown', measure):7.3f}, "
            f"wrong password {median_ms('wrong', measure):7.3f}"
        )
    # The bound is on the app's own time: CPU time of the serving thread (wall time also
    # counts other processes' turns on a shared machine) less the time spent inside moto.
    unknown_app, wrong_app = median_ms("unknown", "app"), median_ms("wrong", "app")
    assert max(unknown_app, wrong_app) <= 1.10 * min(unknown_app, wrong_app)
