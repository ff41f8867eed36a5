"""The bench's side of DynamoDB: clients like the app's, and users seeded straight in."""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from bench.app_constants import (
    CONNECT_TIMEOUT,
    EMAILS_TABLE,
    MAX_ATTEMPTS,
    READ_TIMEOUT,
    USERS_TABLE,
    iso,
    shard_of,
)

REGION = "us-east-1"


def dynamodb_client() -> Any:
    """A boto3 DynamoDB client with the app's timeouts and retries (endpoint from the env)."""
    return boto3.session.Session().client(
        "dynamodb",
        region_name=REGION,
        config=BotoConfig(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        ),
    )


def count_users() -> int:
    """How many items the users table holds (a paginated Scan)."""
    return count_items(USERS_TABLE)


def count_items(table: str) -> int:
    """How many items `table` holds (a paginated Scan); 0 when it does not exist yet."""
    client = dynamodb_client()
    total, args = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        try:
            page = client.scan(**args)
        except client.exceptions.ResourceNotFoundException:
            return 0  # the app creates its tables on first use: none made yet
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def seed_users(first: int, count: int, password_hash: str) -> None:
    """Write users seed<first>..seed<first+count-1> and their email claims, no bcrypt."""
    resource = boto3.session.Session().resource("dynamodb", region_name=REGION)
    stamp = iso(time.time())
    users, emails = resource.Table(USERS_TABLE), resource.Table(EMAILS_TABLE)
    with users.batch_writer() as user_batch, emails.batch_writer() as email_batch:
        for number in range(first, first + count):
            username = seed_name(number)
            email = f"{username}@example.com"
            user_batch.put_item(
                Item={
                    "username": username,
                    "email": email,
                    "first_name": "Seed",
                    "last_name": f"User {number}",
                    "account_type": "standard_user",
                    "password_hash": password_hash,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "session_key": f"bench-seed-{number}",
                    "shard": shard_of(username),  # in the by_name index, as the app writes
                }
            )
            email_batch.put_item(Item={"email": email, "username": username})


def seed_name(number: int) -> str:
    """The username of seeded user `number`."""
    return f"seed{number:05d}"
