"""Users API: user accounts as a Flask (APIFlask) REST API over Amazon DynamoDB."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from flask_limiter import Limiter

from app import cli, errors, logs, openapi, security
from app.config import Config, ConfigError, config_from_env, settings_of, validate
from app.controllers import docs, factors, health, pages, recovery, sessions, users
from app.helpers import rate_limits, tables
from app.helpers.dynamo import DynamoInterface
from app.helpers.factors import FactorPolicy
from app.helpers.health import Readiness
from app.helpers.keyring import Keyring
from app.helpers.lockout import LockoutPolicy
from app.helpers.mail import Mailer
from app.helpers.messages import Composer, template_problems
from app.helpers.notices import EmailPolicy
from app.helpers.passkeys import RelyingParty
from app.helpers.passwords import PasswordHasher
from app.helpers.sessions import SessionPolicy
from app.helpers.state import AppState
from app.helpers.users import seed_demo_users

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
    # The mail templates too (the operator's may have a typo): see app/helpers/messages.py.
    problems = template_problems(settings["TEMPLATE_FOLDER"])
    if problems:
        raise ConfigError(list(problems))

    docs_enabled = settings["DOCS_ENABLED"]
    app = APIFlask(
        __name__,
        title="Users API",
        version=__version__,
        spec_path="/api/openapi.json",
        docs_path="/api/docs" if docs_enabled else None,
        docs_oauth2_redirect_path="/api/docs/oauth2-redirect" if docs_enabled else None,
    )
    app.config.update(settings)
    app.json.sort_keys = False

    store = DynamoInterface.from_config(app.config)
    for spec in tables.SPECS:
        store.register_table(spec)
    # The DynamoDB storage counts in this app's own tables; others take no options.
    dynamodb = app.config["RATELIMIT_STORAGE_URI"].startswith(f"{rate_limits.SCHEME}://")
    storage_options: dict[str, Any] = {"store": store} if dynamodb else {}
    # One limiter per app, so that each app (and each test) counts on its own.
    limiter = Limiter(security.client_address, storage_options=storage_options)
    hasher = PasswordHasher(rounds=app.config["BCRYPT_ROUNDS"])
    hasher.dummy_hash  # noqa: B018 - made now, so no login pays for it
    state = AppState(
        store=store,
        passwords=hasher,
        session_policy=SessionPolicy.from_config(app.config),
        lockout=LockoutPolicy.from_config(app.config),
        readiness=Readiness(
            store, table=tables.users.USERS, cache_seconds=app.config["HEALTH_CACHE_SECONDS"]
        ),
        limiter=limiter,
        login_budget=security.LoginBudget(limiter, app.config["RATELIMIT_LOGIN"]),
        mailer=Mailer.from_config(app.config),
        messages=Composer.from_config(app.config),
        email_policy=EmailPolicy.from_config(app.config),
        keyring=Keyring.for_app(app.config),
        factors=FactorPolicy.from_config(app.config),
        relying_party=RelyingParty.from_config(app.config),
    )
    state.install(app)
    if app.config["SEED_DEMO_USERS"]:
        store.on_create(tables.users.USERS, lambda: seed_demo_users(state))

    logs.init_app(app, store)
    errors.init_app(app)
    openapi.init_app(app)
    if docs_enabled:
        docs.init_app(app)
    app.register_blueprint(users.bp)
    app.register_blueprint(sessions.bp)
    app.register_blueprint(recovery.bp)
    app.register_blueprint(factors.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(pages.bp)
    security.init_app(app)
    app.cli.add_command(cli.group)
    return app
