"""The import and export line: `flask users import` and `export` beside raw boto3 doing the same.

The import reads a file of users with pre-hashed passwords (plain bcrypt at cost 4: no
hashing in the measurement) into empty tables of its own; its ceiling is the same
DynamoDB writes, one `TransactWriteItems` per user (the user's Put and its email claim,
each conditional), from the same number of threads, into other empty tables of the same
server, in the same run. Export reads those users back a Scan page at a time; beside it,
raw boto3 paging through the same table with Scans of the same size.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from app.serving import child_environment
from bench import ROOT
from bench.app_constants import (
    EMAILS,
    EXPORT_PAGE,
    FOREIGN_BCRYPT,
    USERS,
    iso,
)
from bench.data import dynamodb_client
from bench.servers import aws_environment

# The tables each side writes into: the command's (through the app's prefix) and the ceiling's.
IMPORT_PREFIX = "bench_import_"
RAW_PREFIX = "bench_raw_"
# The command prints its own rate: "... in 35.2 s (284 rows/s)".
_RATE = re.compile(r"\(([0-9,]+) rows/s\)\s*$")


@dataclass
class Job:
    """One run of a fixed amount of work: rows done, in how long, by how many threads."""

    rows: int
    seconds: float
    threads: int
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def cheap_hash() -> str:
    """A plain bcrypt hash at cost 4, as another system would export it."""
    return bcrypt.hashpw(b"imported, never used", bcrypt.gensalt(4)).decode()


def import_name(number: int) -> str:
    """The username of imported user `number`."""
    return f"imp{number:06d}"


def write_rows(path: Path, count: int, password_hash: str) -> None:
    """A JSON Lines file of `count` users, each with the pre-hashed password."""
    with path.open("w") as out:
        for number in range(count):
            username = import_name(number)
            out.write(
                f'{{"username": "{username}", "email": "{username}@example.com", '
                f'"first_name": "Imported", "last_name": "User {number}", '
                f'"password_hash": "{password_hash}", "hash_scheme": "bcrypt"}}\n'
            )


def reset_tables(prefix: str) -> None:
    """Empty users and email-claim tables under `prefix`: deleted if there, then created."""
    client = dynamodb_client()
    for table, key in ((USERS, "username"), (EMAILS, "email")):
        name = f"{prefix}{table}"
        try:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(
                TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
            )
        except client.exceptions.ResourceNotFoundException:
            pass
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )


def raw_import(count: int, threads: int, password_hash: str) -> Job:
    """The ceiling: the import's transactions written with boto3 by `threads` threads."""
    reset_tables(RAW_PREFIX)
    users, emails = f"{RAW_PREFIX}{USERS}", f"{RAW_PREFIX}{EMAILS}"
    stored_hash = FOREIGN_BCRYPT + password_hash
    clients = [dynamodb_client() for _ in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    stamp = iso(time.time())

    def writer(index: int) -> None:
        client, mine = clients[index], latencies[index]
        for number in range(index, count, threads):
            username = import_name(number)
            email = f"{username}@example.com"
            user = {
                "username": {"S": username},
                "email": {"S": email},
                "first_name": {"S": "Imported"},
                "last_name": {"S": f"User {number}"},
                "account_type": {"S": "standard_user"},
                "password_hash": {"S": stored_hash},
                "created_at": {"S": stamp},
                "updated_at": {"S": stamp},
                "session_key": {"S": f"raw-{number}"},
            }
            started = time.perf_counter()
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": users,
                                "Item": user,
                                "ConditionExpression": "attribute_not_exists(username)",
                            }
                        },
                        {
                            "Put": {
                                "TableName": emails,
                                "Item": {"email": {"S": email}, "username": {"S": username}},
                                "ConditionExpression": "attribute_not_exists(email)",
                            }
                        },
                    ]
                )
            except Exception:
                errors[index] += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)

    workers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    flat = sorted(ms for mine in latencies for ms in mine)
    return Job(count - sum(errors), seconds, threads, sum(errors), flat)


def raw_scan(page: int) -> Job:
    """Raw boto3 paging through the imported users with Scans of `page` + 1 items."""
    client, table = dynamodb_client(), f"{IMPORT_PREFIX}{USERS}"
    args: dict[str, Any] = {"TableName": table, "Limit": page + 1}
    rows, latencies = 0, []
    started = time.perf_counter()
    while True:
        sent = time.perf_counter()
        response = client.scan(**args)
        latencies.append((time.perf_counter() - sent) * 1000)
        rows += len(response["Items"])
        if "LastEvaluatedKey" not in response:
            break
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return Job(rows, time.perf_counter() - started, 1, 0, sorted(latencies))


def run_command(url: str, *args: str) -> tuple[float, float, str]:
    """Run `flask --app app users ARGS` against `url`: its own rows/s, wall seconds, output."""
    environment = child_environment(
        {
            **aws_environment(url),
            "TABLE_PREFIX": IMPORT_PREFIX,
            "SEED_DEMO_USERS": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - this Python, the app's own command
        [sys.executable, "-m", "flask", "--app", "app", "users", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    wall = time.perf_counter() - started
    summary = done.stderr if args[0] == "export" and args[1] == "-" else done.stdout
    found = _RATE.search(summary.strip())
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"users {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(found[1].replace(",", "")), wall, done.stdout.strip().splitlines()[-1]


def command_import(url: str, count: int, password_hash: str, *, threads: int) -> Job:
    """`flask users import` of `count` pre-hashed rows into empty tables, as an operator runs it."""
    reset_tables(IMPORT_PREFIX)
    with tempfile.TemporaryDirectory(prefix="users-api-bench-") as folder:
        source = Path(folder) / "users.jsonl"
        write_rows(source, count, password_hash)
        rate, wall, summary = run_command(url, "import", str(source), "--workers", str(threads))
    return Job(count, count / rate, threads, extra={"wall_seconds": wall, "summary": summary})


def command_export(url: str, count: int) -> Job:
    """`flask users export --include-hashes` of the imported users to a file."""
    with tempfile.TemporaryDirectory(prefix="users-api-bench-") as folder:
        target = Path(folder) / "users.jsonl"
        rate, wall, summary = run_command(url, "export", str(target), "--include-hashes")
        exported = sum(1 for _ in target.open())
    if exported != count:
        raise RuntimeError(f"users export wrote {exported} users, expected {count}")
    return Job(
        count,
        count / rate,
        1,
        extra={"wall_seconds": wall, "summary": summary, "page": EXPORT_PAGE},
    )
