"""Users API: user accounts as a Flask (APIFlask) REST API over Amazon DynamoDB."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask

from app import errors, logs, openapi, security
from app.config import Config, config_from_env, settings_of, validate
from app.controllers import docs, health, pages, sessions, users
from app.helpers import lockout
from app.helpers import sessions as session_service
from app.helpers import users as user_service
from app.helpers.dynamo import DynamoInterface
from app.helpers.health import Readiness
from app.helpers.passwords import PasswordHasher
from app.helpers.sessions import SessionPolicy

__version__ = "0.1.0"


def create_app(config: type[Config] | Mapping[str, Any] | None = None) -> APIFlask:
    """Build the app; settings come from `config`, or from APP_ENV and the environment."""
    if config is None:
        settings = config_from_env()
    elif isinstance(config, type):
        settings = settings_of(config)
    else:
        settings = dict(config)
    validate(settings)

    app = APIFlask(
        __name__,
        title="Users API",
        version=__version__,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
        docs_oauth2_redirect_path="/api/docs/oauth2-redirect",
    )
    app.config.update(settings)
    app.json.sort_keys = False

    store = DynamoInterface.from_config(app.config)
    hasher = PasswordHasher(rounds=app.config["BCRYPT_ROUNDS"])
    hasher.dummy_hash  # noqa: B018 - made now, so no login pays for it
    for spec in (*user_service.TABLES, session_service.TABLE, lockout.TABLE):
        store.register_table(spec)
    if app.config["SEED_DEMO_USERS"]:
        store.on_create(
            user_service.USERS,
            lambda: user_service.seed_demo_users(
                store, passwords=hasher, now=app.extensions["clock"]()
            ),
        )
    app.extensions["dynamo"] = store
    app.extensions["passwords"] = hasher
    app.extensions["session_policy"] = SessionPolicy.from_config(app.config)
    app.extensions["clock"] = time.time
    app.extensions["readiness"] = Readiness(
        store, table=user_service.USERS, cache_seconds=app.config["HEALTH_CACHE_SECONDS"]
    )

    logs.init_app(app, store)
    errors.init_app(app)
    openapi.init_app(app)
    docs.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    security.init_app(app)
    return app
