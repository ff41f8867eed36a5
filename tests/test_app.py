"""The app factory: settings in, one state under one key, nothing sent to AWS while building."""

from __future__ import annotations

from app import create_app
from app.config import DevelopmentConfig, TestingConfig
from app.helpers.state import KEY, AppState, state_of
from tests.faults import record_calls


def test_create_app_keeps_its_own_state_under_one_key(aws, settings):
    app = create_app(settings)

    # Flask-Limiter registers itself under "limiter"; everything of ours is under KEY.
    assert set(app.extensions) == {KEY, "limiter"}
    state = state_of(app)
    assert isinstance(state, AppState)
    assert state.passwords.rounds == settings["BCRYPT_ROUNDS"]
    assert state.session_policy.idle_timeout == settings["SESSION_IDLE_TIMEOUT"]
    assert state.store.table_name("users") == "test_users"


def test_create_app_sends_nothing_to_dynamodb_until_a_request_needs_it(aws, settings):
    app = create_app(settings)
    calls = record_calls(state_of(app).store)

    app.test_client().get("/api/health/live")
    assert calls == []
    app.test_client().get("/api/users")
    assert calls[:1] == ["DescribeTable"]


def test_create_app_takes_a_config_class(aws):
    assert create_app(TestingConfig).config["TABLE_PREFIX"] == "test_"
    assert create_app(DevelopmentConfig).config["SEED_DEMO_USERS"] is False


def test_create_app_reads_the_environment_without_a_config(aws, monkeypatch):
    monkeypatch.setenv("APP_ENV", "testing")
    monkeypatch.setenv("SESSION_TTL", "600")

    app = create_app()

    assert app.config["SESSION_TTL"] == 600
    assert state_of(app).session_policy.ttl == 600


def test_two_apps_have_two_states_and_two_limiters(aws, settings):
    one, two = state_of(create_app(settings)), state_of(create_app(settings))

    assert one is not two
    assert one.limiter is not two.limiter
    assert one.store is not two.store
