"""Users API: user accounts as a Flask (APIFlask) REST API over Amazon DynamoDB."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from flask import Response, request

from app import errors, logs, openapi
from app.config import Config, config_from_env, settings_of
from app.controllers import docs
from app.controllers.common import require_json_body
from app.controllers.users import bp as users_bp
from app.helpers import users
from app.helpers.dynamo import DynamoInterface
from app.helpers.passwords import PasswordHasher

__version__ = "0.1.0"


def create_app(config: type[Config] | Mapping[str, Any] | None = None) -> APIFlask:
    """Build the app; settings come from `config`, or from APP_ENV and the environment."""
    if config is None:
        settings = config_from_env()
    elif isinstance(config, type):
        settings = settings_of(config)
    else:
        settings = dict(config)

    app = APIFlask(
        __name__,
        title="Users API",
        version=__version__,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
    )
    app.config.update(settings)
    app.json.sort_keys = False

    store = DynamoInterface.from_config(app.config)
    hasher = PasswordHasher(rounds=app.config["BCRYPT_ROUNDS"])
    hasher.dummy_hash  # noqa: B018 - made now, so no login pays for it
    for spec in users.TABLES:
        store.register_table(spec)
    if app.config["SEED_DEMO_USERS"]:
        store.on_create(users.USERS, lambda: users.seed_demo_users(store, passwords=hasher))
    app.extensions["dynamo"] = store
    app.extensions["passwords"] = hasher

    logs.init_app(app)
    errors.init_app(app)
    openapi.init_app(app)
    docs.init_app(app)
    app.register_blueprint(users_bp)
    _init_request_hooks(app)
    return app


def _init_request_hooks(app: APIFlask) -> None:
    @app.before_request
    def check_body() -> None:
        if request.method in ("POST", "PUT", "PATCH"):
            require_json_body()

    @app.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.status_code == 204:
            response.headers.pop("Content-Type", None)
        if request.path.startswith("/api/") and not request.path.startswith("/api/docs"):
            # User data must not sit in a shared or browser cache.
            response.headers["Cache-Control"] = "no-store"
        return response
