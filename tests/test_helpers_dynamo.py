"""DynamoInterface: tables on demand, item calls, pagination and DynamoDB faults."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import botocore.waiter
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from app.errors import AppError, ServiceUnavailable
from app.helpers.dynamo import (
    ConditionFailed,
    DynamoInterface,
    Index,
    StoreError,
    TableSpec,
    TransactionCanceled,
    Write,
)
from app.serving import free_port
from tests.faults import answer, inject_sends, record_calls

THINGS = TableSpec("things", hash_key="id")
OTHERS = TableSpec("others", hash_key="code")


def full_pages_carry_cursor(store):
    """Make moto answer Scan as AWS does: a page that fills `Limit` has a LastEvaluatedKey."""
    asked = []

    def remember_limit(params, **kwargs):
        asked.append(params.get("Limit"))

    def add_cursor(parsed, **kwargs):
        items = parsed.get("Items", [])
        if items and len(items) == asked[-1] and "LastEvaluatedKey" not in parsed:
            parsed["LastEvaluatedKey"] = {"id": items[-1]["id"]}

    store.client.meta.events.register("before-parameter-build.dynamodb.Scan", remember_limit)
    store.client.meta.events.register("after-call.dynamodb.Scan", add_cursor)


def walk(store, table, limit):
    """Every page of a full scan, and the cursors that came with them."""
    pages, cursors, cursor = [], [], None
    for _ in range(100):
        items, cursor = store.scan_page(table, limit=limit, start_key=cursor)
        pages.append(items)
        cursors.append(cursor)
        if cursor is None:
            return pages, cursors
    pytest.fail("scan_page never returned a None cursor")


@pytest.fixture(autouse=True)
def _fast_retries(no_backoff):
    """Every test here: retries back off for no time at all."""


@pytest.fixture
def make_store(settings):
    """Build a store (one per simulated process) with `things` and `others` registered."""

    def make(**overrides):
        store = DynamoInterface.from_config({**settings, **overrides})
        store.register_table(THINGS)
        store.register_table(OTHERS)
        return store

    return make


@pytest.fixture
def dynamo(aws, make_store):
    """A store over moto's DynamoDB."""
    return make_store()


def test_get_creates_missing_table_with_prefix_on_demand(dynamo):
    assert dynamo.get("things", {"id": "a"}) is None

    assert dynamo.client.list_tables()["TableNames"] == ["test_things"]
    table = dynamo.client.describe_table(TableName="test_things")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def test_put_creates_provisioned_table_with_configured_capacity(aws, make_store):
    store = make_store(
        DYNAMODB_BILLING="PROVISIONED", DYNAMODB_READ_CAPACITY=7, DYNAMODB_WRITE_CAPACITY=3
    )
    store.register_table(TableSpec("people", hash_key="name", indexes={"by_email": Index("email")}))

    store.put("people", {"name": "ann", "email": "ann@example.com"})

    table = store.client.describe_table(TableName="test_people")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 3
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_email"
    assert index["KeySchema"] == [{"AttributeName": "email", "KeyType": "HASH"}]
    assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert index["ProvisionedThroughput"]["WriteCapacityUnits"] == 3


@pytest.mark.parametrize(
    ("ttl_attribute", "status"), [(None, "DISABLED"), ("expires_at", "ENABLED")]
)
def test_ensure_table_enables_ttl_only_when_spec_names_attribute(dynamo, ttl_attribute, status):
    dynamo.register_table(TableSpec("sessions", hash_key="token", ttl_attribute=ttl_attribute))

    dynamo.ensure_table("sessions")

    ttl = dynamo.client.describe_time_to_live(TableName="test_sessions")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == status
    if ttl_attribute:
        assert ttl["AttributeName"] == ttl_attribute


def test_get_skips_table_check_once_table_seen(dynamo):
    calls = record_calls(dynamo)
    dynamo.get("things", {"id": "a"})
    assert calls[0] == "DescribeTable"
    assert "CreateTable" in calls
    calls.clear()

    dynamo.get("things", {"id": "a"})

    assert calls == ["GetItem"]


def test_ensure_table_skips_creation_and_on_create_when_table_exists(dynamo, make_store):
    dynamo.ensure_table("things")
    dynamo.put("things", {"id": "kept"})
    later = make_store()
    seeded = []
    later.on_create("things", lambda: seeded.append("later"))
    calls = record_calls(later)

    assert later.get("things", {"id": "kept"}) == {"id": "kept"}

    assert "CreateTable" not in calls
    assert seeded == []


def test_ensure_table_succeeds_when_another_process_creates_table_first(dynamo, make_store):
    winner, loser = dynamo, make_store()
    created_by = []
    winner.on_create("things", lambda: created_by.append("winner"))
    loser.on_create("things", lambda: created_by.append("loser"))
    calls = record_calls(loser)
    raced = []

    def describe_before_winner_creates(**kwargs):
        # The loser looks first and sees no table; the winner creates it before the loser does.
        if raced:
            return None
        raced.append(True)
        winner.ensure_table("things")
        return answer(400, {"Error": {"Code": "ResourceNotFoundException"}})

    loser.client.meta.events.register(
        "before-call.dynamodb.DescribeTable", describe_before_winner_creates
    )

    loser.put("things", {"id": "a"})

    assert "CreateTable" in calls  # it did lose a race, and got ResourceInUseException
    assert winner.get("things", {"id": "a"}) == {"id": "a"}
    assert created_by == ["winner"]


def test_on_create_runs_once_after_table_is_created(dynamo):
    runs = []

    def seed():
        tables = dynamo.client.list_tables()["TableNames"]
        runs.append(tables)
        dynamo.put("things", {"id": "seeded"})

    dynamo.on_create("things", seed)

    assert dynamo.get("things", {"id": "seeded"}) == {"id": "seeded"}
    dynamo.put("things", {"id": "b"})
    dynamo.ensure_table("things")

    assert runs == [["test_things"]]


def test_put_get_update_delete_round_trip(dynamo):
    dynamo.put("things", {"id": "a", "n": 1, "tags": ["x"]}, condition="attribute_not_exists(id)")
    assert dynamo.get("things", {"id": "a"}) == {"id": "a", "n": 1, "tags": ["x"]}

    updated = dynamo.update(
        "things",
        {"id": "a"},
        update="ADD #n :one SET note = :note",
        condition="attribute_exists(id)",
        names={"#n": "n"},
        values={":one": 1, ":note": "hi"},
    )
    assert updated == {"id": "a", "n": Decimal(2), "tags": ["x"], "note": "hi"}
    assert dynamo.get("things", {"id": "a"}) == updated

    assert dynamo.delete("things", {"id": "a"}, condition="attribute_exists(id)") == updated
    assert dynamo.get("things", {"id": "a"}) is None
    assert dynamo.delete("things", {"id": "a"}) is None


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("put", {"item": {"id": "a", "n": 9}, "condition": "attribute_not_exists(id)"}),
        (
            "update",
            {
                "key": {"id": "a"},
                "update": "SET n = :nine",
                "condition": "n = :two",
                "values": {":nine": 9, ":two": 2},
            },
        ),
        ("delete", {"key": {"id": "a"}, "condition": "attribute_not_exists(id)"}),
    ],
)
def test_conditional_write_raises_condition_failed_when_condition_false(dynamo, operation, kwargs):
    dynamo.put("things", {"id": "a", "n": 1})

    with pytest.raises(ConditionFailed) as failed:
        getattr(dynamo, operation)("things", **kwargs)

    # The store's own exception: a service decides what it means, never a generic HTTP 409.
    assert not isinstance(failed.value, AppError)
    assert dynamo.get("things", {"id": "a"}) == {"id": "a", "n": 1}


def test_transact_write_applies_every_write_across_tables(dynamo):
    dynamo.transact_write(
        [
            Write("Put", "things", {"id": "a"}, condition="attribute_not_exists(id)"),
            Write("Put", "others", {"code": "A1", "id": "a"}),
        ]
    )

    assert dynamo.get("things", {"id": "a"}) == {"id": "a"}
    assert dynamo.get("others", {"code": "A1"}) == {"code": "A1", "id": "a"}


def test_transact_write_applies_nothing_when_second_write_fails(dynamo):
    dynamo.put("others", {"code": "taken"})

    with pytest.raises(TransactionCanceled) as canceled:
        dynamo.transact_write(
            [
                Write("Put", "things", {"id": "new"}, condition="attribute_not_exists(id)"),
                Write("Put", "others", {"code": "taken"}, condition="attribute_not_exists(code)"),
            ]
        )

    assert not isinstance(canceled.value, AppError)
    assert canceled.value.reasons == ["None", "ConditionalCheckFailed"]
    assert dynamo.get("things", {"id": "new"}) is None


@pytest.mark.parametrize(
    ("count", "limit", "page_sizes"),
    [
        (7, 3, [3, 3, 1]),
        (6, 3, [3, 3]),
        (3, 3, [3]),  # limit == items left: moto sends no LastEvaluatedKey, AWS would
        (2, 5, [2]),
        (1, 1, [1]),
    ],
)
@pytest.mark.parametrize("server", ["moto", "aws"])
def test_scan_page_returns_every_item_once(dynamo, count, limit, page_sizes, server):
    if server == "aws":
        full_pages_carry_cursor(dynamo)
    ids = {f"item-{n}" for n in range(count)}
    for item_id in ids:
        dynamo.put("things", {"id": item_id})

    pages, cursors = walk(dynamo, "things", limit)

    assert [len(page) for page in pages] == page_sizes
    seen = [item["id"] for page in pages for item in page]
    assert sorted(seen) == sorted(ids)
    assert cursors[-1] is None
    assert all(cursors[:-1])


def test_scan_page_returns_nothing_for_empty_table(dynamo):
    assert dynamo.scan_page("things", limit=3) == ([], None)


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_get_raises_service_unavailable_when_throttled_on_every_attempt(
    aws, make_store, max_attempts
):
    store = make_store(DYNAMODB_MAX_ATTEMPTS=max_attempts)
    store.ensure_table("things")
    sends = inject_sends(store, "GetItem", ["ProvisionedThroughputExceededException"] * 10)

    with pytest.raises(ServiceUnavailable) as unavailable:
        store.get("things", {"id": "a"})

    assert len(sends) == max_attempts
    assert unavailable.value.status == 503
    assert unavailable.value.headers["Retry-After"] == "1"


def test_get_succeeds_when_throttled_on_first_attempt_only(dynamo):
    dynamo.put("things", {"id": "a"})
    sends = inject_sends(dynamo, "GetItem", ["ProvisionedThroughputExceededException"])

    assert dynamo.get("things", {"id": "a"}) == {"id": "a"}
    assert len(sends) == 2


@pytest.mark.parametrize(
    ("code", "http_status", "error", "status"),
    [
        ("ProvisionedThroughputExceededException", 400, ServiceUnavailable, 503),
        ("ThrottlingException", 400, ServiceUnavailable, 503),
        ("RequestLimitExceeded", 400, ServiceUnavailable, 503),
        ("InternalServerError", 500, ServiceUnavailable, 503),
        # A server error without DynamoDB's code: a proxy's, or moto_server's error page.
        ("500", 500, ServiceUnavailable, 503),
        ("AccessDeniedException", 400, ServiceUnavailable, 503),
        ("UnrecognizedClientException", 400, ServiceUnavailable, 503),
        # The store's own exceptions carry no status: a service translates them, and one
        # no service translated becomes a logged 500 (tests/test_errors.py).
        ("TransactionConflictException", 400, TransactionCanceled, None),
        ("ValidationException", 400, StoreError, None),
        ("SomethingNewException", 400, StoreError, None),
    ],
)
def test_get_translates_dynamodb_error_code(dynamo, code, http_status, error, status):
    dynamo.ensure_table("things")
    inject_sends(dynamo, "GetItem", [code] * 10, http_status)

    with pytest.raises(error) as raised:
        dynamo.get("things", {"id": "a"})

    assert getattr(raised.value, "status", None) == status
    assert isinstance(raised.value.__cause__, ClientError)
    assert raised.value.__cause__.response["Error"]["Code"] == code


def test_get_raises_service_unavailable_quickly_when_endpoint_unreachable(make_store, settings):
    store = make_store(AWS_ENDPOINT_URL_DYNAMODB=f"http://127.0.0.1:{free_port()}")
    sends = []
    store.client.meta.events.register("before-send.dynamodb", lambda **kwargs: sends.append(1))

    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as unavailable:
        store.get("things", {"id": "a"})
    elapsed = time.monotonic() - started

    assert elapsed < 5
    assert len(sends) == settings["DYNAMODB_MAX_ATTEMPTS"]
    assert isinstance(unavailable.value.__cause__, EndpointConnectionError)


def creating_after_create(store, stuck):
    """Make the new table CREATING, as AWS answers at first, while `stuck` holds anything.

    moto and DynamoDB Local create a table ACTIVE at once.
    """
    table_name = store.table_name("things")

    def describe(params, **kwargs):
        if stuck and store.client.list_tables()["TableNames"] == [table_name]:
            return answer(200, {"Table": {"TableName": table_name, "TableStatus": "CREATING"}})
        return None

    def created(parsed, **kwargs):
        if stuck:
            parsed["TableDescription"]["TableStatus"] = "CREATING"

    store.client.meta.events.register("before-call.dynamodb.DescribeTable", describe)
    store.client.meta.events.register("after-call.dynamodb.CreateTable", created)


def test_a_table_answered_active_needs_no_second_look(aws, make_store):
    creator, starter = make_store(), make_store()  # two processes: one creates, one finds it
    creating, finding = record_calls(creator), record_calls(starter)

    creator.ensure_table("things")
    starter.ensure_table("things")

    # CreateTable's answer (ACTIVE on moto and DynamoDB Local) or the first DescribeTable's
    # says it is ready: the waiter's DescribeTable would only say it again.
    assert creating == ["DescribeTable", "CreateTable"]
    assert finding == ["DescribeTable"]


def test_get_raises_service_unavailable_when_table_never_becomes_active(aws, make_store):
    store = make_store(DYNAMODB_TABLE_WAIT_SECONDS=1)
    creating_after_create(store, stuck=[True])

    with pytest.raises(ServiceUnavailable, match="being prepared") as unavailable:
        store.get("things", {"id": "a"})

    assert unavailable.value.headers["Retry-After"] == "1"


@pytest.mark.parametrize(("wait_seconds", "pauses"), [(1, []), (3, [1, 1])])
def test_a_table_still_creating_is_looked_at_each_second_for_the_wait_allowed(
    aws, make_store, monkeypatch, wait_seconds, pauses
):
    store = make_store(DYNAMODB_TABLE_WAIT_SECONDS=wait_seconds)
    creating_after_create(store, stuck=[True])
    slept: list[float] = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", slept.append)

    with pytest.raises(ServiceUnavailable):
        store.get("things", {"id": "a"})

    # DYNAMODB_TABLE_WAIT_SECONDS looks, one second apart, then answers 503.
    assert slept == pauses


def test_ensure_table_finishes_setup_when_new_table_becomes_active_late(aws, make_store):
    store = make_store(DYNAMODB_TABLE_WAIT_SECONDS=1)
    store.register_table(TableSpec("things", hash_key="id", ttl_attribute="expires_at"))
    seeded = []
    store.on_create("things", lambda: seeded.append(True))
    stuck = [True]
    creating_after_create(store, stuck)
    with pytest.raises(ServiceUnavailable):
        store.get("things", {"id": "a"})
    stuck.clear()  # the table is ACTIVE now

    assert store.get("things", {"id": "a"}) is None

    ttl = store.client.describe_time_to_live(TableName="test_things")["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert seeded == [True]


def test_get_recreates_table_deleted_under_running_store(dynamo):
    created = []
    dynamo.on_create("things", lambda: created.append(True))
    dynamo.put("things", {"id": "a"})
    dynamo.client.delete_table(TableName="test_things")

    assert dynamo.get("things", {"id": "a"}) is None
    dynamo.put("things", {"id": "b"})

    assert dynamo.get("things", {"id": "b"}) == {"id": "b"}
    assert created == [True, True]


def test_map_calls_runs_side_by_side_and_raises_the_first_failure(store):
    both_waiting = threading.Barrier(2, timeout=5)  # sequential calls would break it

    def meet(name: str) -> str:
        both_waiting.wait()
        return name.upper()

    def fail(number: int) -> int:
        if number == 1:
            raise ServiceUnavailable()
        return number

    assert store.map_calls(meet, ["a", "b"]) == ["A", "B"]
    with pytest.raises(ServiceUnavailable):
        store.map_calls(fail, [0, 1, 2])


def test_map_calls_raises_only_once_every_call_has_ended(store):
    ended = []

    def slow_after_a_failure(number: int) -> int:
        if number == 0:
            raise ServiceUnavailable()
        time.sleep(0.2)  # still running when the first call has failed
        ended.append(number)
        return number

    with pytest.raises(ServiceUnavailable):
        store.map_calls(slow_after_a_failure, [0, 1, 2])

    # Nothing left running to call DynamoDB after the caller has gone on.
    assert sorted(ended) == [1, 2]
