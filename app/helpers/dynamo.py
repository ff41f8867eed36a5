"""`DynamoInterface`: the only module that talks to DynamoDB (and the only one importing boto3)."""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import boto3
import botocore.loaders
import botocore.session
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from app.errors import ServiceUnavailable

log = logging.getLogger(__name__)

Item = dict[str, Any]
_In = TypeVar("_In")
_Out = TypeVar("_Out")
# Calls of one request that may run at once (`map_calls`): a page of the sharded index.
_PARALLEL_CALLS = 8

# DynamoDB answers these when it is overloaded or down: the client should come back later.
_UNAVAILABLE = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
}
# Wrong credentials or permissions: the database cannot be used, whatever the request.
_MISCONFIGURED = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
}


# The store's own exceptions are not HTTP errors: a service that meets one decides what it
# means (a taken name, a race, a missing user). One no service translated reaches the
# app's last-resort handler as a logged 500, a bug to fix, never a silent generic answer.
# DynamoDB being down or throttling is the one exception: ServiceUnavailable (503).


class StoreError(Exception):
    """DynamoDB refused a call in a way that means a bug on our side."""


class ConditionFailed(StoreError):
    """A conditional write found the item in another state than required."""

    def __init__(self, item: Item | None = None) -> None:
        super().__init__("the condition of a write did not hold")
        self.item = item


class TransactionCanceled(StoreError):
    """A transaction was cancelled; `reasons` has one code per write ("None" when fine).

    A transaction that collided with another one in flight has the single reason
    "TransactionConflict".
    """

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(f"a transaction was cancelled: {', '.join(reasons)}")
        self.reasons = reasons


class _TableMissing(Exception):
    """A table this process had seen is gone (deleted under a running app)."""


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key, and what it holds of each item."""

    hash_key: str
    hash_type: Literal["S", "N"] = "S"
    range_key: str | None = None  # a string attribute
    projected: tuple[str, ...] | None = None  # None: every attribute; else these and the keys


@dataclass(frozen=True)
class TableSpec:
    """What a table looks like: its name (before the prefix), key, indexes and TTL."""

    name: str
    hash_key: str
    indexes: Mapping[str, Index] = field(default_factory=dict)
    ttl_attribute: str | None = None


# botocore has no waiter for indexes: this one polls DescribeTable until every index is
# ACTIVE (an index added to a full table stays CREATING while DynamoDB backfills it).
_INDEX_WAITERS = WaiterModel(
    {
        "version": 2,
        "waiters": {
            "IndexesActive": {
                "operation": "DescribeTable",
                "delay": 2,
                "maxAttempts": 900,
                "acceptors": [
                    {
                        "matcher": "pathAll",
                        "argument": "Table.GlobalSecondaryIndexes[].IndexStatus",
                        "expected": "ACTIVE",
                        "state": "success",
                    }
                ],
            }
        },
    }
)


@dataclass(frozen=True)
class Write:
    """One write of a `transact_write` call."""

    kind: Literal["Put", "Update", "Delete", "ConditionCheck"]
    table: str
    target: Item  # the item for a Put, the key otherwise
    condition: str | None = None
    update: str | None = None
    names: Mapping[str, str] | None = None
    values: Mapping[str, Any] | None = None


class DynamoInterface:
    """Tables created on demand, typed items in and out, DynamoDB errors translated."""

    def __init__(
        self,
        *,
        table_prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        billing: str = "PAY_PER_REQUEST",
        read_capacity: int = 5,
        write_capacity: int = 5,
        connect_timeout: float = 1.0,
        read_timeout: float = 1.0,
        max_attempts: int = 3,
        table_wait_seconds: int = 60,
    ) -> None:
        self.table_prefix = table_prefix
        self.billing = billing
        self.capacity = {"ReadCapacityUnits": read_capacity, "WriteCapacityUnits": write_capacity}
        self.table_wait_seconds = table_wait_seconds
        self._client_args: dict[str, Any] = {
            "region_name": region,
            "endpoint_url": endpoint_url,
            "config": BotoConfig(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "total_max_attempts": max_attempts},
            ),
        }
        self._client: Any = None
        self._specs: dict[str, TableSpec] = {}
        self._on_create: dict[str, list[Callable[[], None]]] = {}
        self._ready: set[str] = set()
        # Created by this process, TTL and on_create still to do (a waiter may time out).
        self._unfinished: set[str] = set()
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        self._hooks: list[tuple[str, Callable[..., Any]]] = []
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DynamoInterface:
        """Build from the app's settings."""
        return cls(
            table_prefix=config["TABLE_PREFIX"],
            region=config["AWS_REGION"],
            endpoint_url=config["AWS_ENDPOINT_URL_DYNAMODB"],
            billing=config["DYNAMODB_BILLING"],
            read_capacity=config["DYNAMODB_READ_CAPACITY"],
            write_capacity=config["DYNAMODB_WRITE_CAPACITY"],
            connect_timeout=config["DYNAMODB_CONNECT_TIMEOUT"],
            read_timeout=config["DYNAMODB_READ_TIMEOUT"],
            max_attempts=config["DYNAMODB_MAX_ATTEMPTS"],
            table_wait_seconds=config["DYNAMODB_TABLE_WAIT_SECONDS"],
        )

    # -- set-up ---------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client, built on first use (clients are thread-safe)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    # botocore's own session: boto3's would add a search path to the
                    # shared loader each time.
                    session = botocore.session.get_session()
                    session.register_component("data_loader", _shared_loader())
                    client = session.create_client("dynamodb", **self._client_args)
                    for event, handler in self._hooks:
                        client.meta.events.register(event, handler)
                    self._client = client
        return self._client

    def add_hook(self, event: str, handler: Callable[..., Any]) -> None:
        """Register a botocore event handler (e.g. `before-call.dynamodb`) on the client."""
        self._hooks.append((event, handler))
        if self._client is not None:
            self._client.meta.events.register(event, handler)

    def describe(self, table: str) -> str:
        """The table's status (ACTIVE, CREATING, ...): a cheap call that proves DynamoDB answers."""
        response = self._call(table, "describe_table", TableName=self.table_name(table))
        return str(response["Table"]["TableStatus"])

    def register_table(self, spec: TableSpec) -> None:
        """Declare a table this store may create on demand."""
        self._specs[spec.name] = spec

    def on_create(self, table: str, callback: Callable[[], None]) -> None:
        """Run `callback` after this process creates `table` (e.g. to seed it)."""
        self._on_create.setdefault(table, []).append(callback)

    def table_name(self, table: str) -> str:
        """The real DynamoDB name of a logical table."""
        return f"{self.table_prefix}{table}"

    def ensure_table(self, table: str) -> bool:
        """Make sure `table` exists and is active (checked once per process).

        Whether this call created it.
        """
        if table in self._ready:
            return False
        with self._lock:
            if table in self._ready:
                return False
            created = self._translate(self._create_if_missing, self._specs[table])
            self._ready.add(table)
        if created:
            for callback in self._on_create.get(table, []):
                callback()
        return created

    def table_names(self) -> list[str]:
        """The tables registered with this store (without the prefix)."""
        return list(self._specs)

    def _create_if_missing(self, spec: TableSpec) -> bool:
        name = self.table_name(spec.name)
        status: str | None
        try:
            status = self.client.describe_table(TableName=name)["Table"]["TableStatus"]
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            status = self._create(spec)
            if status is not None:
                self._unfinished.add(spec.name)
        created = spec.name in self._unfinished
        # AWS answers CREATING (or UPDATING) for a while; DynamoDB Local and moto, ACTIVE at
        # once, which needs no second look.
        if status != "ACTIVE":
            delay = 1
            self.client.get_waiter("table_exists").wait(
                TableName=name,
                WaiterConfig={
                    "Delay": delay,
                    "MaxAttempts": max(1, self.table_wait_seconds // delay),
                },
            )
        if created and spec.ttl_attribute:
            self.client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
            )
        self._unfinished.discard(spec.name)
        return created

    def ensure_indexes(self, table: str) -> list[str]:
        """Add the indexes `table` lacks (a table older than them) and wait until active.

        The indexes added; DynamoDB fills each from the items already there.
        """
        self.ensure_table(table)
        spec = self._specs[table]
        name = self.table_name(table)
        described = self._call(table, "describe_table", TableName=name)["Table"]
        present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
        added = [index for index in spec.indexes if index not in present]
        for index in added:
            # One index per UpdateTable call: DynamoDB refuses more.
            self._call(
                table,
                "update_table",
                TableName=name,
                AttributeDefinitions=_attribute_definitions(spec),
                GlobalSecondaryIndexUpdates=[{"Create": self._index_args(index, spec)}],
            )
            log.info("adding index %s to DynamoDB table %s", index, name)
        if spec.indexes:
            waiter = create_waiter_with_client("IndexesActive", _INDEX_WAITERS, self.client)
            self._translate(waiter.wait, TableName=name)
        return added

    def _index_args(self, index: str, spec: TableSpec) -> dict[str, Any]:
        definition = spec.indexes[index]
        keys = [{"AttributeName": definition.hash_key, "KeyType": "HASH"}]
        if definition.range_key:
            keys.append({"AttributeName": definition.range_key, "KeyType": "RANGE"})
        projection: dict[str, Any] = {"ProjectionType": "ALL"}
        if definition.projected is not None:
            projection = {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(definition.projected),
            }
        provisioned = {"ProvisionedThroughput": self.capacity} if self._provisioned else {}
        return {"IndexName": index, "KeySchema": keys, "Projection": projection, **provisioned}

    def _create(self, spec: TableSpec) -> str | None:
        """Create the table: its status; None when another process won the race to create it."""
        args: dict[str, Any] = {
            "TableName": self.table_name(spec.name),
            "KeySchema": [{"AttributeName": spec.hash_key, "KeyType": "HASH"}],
            "AttributeDefinitions": _attribute_definitions(spec),
            "BillingMode": self.billing,
        }
        if self._provisioned:
            args["ProvisionedThroughput"] = self.capacity
        if spec.indexes:
            args["GlobalSecondaryIndexes"] = [self._index_args(i, spec) for i in spec.indexes]
        try:
            created = self.client.create_table(**args)
        except ClientError as exc:
            if _code(exc) == "ResourceInUseException":
                return None
            raise
        log.info("created DynamoDB table %s", args["TableName"])
        return created["TableDescription"]["TableStatus"]

    @property
    def _provisioned(self) -> bool:
        return self.billing == "PROVISIONED"

    # -- items ----------------------------------------------------------------------------

    def get(self, table: str, key: Item, *, consistent: bool = True) -> Item | None:
        """The item with `key`, or None."""
        response = self._call(
            table,
            "get_item",
            TableName=self.table_name(table),
            Key=self._dump(key),
            ConsistentRead=consistent,
        )
        return self._load(response["Item"]) if "Item" in response else None

    def put(
        self,
        table: str,
        item: Item,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Write `item`; raise `ConditionFailed` when `condition` does not hold."""
        self._call(
            table,
            "put_item",
            TableName=self.table_name(table),
            Item=self._dump_item(item),
            **self._expression_args(condition, names, values),
        )

    def update(
        self,
        table: str,
        key: Item,
        *,
        update: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Item:
        """Apply an update expression and return the whole new item."""
        response = self._call(
            table,
            "update_item",
            TableName=self.table_name(table),
            Key=self._dump(key),
            UpdateExpression=update,
            ReturnValues="ALL_NEW",
            **self._expression_args(condition, names, values),
        )
        return self._load(response["Attributes"])

    def delete(
        self,
        table: str,
        key: Item,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> Item | None:
        """Delete the item with `key` and return what it held (None if there was none)."""
        response = self._call(
            table,
            "delete_item",
            TableName=self.table_name(table),
            Key=self._dump(key),
            ReturnValues="ALL_OLD",
            **self._expression_args(condition, names, values),
        )
        return self._load(response["Attributes"]) if "Attributes" in response else None

    def transact_write(self, writes: Iterable[Write]) -> None:
        """Apply every write or none; raise `TransactionCanceled` with a reason per write."""
        writes = list(writes)
        items = []
        for write in writes:
            body: dict[str, Any] = {"TableName": self.table_name(write.table)}
            dump = self._dump_item if write.kind == "Put" else self._dump
            body["Item" if write.kind == "Put" else "Key"] = dump(write.target)
            if write.update:
                body["UpdateExpression"] = write.update
            body.update(self._expression_args(write.condition, write.names, write.values))
            items.append({write.kind: body})
        self._call({w.table for w in writes}, "transact_write_items", TransactItems=items)

    def batch_get(self, keys: Mapping[str, Item]) -> dict[str, Item | None]:
        """One item per table in a single round trip: {table: key} → {table: item or None}."""
        request = {
            self.table_name(table): {"Keys": [self._dump(key)], "ConsistentRead": True}
            for table, key in keys.items()
        }
        found: dict[str, Item | None] = dict.fromkeys(keys)
        by_name = {self.table_name(table): table for table in keys}
        # DynamoDB may leave keys unprocessed under load; ask again for those, a few times.
        for _attempt in range(5):
            response = self._call(set(keys), "batch_get_item", RequestItems=request)
            for name, items in response.get("Responses", {}).items():
                for raw in items:
                    found[by_name[name]] = self._load(raw)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise ServiceUnavailable()

    def query_index(
        self, table: str, index: str, *, value: Any, limit: int | None = None
    ) -> list[Item]:
        """Every item whose index key equals `value` (at most `limit`), following pages."""
        hash_key = self._specs[table].indexes[index].hash_key
        args: dict[str, Any] = {
            "TableName": self.table_name(table),
            "IndexName": index,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": hash_key},
            "ExpressionAttributeValues": self._dump({":v": value}),
        }
        items: list[Item] = []
        while limit is None or len(items) < limit:
            response = self._call(table, "query", **args)
            items += [self._load(raw) for raw in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return items[:limit]

    def query_page(
        self,
        table: str,
        index: str,
        *,
        value: Any,
        between: tuple[str, str],
        limit: int,
        start_key: Item | None = None,
    ) -> tuple[list[Item], Item | None]:
        """At most `limit` items of an index partition whose range key is within `between`.

        In range key order, and the key to continue from (None at the end). What is read is
        what the index holds (eventually consistent, as every index read).
        """
        definition = self._specs[table].indexes[index]
        args: dict[str, Any] = {
            "TableName": self.table_name(table),
            "IndexName": index,
            "KeyConditionExpression": "#h = :h AND #r BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#h": definition.hash_key, "#r": definition.range_key},
            "ExpressionAttributeValues": self._dump(
                {":h": value, ":low": between[0], ":high": between[1]}
            ),
            "Limit": limit,
        }
        if start_key:
            args["ExclusiveStartKey"] = self._dump(start_key)
        try:
            response = self._call(table, "query", **args)
        except (_TableMissing, StoreError) as exc:
            if not _about_index(exc):
                raise
            # A table made before the index (until `flask users init-db`), or an index
            # DynamoDB is still filling: nothing to read yet, and nothing a client did.
            log.error("DynamoDB index %s of %s cannot be read: %s", index, table, exc.__cause__)
            raise ServiceUnavailable(
                "The index this needs is not ready; an operator runs `flask users init-db`."
            ) from exc
        items = [self._load(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, self._load(last) if last else None

    def map_calls(self, function: Callable[[_In], _Out], inputs: Iterable[_In]) -> list[_Out]:
        """`function` over `inputs`, side by side: calls that each wait on the network.

        Each runs in a copy of the caller's context (the request's, for its log line); the
        first exception is raised once all have ended.
        """
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_PARALLEL_CALLS, thread_name_prefix="dynamodb")
            pool = self._pool
        futures = [pool.submit(contextvars.copy_context().run, function, i) for i in inputs]
        # All of them first: a call still running after the caller has gone on (with an
        # error) would land in whatever the caller does next, a table created again included.
        wait(futures)
        return [future.result() for future in futures]

    def delete_many(self, table: str, keys: Iterable[Item]) -> None:
        """Delete items by key, 25 per BatchWriteItem call (DynamoDB's limit)."""
        keys = list(keys)
        name = self.table_name(table)
        for start in range(0, len(keys), 25):
            request = {
                name: [{"DeleteRequest": {"Key": self._dump(k)}} for k in keys[start : start + 25]]
            }
            for _attempt in range(5):
                response = self._call(table, "batch_write_item", RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
            else:
                raise ServiceUnavailable()

    def scan_page(
        self,
        table: str,
        *,
        limit: int,
        start_key: Item | None = None,
        attributes: Sequence[str] = (),
    ) -> tuple[list[Item], Item | None]:
        """One page of at most `limit` items and the key to continue from (None at the end).

        `attributes`, when given, are all that is read of each item (the key included).
        """
        if limit < 1:
            raise ValueError("a page holds at least one item")
        # Ask for one more than needed: DynamoDB servers differ on whether a page that ends
        # exactly at the last item carries a LastEvaluatedKey, and the extra item settles it.
        args: dict[str, Any] = {"TableName": self.table_name(table), "Limit": limit + 1}
        if start_key:
            args["ExclusiveStartKey"] = self._dump(start_key)
        if attributes:
            args["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
            args["ExpressionAttributeNames"] = {f"#a{i}": a for i, a in enumerate(attributes)}
        response = self._call(table, "scan", **args)
        items = [self._load(raw) for raw in response.get("Items", [])]
        hash_key = self._specs[table].hash_key
        if len(items) > limit:
            items = items[:limit]
            return items, {hash_key: items[-1][hash_key]}
        if "LastEvaluatedKey" in response and items:
            return items, {hash_key: items[-1][hash_key]}
        if "LastEvaluatedKey" in response:
            return items, self._load(response["LastEvaluatedKey"])
        return items, None

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, tables: str | set[str], operation: str, **kwargs: Any) -> Any:
        """Call DynamoDB, creating tables on demand and translating its errors."""
        tables = {tables} if isinstance(tables, str) else tables
        for table in sorted(tables):
            self.ensure_table(table)
        try:
            return self._translate(self._invoke, operation, kwargs)
        except _TableMissing:
            # Someone deleted a table under us: forget it, create it again, try once more.
            with self._lock:
                self._ready.difference_update(tables)
            for table in sorted(tables):
                self.ensure_table(table)
            return self._translate(self._invoke, operation, kwargs)

    def _invoke(self, operation: str, kwargs: dict[str, Any]) -> Any:
        # Building the client can fail too (no region): keep it inside the translation.
        return getattr(self.client, operation)(**kwargs)

    def _translate(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a boto3 call, turning its exceptions into the project's errors."""
        try:
            return function(*args, **kwargs)
        except ClientError as exc:
            code = _code(exc)
            if code == "ConditionalCheckFailedException":
                old = exc.response.get("Item")
                raise ConditionFailed(self._load(old) if old else None) from exc
            if code == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or []
                raise TransactionCanceled([r.get("Code", "None") for r in reasons]) from exc
            if code == "TransactionConflictException":
                raise TransactionCanceled(["TransactionConflict"]) from exc
            if code == "ResourceNotFoundException":
                raise _TableMissing(code) from exc
            # Any server error is the server's, whatever it names it (moto_server answers an
            # HTML page when concurrent transactions trip it up).
            if code in _UNAVAILABLE or _status(exc) >= 500:
                log.warning("DynamoDB unavailable: %s", code)
                raise ServiceUnavailable() from exc
            if code in _MISCONFIGURED:
                log.error("DynamoDB refused our credentials: %s", code)
                raise ServiceUnavailable() from exc
            raise StoreError(f"DynamoDB refused {exc.operation_name}: {code}") from exc
        except WaiterError as exc:
            log.warning("DynamoDB table not ready: %s", exc)
            raise ServiceUnavailable("The database is being prepared; try again shortly.") from exc
        except BotoCoreError as exc:
            # Connection refused or timed out, no credentials or region: nothing to serve with.
            log.warning("DynamoDB unreachable: %s: %s", type(exc).__name__, exc)
            raise ServiceUnavailable() from exc

    def _dump(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _dump_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """A whole item, without its empty attributes: a missing one reads back the same.

        DynamoDB refused empty strings until 2020, and DynamoDB Local of that age still
        does; a None stored as NULL costs space and says nothing a missing one does not.
        """
        return self._dump({k: v for k, v in item.items() if not _empty(v)})

    def _load(self, raw: Mapping[str, Any]) -> Item:
        return {k: self._deserializer.deserialize(v) for k, v in raw.items()}

    def _expression_args(
        self,
        condition: str | None,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if condition:
            args["ConditionExpression"] = condition
        if names:
            args["ExpressionAttributeNames"] = dict(names)
        if values:
            args["ExpressionAttributeValues"] = self._dump(values)
        return args


def _empty(value: Any) -> bool:
    """Whether a value is better stored as no attribute (DynamoDB refuses an empty set)."""
    return value is None or value == "" or (isinstance(value, set | frozenset) and not value)


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """Botocore's reader of its service models, one per process.

    Each new botocore session would parse DynamoDB's model and the endpoint rules again
    (tens of milliseconds): an app per test, or a CLI command, pays that once this way.
    """
    return botocore.loaders.create_loader()


def _attribute_definitions(spec: TableSpec) -> list[dict[str, str]]:
    """The type of every key attribute of the table and its indexes."""
    types = {spec.hash_key: "S"}
    for index in spec.indexes.values():
        types[index.hash_key] = index.hash_type
        if index.range_key:
            types[index.range_key] = "S"
    return [{"AttributeName": name, "AttributeType": kind} for name, kind in types.items()]


def _about_index(exc: Exception) -> bool:
    """Whether DynamoDB refused a Query for its index: missing, or still being filled."""
    cause = exc.__cause__
    return isinstance(cause, ClientError) and "index" in str(cause).lower()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def default_region() -> str | None:
    """The region botocore would use from the AWS configuration alone (no network)."""
    return boto3.session.Session().region_name
