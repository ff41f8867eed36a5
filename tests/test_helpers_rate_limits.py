"""The per-address budgets counted in DynamoDB (`dynamodb://`): one write a request, shared."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from limits import parse
from limits.storage import storage_from_string

from app import create_app
from app.helpers.rate_limits import DynamoDBStorage, window_seconds
from app.helpers.state import state_of
from app.helpers.tables.rate_limits import PAGE, RATE_LIMITS
from tests.faults import inject_sends, record_calls
from tests.helpers import JANE, new_user

JOHN_LOGIN = {"username": "johndoe", "password": "JohnPass123"}
KEY = "LIMITER/login/203.0.113.1/3/1/minute"


@pytest.fixture
def settings(settings):
    """Counted in DynamoDB, 3 logins and 2 registrations a day per address.

    A day: windows are aligned on the clock, and a test must not run across a window's end.
    """
    return {
        **settings,
        "RATELIMIT_STORAGE_URI": "dynamodb://",
        "RATELIMIT_LOGIN": "3 per day",
        "RATELIMIT_REGISTER": "2 per day",
    }


@pytest.fixture
def storage(store):
    return storage_from_string("dynamodb://", store=store)


@pytest.fixture
def at(storage):
    """Set the storage's clock: `at(seconds)`."""

    def move(seconds: float) -> None:
        storage.clock = lambda: seconds

    return move


def test_the_uri_scheme_resolves_to_the_dynamodb_storage(storage, store):
    assert isinstance(storage, DynamoDBStorage)
    assert storage.store is store


def test_the_storage_needs_the_apps_store():
    with pytest.raises(ValueError, match="the app's own tables"):
        storage_from_string("dynamodb://")


def test_incr_counts_in_one_write_and_never_reads(storage, store, at):
    at(1_000_020)
    storage.incr(KEY, 60)  # creates the table, outside the count
    calls = record_calls(store)

    assert storage.incr(KEY, 60) == 2
    assert storage.incr(KEY, 60, amount=3) == 5

    assert calls == ["UpdateItem", "UpdateItem"]


def test_a_window_is_one_item_that_expires_when_the_window_ends(storage, store, at):
    at(1_000_020)  # 1,000,020 s is in the minute that starts at 999,960 and ends at 1,000,020 + 40

    storage.incr(KEY, 60)

    items = store.client.scan(TableName=store.table_name(RATE_LIMITS))["Items"]
    assert items == [
        {"key": {"S": f"{KEY}@16667"}, "hits": {"N": "1"}, "expires_at": {"N": "1000080"}}
    ]
    assert storage.get_expiry(KEY) == 1_000_080


def test_windows_are_aligned_on_the_clock(storage, at):
    at(1_000_079.9)  # the last moment of a window
    assert storage.incr(KEY, 60) == 1
    assert storage.incr(KEY, 60) == 2

    at(1_000_080)  # the next window starts at zero
    assert storage.get(KEY) == 0
    assert storage.incr(KEY, 60) == 1
    assert storage.get_expiry(KEY) == 1_000_140


def test_get_clear_and_reset(storage, at):
    at(1_000_000)
    other = "LIMITER/register/203.0.113.1/2/1/minute"
    storage.incr(KEY, 60, amount=2)
    storage.incr(other, 60)

    assert storage.get(KEY) == 2
    storage.clear(KEY)
    assert storage.get(KEY) == 0
    assert storage.get(other) == 1

    assert storage.reset() == 1
    assert storage.get(other) == 0


def test_reset_forgets_more_than_one_page(storage, at):
    at(1_000_000)
    for i in range(PAGE + 5):
        storage.incr(f"LIMITER/login/10.0.0.{i}/3/1/minute", 60)

    assert storage.reset() == 105
    assert storage.get("LIMITER/login/10.0.0.104/3/1/minute") == 0


def test_check_says_whether_dynamodb_answers(storage, store):
    assert storage.check() is True

    inject_sends(store, "*", ["InternalServerError"] * 10, status=500)

    assert storage.check() is False


def test_concurrent_hits_are_all_counted(engine_app):
    storage = storage_from_string("dynamodb://", store=state_of(engine_app).store)
    storage.clock = lambda: 1_000_000
    storage.incr(KEY, 60)  # creates the table first

    with ThreadPoolExecutor(20) as pool:
        counts = list(pool.map(lambda _: storage.incr(KEY, 60), range(40)))

    assert sorted(counts) == list(range(2, 42))
    assert storage.get(KEY) == 41


@pytest.mark.parametrize(
    "limit",
    [
        "3 per second",
        "3 per 10 seconds",
        "20 per minute",
        "5 per 2 hours",
        "1 per day",
        "2 per month",
        "1 per year",
    ],
)
def test_window_seconds_reads_the_keys_limits_builds(limit):
    item = parse(limit)

    assert window_seconds(item.key_for("login", "2001:db8::/64")) == item.get_expiry()


# -- Through the app: one budget however many apps, at one write per password check ---------


def login(client, address="203.0.113.1"):
    return client.post("/api/sessions", json=JOHN_LOGIN, environ_base={"REMOTE_ADDR": address})


def test_apps_sharing_a_dynamodb_share_one_budget(aws, settings):
    # Three instances of the service (or workers of one), one DynamoDB.
    clients = [create_app(settings).test_client() for _ in range(3)]

    answers = [login(clients[i % 3]).status_code for i in range(6)]

    assert answers == [201, 201, 201, 429, 429, 429]
    assert login(clients[0], address="203.0.113.2").status_code == 201


def test_registration_budget_is_shared_too(aws, settings):
    one, two = (create_app(settings).test_client() for _ in range(2))

    assert one.post("/api/users", json=new_user()).status_code == 201
    body = new_user(username="bob", email="bob@example.com")
    assert two.post("/api/users", json=body).status_code == 201

    third = new_user(username="carol", email="carol@example.com")
    assert one.post("/api/users", json=third).status_code == 429


def test_the_429_says_when_the_window_ends(aws, settings):
    client = create_app(settings).test_client()
    for _ in range(3):
        login(client)

    before = time.time()
    response = login(client)
    after = time.time()

    assert response.status_code == 429
    ends = (before // 86400 + 1) * 86400  # windows are aligned on the clock
    assert int(response.headers["Retry-After"]) in {
        math.ceil(ends - after),
        math.ceil(ends - before),
    }


@pytest.mark.parametrize(
    ("request_args", "extra"),
    [
        (("POST", "/api/sessions", {"json": JOHN_LOGIN}), ["UpdateItem"]),
        (("GET", "/api/user", {"headers": JANE}), ["UpdateItem"]),
        (("POST", "/api/users", {"json": new_user()}), ["UpdateItem"]),
        (("GET", "/api/users", {}), ["UpdateItem"]),  # an anonymous read of the directory
        (("GET", "/api/users", {"headers": JANE}), ["UpdateItem"]),  # Basic: a password check
        (("GET", "/api/health/live", {}), []),
    ],
)
def test_the_budget_costs_one_write_where_it_is_spent(aws, settings, request_args, extra):
    method, url, kwargs = request_args
    counted = {}
    for uri, prefix in (("memory://", "m_"), ("dynamodb://", "d_")):
        app = create_app({**settings, "RATELIMIT_STORAGE_URI": uri, "TABLE_PREFIX": prefix})
        client = app.test_client()
        client.get("/api/users")  # tables created and seeded, outside the count
        login(client, address="198.51.100.1")
        calls = record_calls(state_of(app).store)
        client.open(url, method=method, **kwargs)
        counted[uri] = calls

    assert counted["dynamodb://"] == extra + counted["memory://"]


def test_a_bearer_request_costs_nothing(client, store):
    token = login(client).json["token"]
    calls = record_calls(store)

    assert client.get("/api/user", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    assert calls == ["BatchGetItem"]


def test_dynamodb_down_while_counting_is_a_503(client, store):
    client.get("/api/users")
    inject_sends(store, "UpdateItem", ["InternalServerError"] * 10, status=500)

    response = login(client)

    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
