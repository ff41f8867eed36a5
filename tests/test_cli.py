"""Operators' commands through Flask's CLI runner, against moto."""

from __future__ import annotations

import csv
import io
import json
import uuid
from types import SimpleNamespace

import argon2
import bcrypt
import pytest

from app import create_app
from app.config import key_problem
from app.helpers import consistency, tables, totp
from app.helpers.keyring import new_key
from app.helpers.state import state_of
from tests.faults import inject_sends
from tests.helpers import (
    JANE,
    JOHN,
    SENT_SECRETS,
    FakeClock,
    basic,
    bearer,
    enrol_totp,
    login,
    new_user,
    outbox,
)
from tests.test_helpers_transfer import Outage, person

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

    assert (result.exit_code, result.output) == (
        0,
        "created ada (admin_user; verification mail to ada@example.com)\n",
    )
    me = client.get("/api/user", headers=basic("ada", ADA_PASSWORD))
    assert me.json["account_type"] == "admin_user"


def test_create_prompts_twice_without_echo(run, client):
    result = run("create", *ADA, input=f"{ADA_PASSWORD}\n{ADA_PASSWORD}\n")

    assert result.exit_code == 0
    assert "created ada (standard_user; verification mail to ada@example.com)" in result.output
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
    assert result.output.startswith(
        "janedoe  standard_user  janedoe@example.com (verified)  Jane Doe"
    )


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


# -- users import and users export ----------------------------------------------------------

PLAIN_PASSWORD = "plain passphrase 1"
BCRYPT_PASSWORD = "bcrypt passphrase 2"
ARGON2_PASSWORD = "argon2 passphrase 3"
BCRYPT_HASH = "$2a$" + bcrypt.hashpw(BCRYPT_PASSWORD.encode(), bcrypt.gensalt(4)).decode()[4:]
ARGON2_HASH = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(ARGON2_PASSWORD)
# What no command may print unless told to (export --include-hashes to standard output).
TRANSFER_SECRETS = (
    PLAIN_PASSWORD,
    BCRYPT_PASSWORD,
    ARGON2_PASSWORD,
    BCRYPT_HASH[7:],
    ARGON2_HASH[-20:],
    "$2b$",
    "$argon2id$",
)


def account(number: int, **fields) -> dict:
    """An import row with only what `fields` give of a password or hash."""
    row = person(number, **fields)
    if "password" not in fields:
        del row["password"]
    return row


ROWS = [
    account(1, password=PLAIN_PASSWORD, account_type="admin_user"),
    account(2, password_hash=BCRYPT_HASH, hash_scheme="bcrypt"),
    account(3, password_hash=ARGON2_HASH, hash_scheme="argon2id"),
]


def write_jsonl(path, rows) -> str:
    """Write rows to a JSON Lines file; their passwords and hashes must be in no log record."""
    SENT_SECRETS.extend(TRANSFER_SECRETS)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


@pytest.fixture
def empty_app(aws, settings, atomic_dynamodb):
    """An app whose tables hold no user yet; moto applies each call atomically."""
    return create_app({**settings, "SEED_DEMO_USERS": False})


def transfer_runner(app):
    """Run `flask users ...` in `app`; no password or hash in what it prints."""
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None, secrets=TRANSFER_SECRETS):
        result = runner.invoke(args=["users", *args], input=input)
        for secret in secrets:
            assert secret not in result.output, f"the command printed {secret!r}"
        return result

    return invoke


@pytest.fixture
def transfer(empty_app):
    return transfer_runner(empty_app)


def usernames(app) -> list[str]:
    return sorted(u.username for u in tables.users.all_items(state_of(app).store, page_size=100))


def test_import_then_export_round_trips_and_imported_users_sign_in_with_their_old_passwords(
    transfer, empty_app, settings, tmp_path
):
    imported = transfer("import", write_jsonl(tmp_path / "users.jsonl", ROWS))
    exported = transfer("export", str(tmp_path / "out.csv"), "--include-hashes")
    copy_app = create_app({**settings, "SEED_DEMO_USERS": False, "TABLE_PREFIX": "copy_"})
    copied = transfer_runner(copy_app)("import", str(tmp_path / "out.csv"))

    assert imported.exit_code == 0
    assert imported.stdout.splitlines()[-1].startswith(
        "3 rows: 3 written, 0 already present, 0 skipped (conflict), 0 rejected in "
    )
    assert imported.stdout.endswith(" rows/s)\n")
    assert exported.exit_code == 0
    assert exported.stdout.startswith(
        f"exported 3 users, with their password hashes to {tmp_path / 'out.csv'} in "
    )
    assert copied.exit_code == 0, copied.output
    assert " 3 written, " in copied.stdout
    assert usernames(copy_app) == usernames(empty_app) == ["user0001", "user0002", "user0003"]
    client, store = copy_app.test_client(), state_of(copy_app).store
    for username, password in [
        ("user0001", PLAIN_PASSWORD),
        ("user0002", BCRYPT_PASSWORD),
        ("user0003", ARGON2_PASSWORD),
    ]:
        assert login(client, username, password)["user"]["username"] == username
        stored = tables.users.get(store, username).password_hash
        assert stored.startswith("$2b$04$"), f"{username} was not re-hashed to our scheme"
    assert client.get("/api/user", headers=basic("user0001", PLAIN_PASSWORD)).json[
        "account_type"
    ] == ("admin_user")


def test_import_reports_each_rejected_row_writes_the_others_and_exits_1(
    transfer, empty_app, tmp_path
):
    rows = [ROWS[0], account(4, password="short"), ROWS[1], account(5, hash_scheme="md5")]
    source = write_jsonl(tmp_path / "users.jsonl", rows)
    report = tmp_path / "rejected.txt"

    on_stderr = transfer("import", source)
    in_file = transfer("import", source, "--report", str(report))

    assert on_stderr.exit_code == 1
    assert on_stderr.stderr.splitlines()[:2] == [
        "line 2: password: String should have at least 8 characters",
        "line 4: password: a password, or a password_hash, is required",
    ]
    assert on_stderr.stdout.startswith("4 rows: 2 written, 0 already present, 0 skipped")
    assert on_stderr.stderr.splitlines()[-1] == "Error: 2 rows rejected: see the report"
    assert in_file.exit_code == 1
    assert report.read_text().splitlines() == on_stderr.stderr.splitlines()[:2]
    assert in_file.stdout.startswith("4 rows: 0 written, 2 already present, 0 skipped")
    assert in_file.stderr.splitlines()[-1] == f"Error: 2 rows rejected: see the report in {report}"
    assert usernames(empty_app) == ["user0001", "user0002"]


def test_import_dry_run_writes_nothing(transfer, empty_app, tmp_path):
    result = transfer("import", write_jsonl(tmp_path / "users.jsonl", ROWS), "--dry-run")

    assert result.exit_code == 0
    assert result.stdout.startswith(
        "dry run, 3 rows: 3 to write, 0 already present, 0 in conflict, 0 rejected; nothing written"
    )
    assert usernames(empty_app) == []


def test_import_conflicts_stop_it_or_are_skipped(transfer, empty_app, tmp_path):
    transfer("import", write_jsonl(tmp_path / "first.jsonl", ROWS[:1]))
    clash = account(1, email="elsewhere@example.com", password=PLAIN_PASSWORD)
    source = write_jsonl(tmp_path / "users.jsonl", [clash, *ROWS[1:]])

    foreseen = transfer("import", source, "--dry-run")
    stopped = transfer("import", source, "--workers", "1")
    skipped = transfer("import", source, "--on-conflict", "skip")

    assert foreseen.exit_code == 1
    assert foreseen.stdout.startswith("dry run, 3 rows: 2 to write, 0 already present, 1 in ")
    assert foreseen.stderr.splitlines()[-2:] == [
        "line 1: username: is taken by a user with another email",
        "Error: the import would stop at line 1 (--on-conflict skip imports the others)",
    ]
    assert stopped.exit_code == 1
    assert stopped.stderr.splitlines()[-1] == (
        "Error: line 1: username: is taken by a user with another email; stopped: 0 rows "
        "written (--on-conflict skip imports the others)"
    )
    assert skipped.exit_code == 0
    assert skipped.stderr.splitlines()[-1] == (
        "line 1: username: is taken by a user with another email"
    )
    assert skipped.stdout.startswith("3 rows: 2 written, 0 already present, 1 skipped (conflict)")
    assert usernames(empty_app) == ["user0001", "user0002", "user0003"]


def test_import_reads_standard_input_and_export_writes_standard_output(transfer, empty_app):
    text = (
        "username,email,first_name,last_name,password\nann,ann@example.com,Ann,S,ann passphrase\n"
    )

    imported = transfer("import", "-", "--format", "csv", input=text)
    exported = transfer("export", "-", "--format", "jsonl")

    assert imported.exit_code == 0
    assert exported.exit_code == 0
    [row] = [json.loads(line) for line in exported.stdout.splitlines()]
    assert (row["username"], row["email"]) == ("ann", "ann@example.com")
    assert "password_hash" not in row
    assert exported.stderr.splitlines()[-1].startswith("exported 1 user to - in ")


def test_export_to_standard_output_prints_the_hashes_only_when_asked(transfer, tmp_path):
    transfer("import", write_jsonl(tmp_path / "users.jsonl", ROWS[1:]))

    exported = transfer("export", "-", "--format", "csv", "--include-hashes", secrets=())

    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(row["hash_scheme"], row["password_hash"]) for row in rows] == [
        ("bcrypt", BCRYPT_HASH),
        ("argon2id", ARGON2_HASH),
    ]


@pytest.mark.parametrize(
    ("args", "stdin", "code", "line"),
    [
        (["import", "users.txt"], None, 1, "Error: Cannot tell the format of "),
        (["import", "-"], "", 1, "Error: Give --format jsonl|csv to use standard input or output"),
        (
            ["export", "-"],
            None,
            1,
            "Error: Give --format jsonl|csv to use standard input or output",
        ),
        (["export", "out.xml"], None, 1, "Error: Cannot tell the format of 'out.xml'"),
        (["import", "missing.jsonl"], None, 2, "Error: Invalid value for 'FILE': File "),
        (
            ["import", "-", "--format", "csv"],
            "username,emial,first_name,last_name\n",
            1,
            "Error: line 1: emial: is not a column (",
        ),
        (["import", "-", "--format", "xml"], "", 2, "Error: Invalid value for '--format': "),
        (["import", "-", "--format", "csv", "--on-conflict", "merge"], "", 2, "Error: Invalid "),
    ],
)
def test_import_and_export_refuse_what_they_cannot_do_in_one_line(
    transfer, tmp_path, monkeypatch, args, stdin, code, line
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "users.txt").write_text(json.dumps(ROWS[0]) + "\n")

    result = transfer(*args, input=stdin)

    assert result.exit_code == code
    assert result.output.strip().splitlines()[-1].startswith(line)
    assert not (tmp_path / "out.xml").exists()


def test_import_stopped_by_an_outage_says_how_far_it_got_and_the_same_command_finishes(
    transfer, empty_app, tmp_path
):
    rows = [account(n, password_hash=BCRYPT_HASH, hash_scheme="bcrypt") for n in range(10)]
    source = write_jsonl(tmp_path / "users.jsonl", rows)
    outage = Outage(state_of(empty_app).store, successes=4)

    stopped = transfer("import", source, "--retry-for", "0")
    outage.over()
    finished = transfer("import", source)

    assert stopped.exit_code == 1
    assert stopped.stderr.splitlines()[-1] == (
        "Error: stopped: 4 rows written; run the same command again to finish (The database "
        "is unavailable; try again shortly)"
    )
    assert finished.exit_code == 0
    assert finished.stdout.startswith("10 rows: 6 written, 4 already present, 0 skipped")
    assert len(usernames(empty_app)) == 10


def test_import_of_1000_rows_with_10_bad_ones_writes_990_and_names_the_10_lines(
    dynamodb_local_url, settings, tmp_path
):
    # On DynamoDB Local: moto copies a whole table at every transaction, so a thousand
    # writes there take half a minute.
    app = create_app(
        {
            **settings,
            "SEED_DEMO_USERS": False,
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_local_url,
            "TABLE_PREFIX": f"t{uuid.uuid4().hex[:12]}-",
        }
    )
    bad_lines = set(range(7, 1000, 100))
    lines = [
        json.dumps(account(n, email="not-an-email" if n in bad_lines else f"u{n}@example.com"))[:-1]
        + f', "password_hash": "{BCRYPT_HASH}", "hash_scheme": "bcrypt"}}'
        for n in range(1, 1001)
    ]
    source = tmp_path / "users.jsonl"
    source.write_text("\n".join(lines) + "\n")

    result = transfer_runner(app)("import", str(source))

    assert result.exit_code == 1
    report = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [int(line.split(":")[0].removeprefix("line ")) for line in report] == sorted(bad_lines)
    assert {line.split(": ", 1)[1].split(":")[0] for line in report} == {"email"}
    assert len(usernames(app)) == 990
    assert consistency.find_problems(state_of(app)) == []


def test_create_mails_a_verification_link_unless_verified(run, client, app):
    run("create", *ADA, "--password-stdin", input=f"{ADA_PASSWORD}\n")
    verified = ["bob", "--email", "bob@example.com", "--first-name", "B", "--last-name", "C"]
    result = run("create", *verified, "--verified", "--password-stdin", input=f"{ADA_PASSWORD}\n")

    assert result.output == "created bob (standard_user; email verified)\n"
    # The command waited for its mail: it is there when the process would exit.
    assert [m["To"] for m in state_of(app).mailer.backend.outbox] == ["ada@example.com"]
    assert client.get("/api/user", headers=basic("bob", ADA_PASSWORD)).json["email_verified"]


def test_set_password_sends_the_user_a_notice(run, app):
    run("set-password", "janedoe", "--password-stdin", input="a fresh passphrase\n")

    [notice] = state_of(app).mailer.backend.outbox
    assert notice["To"] == "janedoe@example.com"
    assert "password was changed" in notice["Subject"]


def test_show_says_whether_the_email_is_verified(run, client):
    client.post("/api/users", json=new_user())

    assert "alice@example.com (not verified)" in run("show", "alice").output
    assert "janedoe@example.com (verified)" in run("show", "janedoe").output


def test_verify_email_marks_it_verified_without_a_mail(run, client, app):
    client.post("/api/users", json=new_user())
    sent = len(outbox(app))  # the registration's

    result = run("verify-email", "alice")

    assert result.output == "email of alice (alice@example.com) marked verified\n"
    assert client.get("/api/user", headers=basic("alice", new_user()["password"])).json[
        "email_verified"
    ]
    assert len(outbox(app)) == sent


# -- second factors ---------------------------------------------------------------------------


@pytest.fixture
def jane_with_totp(app, client):
    clock = FakeClock()
    state_of(app).clock = clock
    token = login(client, "janedoe", "JanePass123")["token"]
    secret, _ = enrol_totp(client, token, "janedoe", clock)
    clock.advance(totp.STEP)
    return SimpleNamespace(secret=secret, token=token, clock=clock)


def test_reset_mfa_lets_a_user_sign_in_with_the_password_alone(run, client, jane_with_totp, caplog):
    result = run("reset-mfa", "janedoe")

    assert result.exit_code == 0
    assert result.output == "janedoe: second factors removed, every session ended\n"
    assert client.get("/api/user", headers=bearer(jane_with_totp.token)).status_code == 401
    assert login(client, "janedoe", "JanePass123")["user"]["totp_enabled"] is False
    assert "second_factors_reset username='janedoe' by='(operator)'" in caplog.text


def test_reset_mfa_of_an_unknown_user_fails_in_one_line(run):
    result = run("reset-mfa", "nobody")

    assert result.exit_code == 1
    assert result.output == "Error: There is no user 'nobody'.\n"


def test_new_key_prints_a_fernet_key(run):
    result = run("new-key")

    assert result.exit_code == 0
    assert key_problem(result.output.strip()) is None
    assert run("new-key").output != result.output


def test_rotate_keys_moves_secrets_to_the_newest_key(app, settings, client, jane_with_totp):
    old = app.config["SECRET_KEYS"]
    newest = new_key()
    rotating = create_app({**settings, "SECRET_KEYS": f"{newest},{old}"})

    result = rotating.test_cli_runner().invoke(args=["users", "rotate-keys"])

    assert result.exit_code == 0
    assert result.output == "1 secret encrypted with the newest key; older keys may go\n"
    # The old key dropped: Jane still signs in with her app.
    only_new = create_app({**settings, "SECRET_KEYS": newest})
    state_of(only_new).clock = jane_with_totp.clock
    fresh = only_new.test_client()
    challenge = fresh.post("/api/sessions", json={"username": "janedoe", "password": "JanePass123"})
    code = totp.code_at(jane_with_totp.secret, jane_with_totp.clock())
    proof = {"challenge": challenge.json["challenge"], "code": code}
    assert fresh.post("/api/sessions/mfa", json=proof).status_code == 201


def test_show_marks_a_user_with_totp(run, jane_with_totp):
    assert "TOTP" in run("show", "janedoe").output
    assert "TOTP" not in run("show", "johndoe").output
