"""The ceilings: what raw boto3 against the same DynamoDB server, and bcrypt, manage per second."""

from __future__ import annotations

from collections.abc import Callable

from bench.app_constants import (
    PAGE_LIMIT,
    SESSIONS_TABLE,
    USERS_TABLE,
    PasswordHasher,
    hash_token,
)
from bench.data import dynamodb_client
from bench.load import Operation

Factory = Callable[[int], Operation]


def get_item_factory(usernames: list[str]) -> Factory:
    """Raw boto3 get_item, as the app's GET /api/users/<u> makes it, one client per thread."""

    def factory(index: int) -> Operation:
        client = dynamodb_client()
        counter = index

        def operation() -> bool:
            nonlocal counter
            counter += 1
            key = {"username": {"S": usernames[counter % len(usernames)]}}
            response = client.get_item(TableName=USERS_TABLE, Key=key, ConsistentRead=True)
            return "Item" in response

        return operation

    return factory


def batch_get_factory(tokens: list[str], accounts: list[str]) -> Factory:
    """Raw boto3 BatchGetItem of a session and its user, as the app's bearer check makes it."""

    def factory(index: int) -> Operation:
        client = dynamodb_client()
        token_hash = hash_token(tokens[index % len(tokens)])
        request = {
            SESSIONS_TABLE: {"Keys": [{"token_hash": {"S": token_hash}}], "ConsistentRead": True},
            USERS_TABLE: {
                "Keys": [{"username": {"S": accounts[index % len(accounts)]}}],
                "ConsistentRead": True,
            },
        }

        def operation() -> bool:
            response = client.batch_get_item(RequestItems=request)
            return sum(len(items) for items in response["Responses"].values()) == 2

        return operation

    return factory


def scan_factory() -> Factory:
    """Raw boto3 Scan of the first page (whole items), as the app's GET /api/users asks for it."""

    def factory(_index: int) -> Operation:
        client = dynamodb_client()

        def operation() -> bool:
            response = client.scan(TableName=USERS_TABLE, Limit=PAGE_LIMIT + 1)
            return len(response["Items"]) == PAGE_LIMIT + 1

        return operation

    return factory


def bcrypt_factory(hasher: PasswordHasher, password: str, password_hash: str) -> Factory:
    """The app's own password check per call: one bcrypt check (it releases the GIL)."""

    def factory(_index: int) -> Operation:
        def operation() -> bool:
            return hasher.check(password, password_hash)

        return operation

    return factory
