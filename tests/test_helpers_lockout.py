"""Per-account lockout: doubling waits, reset, every login route, unknown users, one counter."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from app.config import ConfigError, config_from_env
from app.errors import TooManyRequests
from app.helpers.lockout import LockoutPolicy
from app.helpers.state import state_of
from tests.helpers import FakeClock, basic, new_user

START = 1_800_000_000.0
JANE_PASSWORD = "JanePass123"
WRONG = "not-the-password"
LOCKED_DETAIL = "Too many failed logins for this account; try again later."
POLICY = LockoutPolicy()  # the defaults: 5 failures, 15 minutes at most, forgiven after 15


# The ways to present a username and password, and the status each gives when they are right.
def by_session(client, username, password):
    return client.post("/api/sessions", json={"username": username, "password": password})


def by_basic(client, username, password):
    return client.get("/api/user", headers=basic(username, password))


def by_basic_elsewhere(client, username, password):
    # HTTP Basic on a route that is not a login route: the same credential check.
    return client.get("/api/users/johndoe", headers=basic(username, password))


def by_query(client, username, password):
    return client.get("/api/user", query_string={"username": username, "password": password})


ROUTES = [
    pytest.param(by_session, 201, id="POST-sessions"),
    pytest.param(by_basic, 200, id="basic-GET-user"),
    pytest.param(by_basic_elsewhere, 200, id="basic-GET-users-johndoe"),
    pytest.param(by_query, 200, id="query-GET-user"),
]


def fail(client, times, username="janedoe", attempt=by_session):
    """`times` wrong-password attempts, each of which must be an ordinary 401."""
    for _ in range(times):
        assert attempt(client, username, WRONG).status_code == 401


def fail_waiting(client, clock, times, username="janedoe"):
    """`times` counted failures, waiting out each lock in between; locked after the last."""
    for failures in range(1, times + 1):
        assert by_session(client, username, WRONG).status_code == 401
        if failures < times:
            clock.advance(min(2 ** (failures - 5), 900) if failures >= 5 else 0)


def assert_locked(response, retry_after):
    assert response.status_code == 429
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 429
    assert response.json["detail"] == LOCKED_DETAIL
    assert response.headers["Retry-After"] == str(retry_after)


def failures_of(store, username):
    """The failure counter as stored in DynamoDB (None when there is no record)."""
    item = store.client.get_item(
        TableName=store.table_name("login_failures"),
        Key={"username": {"S": username}},
        ConsistentRead=True,
    ).get("Item")
    return int(item["failures"]["N"]) if item else None


# -- The backoff rule as pure functions -----------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "wait"),
    [
        (0, 0),
        (1, 0),
        (4, 0),
        (5, 1),
        (6, 2),
        (7, 4),
        (8, 8),
        (10, 32),
        (13, 256),
        (14, 512),
        (15, 900),  # 1024 s, capped at 15 minutes
        (16, 900),
        (40, 900),
        (10_000, 900),
    ],
)
def test_wait_seconds_doubles_from_fifth_failure_up_to_fifteen_minutes(failures, wait):
    assert POLICY.wait_seconds(failures) == wait


@pytest.mark.parametrize(
    ("failures", "seconds_ago", "retry_after"),
    [
        (4, 0, None),
        (5, 0, 1),
        (5, 0.5, 1),
        (5, 1, None),  # the wait is over exactly on time
        (7, 0, 4),
        (7, 1.5, 3),  # 2.5 s left, rounded up
        (7, 4, None),
        (20, 0, 900),
        (20, 899.2, 1),
        (20, 900, None),
        # Written by an instance whose clock runs ahead: never longer than the wait itself.
        (5, -100, 1),
        (8, -100, 8),
        (8, -3.5, 8),
        (20, -3600, 900),
    ],
)
def test_check_locks_for_the_rest_of_the_wait(failures, seconds_ago, retry_after):
    record = {"failures": failures, "last_failure_at": START - seconds_ago}

    if retry_after is None:
        assert POLICY.standing(record, now=START) == failures
    else:
        with pytest.raises(TooManyRequests) as locked:
            POLICY.standing(record, now=START)
        assert locked.value.retry_after == retry_after
        assert locked.value.headers == {"Retry-After": str(retry_after)}


def test_check_without_record_is_zero_failures():
    assert POLICY.standing(None, now=START) == 0


def test_check_below_threshold_never_locks_even_if_last_failure_is_in_the_future():
    record = {"failures": 1, "last_failure_at": START + 2}

    assert POLICY.standing(record, now=START) == 1


@pytest.mark.parametrize(
    ("failures", "quiet", "standing"),
    [
        (1, 899, 1),
        (1, 900, 0),  # no lock, 15 quiet minutes: forgiven
        (4, 900, 0),
        (5, 900, 5),  # the lock took 1 s of those 15 minutes
        (5, 901, 0),
        (8, 907, 8),
        (8, 908, 0),
        (20, 1799, 20),
        (20, 1800, 0),  # a 15-minute lock, then 15 quiet minutes
    ],
)
def test_failures_are_forgiven_after_the_lock_and_a_quiet_period(failures, quiet, standing):
    record = {"failures": failures, "last_failure_at": START - quiet}

    assert POLICY.standing(record, now=START) == standing


@pytest.mark.parametrize(
    ("policy", "failures", "wait"),
    [
        (LockoutPolicy(threshold=3), 2, 0),
        (LockoutPolicy(threshold=3), 3, 1),
        (LockoutPolicy(threshold=3), 5, 4),
        (LockoutPolicy(max_wait=60), 11, 60),
        (LockoutPolicy(threshold=1, max_wait=10), 1, 1),
        (LockoutPolicy(threshold=1, max_wait=10), 100_000, 10),
    ],
)
def test_the_policy_follows_its_settings(policy, failures, wait):
    assert policy.wait_seconds(failures) == wait


def test_the_policy_reads_the_lockout_settings():
    settings = {"LOCKOUT_THRESHOLD": 3, "LOCKOUT_MAX_WAIT": 60, "LOCKOUT_RESET_AFTER": 0}

    assert LockoutPolicy.from_config(settings) == LockoutPolicy(3, 60, 0)


@pytest.mark.parametrize(
    ("name", "raw", "problem"),
    [
        ("LOCKOUT_THRESHOLD", "0", "LOCKOUT_THRESHOLD must be at least 1"),
        ("LOCKOUT_MAX_WAIT", "0", "LOCKOUT_MAX_WAIT must be at least 1"),
        ("LOCKOUT_RESET_AFTER", "-1", "LOCKOUT_RESET_AFTER must be 0 or more seconds"),
        ("LOCKOUT_THRESHOLD", "five", "LOCKOUT_THRESHOLD='five' is not valid"),
    ],
)
def test_lockout_settings_that_cannot_work_stop_start_up(name, raw, problem):
    with pytest.raises(ConfigError) as refused:
        config_from_env({name: raw})

    assert any(line.startswith(problem) for line in refused.value.problems)


# -- Through the routes ---------------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "ok"), ROUTES)
def test_login_after_five_failures_is_429_even_with_right_password(client, clock, attempt, ok):
    fail(client, 5, attempt=attempt)

    assert_locked(attempt(client, "janedoe", JANE_PASSWORD), 1)
    assert_locked(attempt(client, "janedoe", WRONG), 1)
    clock.advance(1)
    assert attempt(client, "janedoe", JANE_PASSWORD).status_code == ok


def test_login_wait_doubles_with_each_failure_up_to_fifteen_minutes(client, store, clock):
    fail(client, 5)
    for failures in range(5, 18):
        wait = min(2 ** (failures - 5), 900)
        assert failures_of(store, "janedoe") == failures
        assert_locked(by_session(client, "janedoe", WRONG), wait)
        if wait > 1:
            clock.advance(wait - 1)
            assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)
        clock.advance(1)
        # The wait is over: one more attempt is allowed, and (being wrong) counted.
        assert by_session(client, "janedoe", WRONG).status_code == 401
    assert failures_of(store, "janedoe") == 18


def test_login_retry_after_counts_down_the_remaining_wait(client, clock):
    fail_waiting(client, clock, 7)  # locked for 4 s

    clock.advance(1.5)
    assert_locked(by_session(client, "janedoe", WRONG), 3)
    clock.advance(2)
    assert_locked(by_session(client, "janedoe", WRONG), 1)


def test_login_attempts_refused_while_locked_are_not_counted(client, store, clock):
    fail_waiting(client, clock, 6)  # locked for 2 s

    for _ in range(10):
        assert_locked(by_session(client, "janedoe", WRONG), 2)
    assert failures_of(store, "janedoe") == 6


def test_failure_counter_is_deleted_once_it_no_longer_matters(client, store, clock):
    fail(client, 2)
    clock.advance(600)
    fail(client, 1)

    item = store.get("login_failures", {"username": "janedoe"})
    assert item["failures"] == 3
    assert item["last_failure_at"] == clock.now
    # DynamoDB's TTL deletes the counter when even the longest lock and the quiet period
    # after it would be over, not sooner.
    assert item["expires_at"] == clock.now + 900 + 900
    ttl = store.client.describe_time_to_live(TableName=store.table_name("login_failures"))
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_successful_login_after_wait_resets_the_count(client, store, clock):
    fail_waiting(client, clock, 8)  # locked for 8 s
    clock.advance(8)

    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201
    assert failures_of(store, "janedoe") is None
    fail(client, 5)  # five fresh failures are allowed again, then the first wait is 1 s
    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)


def test_successful_login_below_threshold_resets_the_count(client, store, clock):
    fail(client, 4)
    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201

    fail(client, 5)  # not 9 consecutive failures: none of these is locked out

    assert failures_of(store, "janedoe") == 5


@pytest.mark.parametrize(("attempt", "ok"), ROUTES)
def test_login_routes_share_one_counter(client, store, clock, attempt, ok):
    fail(client, 2, username="janedoe", attempt=by_session)
    fail(client, 1, username="JaneDoe", attempt=by_basic)  # any case: the same account
    fail(client, 1, username="janedoe", attempt=by_basic_elsewhere)
    fail(client, 1, username="JANEDOE", attempt=by_query)
    assert failures_of(store, "janedoe") == 5

    assert_locked(attempt(client, "janedoe", JANE_PASSWORD), 1)
    clock.advance(1)
    assert attempt(client, "janedoe", JANE_PASSWORD).status_code == ok


@pytest.mark.parametrize(("attempt", "ok"), ROUTES)
def test_unknown_username_is_locked_out_like_a_real_one(client, store, clock, attempt, ok):
    def story(username):
        """Statuses, bodies and headers of a lockout story, the clock back where it began."""
        start = clock.now
        seen = []
        for step in ["wrong"] * 5 + ["right", "wait", "wrong", "right", "wait:2", "wrong"]:
            if step.startswith("wait"):
                clock.advance(int(step.partition(":")[2] or 1))
                continue
            response = attempt(client, username, JANE_PASSWORD if step == "right" else WRONG)
            seen.append(
                (
                    response.status_code,
                    response.get_data(),
                    response.headers.get("Retry-After"),
                    response.headers.get("WWW-Authenticate"),
                    response.mimetype,
                )
            )
        clock.now = start
        return seen

    real = story("janedoe")
    unknown = story("nobody-here")

    assert [s[0] for s in real] == [401] * 5 + [429, 401, 429, 401]
    assert unknown == real
    assert failures_of(store, "nobody-here") == failures_of(store, "janedoe") == 7


def test_wrong_current_password_counts_towards_the_lockout(client, clock):
    token = by_session(client, "janedoe", JANE_PASSWORD).json["token"]
    change = {"password": "a brand new secret", "current_password": WRONG}
    for _ in range(5):
        response = client.patch(
            "/api/users/janedoe", json=change, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 422

    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)


def test_failure_counter_is_atomic_under_concurrent_logins(engine_app):
    app, store = engine_app, state_of(engine_app).store
    by_session(app.test_client(), "janedoe", JANE_PASSWORD)  # tables exist before the race starts
    # Every attempt must reach the counter, so the lock is kept from engaging. No clock can
    # do that on its own: a request reads the clock before it reads the counter, and another
    # request's failure may be written in between (with a clock that gained an hour on every
    # read, some of the 20 attempts were refused in about one run in four).
    state_of(app).lockout = LockoutPolicy(threshold=1_000)
    state_of(app).clock = FakeClock()
    threads = 20
    barrier = threading.Barrier(threads)

    def wrong_login(_):
        own_client = app.test_client()
        barrier.wait()
        return by_session(own_client, "janedoe", WRONG).status_code

    with ThreadPoolExecutor(threads) as pool:
        statuses = list(pool.map(wrong_login, range(threads)))

    assert statuses == [401] * threads
    assert failures_of(store, "janedoe") == threads


def test_concurrent_guesses_run_no_more_password_checks_than_the_threshold(engine_app):
    app, store = engine_app, state_of(engine_app).store
    state_of(app).clock = FakeClock()
    by_session(app.test_client(), "janedoe", JANE_PASSWORD)  # tables exist before the race starts
    hasher = state_of(app).passwords
    checks = []
    real_check = hasher.check

    def counted_check(password, password_hash):
        checks.append(password)
        return real_check(password, password_hash)

    hasher.check = counted_check
    guesses = 20
    barrier = threading.Barrier(guesses)

    def guess(_):
        own_client = app.test_client()
        barrier.wait()
        return by_session(own_client, "janedoe", WRONG)

    with ThreadPoolExecutor(guesses) as pool:
        answers = list(pool.map(guess, range(guesses)))

    assert len(checks) == 5
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 15
    for answer in answers:
        if answer.status_code == 429:
            assert_locked(answer, 1)
    assert failures_of(store, "janedoe") == 5


def test_a_success_forgets_the_attempts_it_counted(client, store, clock):
    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201

    assert failures_of(store, "janedoe") is None


def test_failures_restart_after_a_lock_and_fifteen_quiet_minutes(client, store, clock):
    fail(client, 5)  # locked for 1 s
    clock.advance(1 + 899)
    assert_locked_or_failed = by_session(client, "janedoe", WRONG)
    assert assert_locked_or_failed.status_code == 401
    assert failures_of(store, "janedoe") == 6  # not yet forgiven: the 6th counts
    clock.advance(2 + 900)  # the 2 s lock, then 15 quiet minutes

    fail(client, 4)  # counting from zero again: none of these is locked

    assert failures_of(store, "janedoe") == 4
    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201


def test_lockout_settings_reach_the_login(aws, settings):
    settings.update(LOCKOUT_THRESHOLD=2, LOCKOUT_MAX_WAIT=3, LOCKOUT_RESET_AFTER=10)
    app = create_app(settings)
    clock = state_of(app).clock = FakeClock()
    client = app.test_client()

    fail(client, 2)
    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)
    for wait in (1, 2, 3, 3):  # doubling, capped at LOCKOUT_MAX_WAIT
        clock.advance(wait)
        fail(client, 1)
    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 3)
    clock.advance(3 + 10)  # the lock, then LOCKOUT_RESET_AFTER
    fail(client, 1)
    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201


# -- An admin unlocks -----------------------------------------------------------------------


def test_an_admin_unlocks_an_account_at_once(client, store, clock):
    fail_waiting(client, clock, 8)
    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 8)

    response = client.delete("/api/users/janedoe/lockout", headers=basic("johndoe", "JohnPass123"))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert failures_of(store, "janedoe") is None
    assert by_session(client, "janedoe", JANE_PASSWORD).status_code == 201


def test_unlocking_an_account_that_is_not_locked_is_a_204(client):
    response = client.delete("/api/users/janedoe/lockout", headers=basic("johndoe", "JohnPass123"))

    assert response.status_code == 204


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (basic("alice", "correct horse battery"), 403),  # not an admin
        (basic("johndoe", WRONG), 401),
    ],
)
def test_only_an_admin_unlocks(client, store, clock, headers, status):
    assert client.post("/api/users", json=new_user()).status_code == 201
    fail(client, 5)

    response = client.delete("/api/users/janedoe/lockout", headers=headers)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert failures_of(store, "janedoe") == 5


def test_unlocking_no_such_user_is_a_404(client):
    response = client.delete("/api/users/nobody/lockout", headers=basic("johndoe", "JohnPass123"))

    assert response.status_code == 404
    assert response.json["detail"] == "There is no user 'nobody'."


def test_two_instances_share_the_lockout(app, client, settings, clock):
    other = create_app(settings)
    state_of(other).clock = clock
    second = other.test_client()

    fail(client, 3)
    fail(second, 2)

    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)
    assert_locked(by_session(second, "janedoe", JANE_PASSWORD), 1)
    clock.advance(1)
    assert by_session(second, "janedoe", JANE_PASSWORD).status_code == 201
    fail(client, 5)  # the success on one instance reset the count for both
    assert_locked(by_session(second, "janedoe", WRONG), 1)


def test_two_instances_with_skewed_clocks_do_not_lock_early(app, client, settings, clock):
    other = create_app(settings)
    state_of(other).clock = lambda: clock.now + 2  # two seconds ahead
    ahead = other.test_client()

    fail(ahead, 1)

    assert by_session(client, "janedoe", WRONG).status_code == 401


def test_lockout_holds_with_rate_limiter_disabled(aws, settings):
    settings["RATELIMIT_ENABLED"] = False
    app = create_app(settings)
    state_of(app).clock = FakeClock()
    client = app.test_client()

    fail(client, 5)

    assert_locked(by_session(client, "janedoe", JANE_PASSWORD), 1)
    assert_locked(by_basic(client, "janedoe", JANE_PASSWORD), 1)
