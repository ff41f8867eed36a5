"""The peer that `make bench PEER=1` measures: fastapi-users 15 over its DynamoDB adapter.

A minimal service as fastapi-users' documentation builds one: UUID users, a bearer transport
with the database strategy (tokens stored in DynamoDB through the adapter), bcrypt at cost 12
through pwdlib, and the register, auth and users routers. Run with the peer's own virtual
environment (bench/peer-requirements.txt): `uvicorn service:app` from this folder, with
AWS_ENDPOINT_URL_DYNAMODB pointing at the bench's moto_server and PEER_TABLE_PREFIX set.
It is read by the bench's load generator only; nothing in the app imports it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport
from fastapi_users.authentication.strategy.db import DatabaseStrategy
from fastapi_users.password import PasswordHelper
from fastapi_users_db_dynamodb import DynamoDBBaseUserTableUUID, DynamoDBUserDatabase, config
from fastapi_users_db_dynamodb.access_token import (
    DynamoDBAccessTokenDatabase,
    DynamoDBBaseAccessTokenTableUUID,
)
from pwdlib import PasswordHash
from pwdlib.hashers.bcrypt import BcryptHasher

PREFIX = os.environ.get("PEER_TABLE_PREFIX", "peer_")
# The adapter reads its table names and region from its own configuration; the endpoint
# comes from AWS_ENDPOINT_URL_DYNAMODB, which botocore reads by itself.
config.set("DATABASE_REGION", os.environ.get("AWS_REGION", "us-east-1"))
config.set("DATABASE_USERTABLE_NAME", f"{PREFIX}users")
config.set("DATABASE_TOKENTABLE_NAME", f"{PREFIX}access_tokens")
SECRET = os.environ.get("PEER_SECRET", uuid.uuid4().hex)
# Our app's session lifetime (SESSION_TTL), so both keep a token as long.
TOKEN_LIFETIME = 12 * 3600


class User(DynamoDBBaseUserTableUUID):
    """fastapi-users' user item."""


class AccessToken(DynamoDBBaseAccessTokenTableUUID):
    """fastapi-users' access token item (the token itself is the key, stored as sent)."""


class UserRead(schemas.BaseUser[uuid.UUID]):
    """The user as the API shows it."""


class UserCreate(schemas.BaseUserCreate):
    """A registration body."""


class UserUpdate(schemas.BaseUserUpdate):
    """A change to a user."""


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    """fastapi-users' user manager, with bcrypt at cost 12 like the app."""

    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


PASSWORDS = PasswordHelper(PasswordHash((BcryptHasher(rounds=12),)))


async def user_db() -> AsyncIterator[DynamoDBUserDatabase]:
    """The users' table through the adapter."""
    yield DynamoDBUserDatabase(User)


async def access_token_db() -> AsyncIterator[DynamoDBAccessTokenDatabase]:
    """The access tokens' table through the adapter."""
    yield DynamoDBAccessTokenDatabase(AccessToken)


async def user_manager(
    users: DynamoDBUserDatabase = Depends(user_db),  # noqa: B008 - FastAPI's dependency style
) -> AsyncIterator[UserManager]:
    """One user manager per request, as fastapi-users' examples make it."""
    yield UserManager(users, PASSWORDS)


def database_strategy(
    tokens: DynamoDBAccessTokenDatabase = Depends(access_token_db),  # noqa: B008 - as above
) -> DatabaseStrategy:
    """Tokens looked up in DynamoDB on every request (revocable, like the app's sessions)."""
    return DatabaseStrategy(tokens, lifetime_seconds=TOKEN_LIFETIME)


backend = AuthenticationBackend(
    name="db",
    transport=BearerTransport(tokenUrl="auth/db/login"),
    get_strategy=database_strategy,
)
users = FastAPIUsers[User, uuid.UUID](user_manager, [backend])

app = FastAPI(title="fastapi-users peer")
app.include_router(users.get_auth_router(backend), prefix="/auth/db")
app.include_router(users.get_register_router(UserRead, UserCreate), prefix="/auth")
app.include_router(users.get_users_router(UserRead, UserUpdate), prefix="/users")


@app.get("/health")
async def health() -> dict[str, str]:
    """Live: the bench waits for this before it measures."""
    return {"status": "live"}
