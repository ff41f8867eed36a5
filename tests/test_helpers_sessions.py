"""The sessions service: tokens, the session policy, and the lifecycle on the service level."""

from __future__ import annotations

import base64
import hashlib

import pytest

from app.config import ConfigError, config_from_env
from app.errors import Forbidden, Unauthorized
from app.helpers import sessions, users
from app.helpers.sessions import SessionPolicy
from app.models import Credentials, UserCreate
from tests.helpers import new_user

JANE = Credentials(username="janedoe", password="JanePass123")


@pytest.mark.parametrize("username", ["abc", "janedoe", "user.name_1-x", "a" * 32])
def test_issue_token_names_its_owner_and_parses_back(username):
    token = sessions.issue_token(username)

    owner, token_hash = sessions.parse_token(token)
    assert owner == username
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.split(".")[0] == base64.urlsafe_b64encode(username.encode()).decode().rstrip("=")
    assert len(token.split(".")[1]) == 43  # 32 random bytes


def test_issue_token_never_repeats():
    assert len({sessions.issue_token("janedoe") for _ in range(100)}) == 100


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-dot-at-all",
        "amFuZWRvZQ." + "A" * 42,  # a secret too short
        "amFuZWRvZQ." + "A" * 44,  # too long
        "amFuZWRvZQ." + "A" * 42 + "=",  # not base64url
        "!!!!." + "A" * 43,  # an owner part that is not base64url
        "SkFORURPRQ." + "A" * 43,  # "JANEDOE": not a stored (lower-case) username
        "YQ." + "A" * 43,  # "a": too short to be a username
        "4pyT." + "A" * 43,  # "✓": not ASCII
    ],
)
def test_parse_token_refuses_what_issue_token_cannot_make(token):
    with pytest.raises(Unauthorized):
        sessions.parse_token(token)


@pytest.mark.parametrize(
    ("absolute", "last_seen", "deadline"),
    [(10_000, 0, 1_800), (10_000, 9_000, 10_000), (10_000, 8_200, 10_000), (10_000, 8_199, 9_999)],
)
def test_deadline_is_the_earlier_of_idle_and_absolute(absolute, last_seen, deadline):
    policy = SessionPolicy(ttl=10_000, idle_timeout=1_800, refresh_interval=60)

    assert policy.deadline(absolute=absolute, last_seen=last_seen) == deadline


def test_login_then_authenticate_then_logout(state, clock):
    result = sessions.login(state, credentials=JANE)

    user, session = sessions.authenticate(state, token=result.token)
    assert (user.username, session.username) == ("janedoe", "janedoe")
    assert session.created_at == int(clock.now)
    sessions.logout(state, session=session)
    with pytest.raises(Unauthorized):
        sessions.authenticate(state, token=result.token)


def test_authenticate_refuses_a_token_whose_owner_part_was_swapped(state):
    token = sessions.login(state, credentials=JANE).token
    users.create_user(state, data=UserCreate(**new_user(username="alice")), actor=None)
    swapped = sessions.issue_token("alice").split(".")[0] + "." + token.split(".")[1]

    with pytest.raises(Unauthorized):
        sessions.authenticate(state, token=swapped)


def test_list_sessions_shows_at_most_one_page_newest_first(state, clock):
    for _ in range(sessions.MAX_LISTED + 5):
        clock.advance(1)
        sessions.login(state, credentials=JANE)
    jane = users.get_user(state, username="janedoe")

    listed = sessions.list_sessions(state, actor=jane, username="janedoe", current=None)

    assert len(listed) == sessions.MAX_LISTED
    created = [s.created_at for s in listed]
    assert created == sorted(created, reverse=True)


def test_list_sessions_of_someone_else_needs_an_admin(state):
    jane = users.get_user(state, username="janedoe")

    with pytest.raises(Forbidden, match="see the sessions of your own account"):
        sessions.list_sessions(state, actor=jane, username="johndoe", current=None)


def test_the_policy_reads_the_session_settings_and_the_reauthentication_window():
    settings = {
        "SESSION_TTL": 100,
        "SESSION_IDLE_TIMEOUT": 50,
        "SESSION_REFRESH_INTERVAL": 5,
        "REAUTH_WINDOW": 30,
    }

    assert SessionPolicy.from_config(settings) == SessionPolicy(100, 50, 5, 30)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("-1", "REAUTH_WINDOW must be 0 or more seconds"), ("soon", "REAUTH_WINDOW='soon' is not")],
)
def test_a_reauthentication_window_that_cannot_work_stops_start_up(raw, problem):
    with pytest.raises(ConfigError) as refused:
        config_from_env({"REAUTH_WINDOW": raw})

    assert any(line.startswith(problem) for line in refused.value.problems)
