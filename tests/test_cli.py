"""Operators' commands through Flask's CLI runner, against moto."""

from __future__ import annotations

import pytest

from app import create_app
from app.helpers import consistency, tables
from app.helpers.state import state_of
from tests.faults import inject_sends
from tests.helpers import JANE, JOHN, basic, bearer, login

ADA = ["ada", "--email", "ada@example.com", "--first-name", "Ada", "--last-name", "Lovelace"]
ADA_PASSWORD = "a long admin passphrase"


@pytest.fixture
def run(app):
    """Run `flask users ...` in the app; the result (exit code, output)."""
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(args=["users", *args], input=input)
        for secret in (ADA_PASSWORD, "JohnPass123", "$2b$", "password_hash"):
            assert secret not in result.output, f"the command printed {secret!r}"
        return result

    return invoke


def test_init_db_creates_every_table_once(aws, settings):
    app = create_app({**settings, "SEED_DEMO_USERS": False})
    runner = app.test_cli_runner()
    first = runner.invoke(args=["users", "init-db"])
    again = runner.invoke(args=["users", "init-db"])

    store = state_of(app).store
    names = [store.table_name(table) for table in store.table_names()]
    assert first.exit_code == 0
    assert first.output.splitlines() == [f"{name}: created" for name in names]
    assert again.output.splitlines() == [f"{name}: exists" for name in names]
    listed = store.client.list_tables()["TableNames"]
    assert set(names) <= set(listed)


def test_init_db_adds_the_search_index_to_a_users_table_older_than_it(aws, settings):
    app = create_app({**settings, "SEED_DEMO_USERS": False})
    store = state_of(app).store
    name = store.table_name(tables.users.USERS)
    store.client.create_table(  # the users table as it was before the index
        TableName=name,
        KeySchema=[{"AttributeName": "username", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "username", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    old = {"username": "old", "email": "old@example.com", "first_name": "O", "last_name": "D"}
    item = {k: {"S": v} for k, v in old.items()} | {"account_type": {"S": "standard_user"}}
    store.client.put_item(TableName=name, Item=item)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["users", "init-db"])
    found = runner.invoke(args=["users", "list", "--prefix", "o"])

    assert result.exit_code == 0
    assert f"{name}: exists, index by_name added" in result.output.splitlines()
    assert "1 user added to the search index" in result.output
    assert found.output.splitlines() == ["old  standard_user  O D", "1 user"]


def test_create_makes_the_first_admin_who_can_sign_in(run, client):
    result = run("create", *ADA, "--admin", "--password-stdin", input=f"{ADA_PASSWORD}\n")

    assert (result.exit_code, result.output) == (0, "created ada (admin_user)\n")
    me = client.get("/api/user", headers=basic("ada", ADA_PASSWORD))
    assert me.json["account_type"] == "admin_user"


def test_create_prompts_twice_without_echo(run, client):
    result = run("create", *ADA, input=f"{ADA_PASSWORD}\n{ADA_PASSWORD}\n")

    assert result.exit_code == 0
    assert "created ada (standard_user)" in result.output
    assert client.get("/api/user", headers=basic("ada", ADA_PASSWORD)).status_code == 200


@pytest.mark.parametrize(
    ("args", "stdin", "line"),
    [
        (
            [*ADA, "--password-stdin"],
            "short\n",
            "Error: The request has invalid fields. password: String should have at least 8 "
            "characters",
        ),
        (
            [*ADA, "--password-stdin"],
            "password\n",
            "Error: The request has invalid fields. password: is one of the most commonly used "
            "passwords; choose another",
        ),
        (
            ["johndoe", *ADA[1:], "--password-stdin"],
            f"{ADA_PASSWORD}\n",
            "Error: The username 'johndoe' is already taken.",
        ),
        (
            ["ada", "--email", "not-an-email", *ADA[3:], "--password-stdin"],
            f"{ADA_PASSWORD}\n",
            "Error: The request has invalid fields. email: value is not a valid email address: "
            "An email address must have an @-sign.",
        ),
        ([*ADA, "--password-stdin"], "", "Error: --password-stdin: standard input is empty"),
    ],
    ids=["short-password", "common-password", "taken-username", "bad-email", "empty-stdin"],
)
def test_create_refuses_what_the_api_refuses_in_one_line(run, client, args, stdin, line):
    client.get("/api/users")  # the demo users exist
    result = run("create", *args, input=stdin)

    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == line
    assert client.get("/api/users/ada").status_code == 404


def test_set_password_ends_the_sessions_and_the_new_one_signs_in(run, client):
    token = bearer(login(client, "janedoe", "JanePass123")["token"])

    result = run("set-password", "janedoe", "--password-stdin", input="a fresh passphrase\n")

    assert result.exit_code == 0
    assert client.get("/api/user", headers=token).status_code == 401
    assert (
        client.get("/api/user", headers=basic("janedoe", "a fresh passphrase")).status_code == 200
    )


def test_set_type_keeps_one_admin_at_least(run, client):
    client.get("/api/users")

    refused = run("set-type", "johndoe", "standard_user")
    promoted = run("set-type", "janedoe", "admin_user")
    demoted = run("set-type", "johndoe", "standard_user")

    assert refused.exit_code == 1
    assert "'johndoe' is the last admin: make another admin first." in refused.output
    assert (promoted.exit_code, demoted.exit_code) == (0, 0)
    assert client.get("/api/users/johndoe").json["account_type"] == "standard_user"


def test_disable_ends_the_sessions_and_enable_restores_sign_in(run, client):
    token = bearer(login(client, "janedoe", "JanePass123")["token"])

    disabled = run("disable", "janedoe")
    refused = client.get("/api/user", headers=JANE)
    listed = run("list", "--disabled")
    shown = run("show", "janedoe")
    enabled = run("enable", "janedoe")

    assert disabled.output == "janedoe disabled; their sessions have ended\n"
    assert client.get("/api/user", headers=token).status_code == 401
    assert refused.status_code == 403
    assert listed.output.splitlines() == ["janedoe  standard_user  DISABLED  Jane Doe", "1 user"]
    assert shown.output.startswith("janedoe  standard_user  DISABLED  janedoe@example.com")
    assert (enabled.exit_code, enabled.output) == (0, "janedoe enabled\n")
    assert client.get("/api/user", headers=JANE).status_code == 200


def test_disable_refuses_the_last_admin(run, client):
    client.get("/api/users")

    result = run("disable", "johndoe")

    assert result.exit_code == 1
    assert "'johndoe' is the last admin: make another admin first." in result.output
    assert client.get("/api/user", headers=JOHN).status_code == 200


def test_list_with_a_prefix_is_in_username_order(run, client):
    for name in ("joe", "joanna", "jim"):
        body = {"username": name, "email": f"{name}@example.com", "password": ADA_PASSWORD}
        body |= {"first_name": "J", "last_name": "Doe"}
        assert client.post("/api/users", json=body).status_code == 201

    result = run("list", "--prefix", "JO")

    assert [line.split()[0] for line in result.output.splitlines()] == [
        "joanna",
        "joe",
        "johndoe",
        "3",
    ]


def test_unlock_lets_a_locked_account_sign_in(run, client):
    for _ in range(5):
        client.get("/api/user", headers=basic("janedoe", "not her password"))
    assert client.get("/api/user", headers=basic("janedoe", "JanePass123")).status_code == 429

    assert run("unlock", "janedoe").exit_code == 0
    assert client.get("/api/user", headers=basic("janedoe", "JanePass123")).status_code == 200


def test_revoke_sessions_ends_every_token(run, client):
    tokens = [bearer(login(client, "janedoe", "JanePass123")["token"]) for _ in range(2)]

    assert run("revoke-sessions", "janedoe").exit_code == 0
    assert [client.get("/api/user", headers=t).status_code for t in tokens] == [401, 401]


def test_delete_asks_first(run, client):
    client.get("/api/users")

    kept = run("delete", "janedoe", input="n\n")
    deleted = run("delete", "janedoe", "--yes")

    assert kept.exit_code == 1
    assert "Delete janedoe (janedoe@example.com) for good?" in kept.output
    assert deleted.exit_code == 0
    assert client.get("/api/users/janedoe").status_code == 404


def test_list_filters_by_type_and_stops_at_the_limit(run, client):
    client.get("/api/users")

    everyone = run("list")
    admins = run("list", "--type", "admin_user")
    one = run("list", "--limit", "1")

    assert everyone.output.splitlines() == [
        "janedoe  standard_user  Jane Doe",
        "johndoe  admin_user  John Doe",
        "2 users",
    ]
    assert admins.output.splitlines() == ["johndoe  admin_user  John Doe", "1 user"]
    assert one.output.splitlines()[-1] == "1 user"


@pytest.mark.parametrize("who", ["janedoe", "JaneDoe@Example.com"])
def test_show_finds_a_user_by_username_or_email(run, client, who):
    client.get("/api/users")

    result = run("show", who)

    assert result.exit_code == 0
    assert result.output.startswith("janedoe  standard_user  janedoe@example.com  Jane Doe")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["show", "nobody"], "Error: There is no user 'nobody'."),
        (["show", "nobody@example.com"], "Error: There is no user with the email "),
        (["delete", "nobody", "--yes"], "Error: There is no user 'nobody'."),
        (["unlock", "nobody"], "Error: There is no user 'nobody'."),
        (["set-type", "nobody", "admin_user"], "Error: There is no user 'nobody'."),
        (["disable", "nobody"], "Error: There is no user 'nobody'."),
        (["enable", "nobody"], "Error: There is no user 'nobody'."),
    ],
)
def test_a_user_that_does_not_exist_is_one_line_and_exit_1(run, client, args, line):
    client.get("/api/users")

    result = run(*args)

    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(line)


def test_dynamodb_down_is_one_line_and_exit_1(run, client, app, no_backoff):
    client.get("/api/users")
    inject_sends(state_of(app).store, "*", ["ServiceUnavailable"] * 20, status=503)

    result = run("show", "janedoe")

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: The database is unavailable; try again shortly."
    ]


def test_operator_changes_are_security_events_by_the_operator(run, client, caplog):
    client.get("/api/users", headers=JOHN)

    run("set-type", "janedoe", "admin_user")

    events = [r for r in caplog.records if r.name == "app.security"]
    assert (events[-1].event, events[-1].event_fields["by"]) == (
        "account_type_changed",
        "(operator)",
    )
    assert tables.users.admin_count(state_of(client.application).store) == 2


def test_check_finds_nothing_in_tables_the_app_wrote(run, client):
    client.get("/api/users")
    login(client, "janedoe", "JanePass123")

    result = run("check")

    assert (result.exit_code, result.output) == (0, "no problems found\n")


def test_check_finds_the_leftovers_of_a_users_table_deleted_by_hand_and_fix_repairs_them(
    run, client, app
):
    client.get("/api/users")
    login(client, "janedoe", "JanePass123")
    store = state_of(app).store
    # An operator deletes jane's user item by hand: her claim and session are left behind.
    delete_raw(store, "users", {"username": {"S": "janedoe"}})
    # And john's claim disappears: his email is unclaimed.
    delete_raw(store, "user_emails", {"email": {"S": "johndoe@example.com"}})

    jane_session = session_id(store)
    found = run("check")
    fixed = run("check", "--fix")
    again = run("check")

    assert found.exit_code == 1
    assert found.output.splitlines()[:-1] == [
        "email claim 'janedoe@example.com' belongs to 'janedoe', who is gone",
        "user 'johndoe' has the email 'johndoe@example.com', which is not claimed for them",
        f"session {jane_session!r} belongs to 'janedoe', who is gone",
    ]
    assert found.output.splitlines()[-1] == (
        "Error: 3 problems found: run `users check --fix` to repair them"
    )
    assert fixed.exit_code == 0
    assert [line.split(":")[0] for line in fixed.output.splitlines()] == ["repaired"] * 3
    assert (again.exit_code, again.output) == (0, "no problems found\n")
    # jane's address can be registered again; john's is his once more.
    assert client.post("/api/users", json=new_account("jane2", "janedoe")).status_code == 201
    assert client.post("/api/users", json=new_account("john2", "johndoe")).status_code == 409


def test_check_finds_a_user_missing_from_the_search_index_and_fix_adds_them(run, client, app):
    client.get("/api/users")
    store = state_of(app).store
    store.client.update_item(
        TableName=store.table_name(tables.users.USERS),
        Key={"username": {"S": "janedoe"}},
        UpdateExpression="REMOVE #shard",
        ExpressionAttributeNames={"#shard": "shard"},
    )

    found = run("check")
    fixed = run("check", "--fix")

    line = "user 'janedoe' is not in the search index (stored before it)"
    assert (found.exit_code, found.output.splitlines()[0]) == (1, line)
    assert fixed.output.splitlines() == [f"repaired: {line}"]
    assert run("list", "--prefix", "jane").output.splitlines()[-1] == "1 user"


def test_a_repair_that_lost_a_race_writes_nothing(client, app):
    client.get("/api/users")
    store = state_of(app).store
    delete_raw(store, "users", {"username": {"S": "janedoe"}})
    problems = consistency.find_problems(state_of(app))
    # jane registers again, with the same email, before the repair lands.
    store.client.put_item(
        TableName=store.table_name("users"),
        Item={"username": {"S": "janedoe"}, "email": {"S": "janedoe@example.com"}},
    )

    assert [consistency.repair(state_of(app), p) for p in problems] == [False]
    assert store.get("user_emails", {"email": "janedoe@example.com"})["username"] == "janedoe"


def delete_raw(store, table: str, key: dict) -> None:
    store.client.delete_item(TableName=store.table_name(table), Key=key)


def session_id(store) -> str:
    items = store.client.scan(TableName=store.table_name("sessions"))["Items"]
    return items[0]["id"]["S"]


def new_account(username: str, email_name: str) -> dict:
    return {
        "username": username,
        "email": f"{email_name}@example.com",
        "password": "a long enough secret",
        "first_name": "New",
        "last_name": "User",
    }


def test_show_by_a_leftover_claim_finds_no_one(run, client, app):
    client.get("/api/users")
    store = state_of(app).store
    # jane's item now says another email, but her old claim was left behind (by hand).
    store.client.update_item(
        TableName=store.table_name("users"),
        Key={"username": {"S": "janedoe"}},
        UpdateExpression="SET email = :e",
        ExpressionAttributeValues={":e": {"S": "jane@elsewhere.example.com"}},
    )

    result = run("show", "janedoe@example.com")

    assert result.exit_code == 1
    assert "There is no user with the email 'janedoe@example.com'." in result.output
