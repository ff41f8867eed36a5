"""Import and export of users (app/helpers/transfer/), against moto's DynamoDB."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import stat

import argon2
import bcrypt
import pytest

from app import create_app
from app.errors import Conflict, ServiceUnavailable, ValidationFailed
from app.helpers import consistency, passwords, tables, transfer
from app.helpers.state import state_of
from app.helpers.transfer import importing
from app.models import UserItem
from tests.faults import answer, inject_sends
from tests.helpers import SENT_SECRETS, assert_no_secret, login

CHEAP_ARGON2 = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def settings(settings):
    """An empty users table: no demo users."""
    return {**settings, "SEED_DEMO_USERS": False}


@pytest.fixture
def state(app, atomic_dynamodb):
    """The app's state; moto applies each call atomically, as the writes run in threads."""
    return state_of(app)


def cheap_bcrypt(password: str, variant: str = "2b") -> str:
    """A plain bcrypt hash at cost 4, as other systems store them."""
    return f"${variant}${bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()[4:]}"


def person(number: int, **fields) -> dict:
    """An import row with a plain password."""
    row = {
        "username": f"user{number:04d}",
        "email": f"user{number}@example.com",
        "first_name": "Imported",
        "last_name": f"User {number}",
        "password": f"password of user {number}",
    }
    row.update(fields)
    return row


def jsonl(*rows) -> io.BytesIO:
    """A JSON Lines file of these rows (a row given as bytes is written as it is).

    Their passwords and hashes are secrets from now on: no log record may hold one.
    """
    for row in rows:
        if isinstance(row, dict):
            SENT_SECRETS.extend(
                str(row[name]) for name in ("password", "password_hash") if row.get(name)
            )
    lines = [row if isinstance(row, bytes) else json.dumps(row).encode() for row in rows]
    return io.BytesIO(b"".join(line + b"\n" for line in lines))


def run_import(state, source, fmt="jsonl", **options):
    """Import (stopping at once when DynamoDB fails, unless told); the result and the report."""
    options.setdefault("retry_for", 0)
    report = []
    result = transfer.import_users(state, source, fmt=fmt, report=report.append, **options)
    return result, [str(line) for line in report]


def stored_users(store) -> dict[str, UserItem]:
    return {user.username: user for user in tables.users.all_items(store, page_size=100)}


def scan(store, table: str) -> list[dict]:
    items = store.client.scan(TableName=store.table_name(table))["Items"]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


# -- import ---------------------------------------------------------------------------------


def test_import_writes_every_scheme_and_each_user_signs_in_then_has_our_hash(state, client):
    rows = [
        person(1),
        person(
            2,
            password=None,
            password_hash=cheap_bcrypt("bcrypt 2a pass", "2a"),
            hash_scheme="bcrypt",
        ),
        person(
            3,
            password=None,
            password_hash=cheap_bcrypt("bcrypt 2y pass", "2y"),
            hash_scheme="bcrypt",
        ),
        person(
            4, password=None, password_hash=CHEAP_ARGON2.hash("argon2 pass"), hash_scheme="argon2id"
        ),
        person(
            5,
            password=None,
            password_hash=state.passwords.hash("our own pass"),
            hash_scheme="bcrypt-sha256",
        ),
        person(6, account_type="admin_user", created_at="2020-01-02T03:04:05+01:00"),
    ]

    result, report = run_import(state, jsonl(*rows))

    assert (result.rows, result.written, result.rejected, report) == (6, 6, 0, [])
    stored = stored_users(state.store)
    assert stored["user0006"].account_type == "admin_user"
    assert stored["user0006"].created_at == "2020-01-02T02:04:05.000Z"
    assert tables.users.admin_count(state.store) == 1
    assert consistency.find_problems(state) == []
    signed_in = {
        "user0001": "password of user 1",
        "user0002": "bcrypt 2a pass",
        "user0003": "bcrypt 2y pass",
        "user0004": "argon2 pass",
        "user0005": "our own pass",
        "user0006": "password of user 6",
    }
    for username, password in signed_in.items():
        assert login(client, username, password)["user"]["username"] == username
    for user in stored_users(state.store).values():
        assert passwords.origin_form(user.password_hash)[0] == "bcrypt-sha256", user.username
        assert not state.passwords.needs_rehash(user.password_hash)


def test_import_reads_csv_with_a_header_and_empty_cells_as_absent(state, client):
    text = (
        "username,email,first_name,last_name,account_type,password,password_hash,hash_scheme\n"
        'Ann,ANN@example.com,Ann,"Smith, Jr.",,ann\'s passphrase,,\n'
        f"bob,bob@example.com,Bob,B,admin_user,,{cheap_bcrypt('bob passphrase')},bcrypt\n"
        "\n"
    )

    result, report = run_import(state, io.BytesIO(text.encode()), fmt="csv")

    assert (result.rows, result.written, report) == (2, 2, [])
    ann = stored_users(state.store)["ann"]
    assert (ann.email, ann.last_name, ann.account_type) == (
        "ann@example.com",
        "Smith, Jr.",
        "standard_user",
    )
    login(client, "ann", "ann's passphrase")
    login(client, "bob", "bob passphrase")


GOOD_HASH = cheap_bcrypt("a fine password")
NOT_UTF8 = b'{"username": "caf\xe9", "email": "cafe@example.com"}'
HUGE = b'{"username": "' + b"x" * 10_000_000 + b'"}'
DEEP = b"[" * 20_000 + b"]" * 20_000
NOT_ONE_OF = "Input should be 'admin_user' or 'standard_user'"
COMMON = "is one of the most commonly used passwords; choose another"
SAME = "must not be the same as the username or the email address"
NOT_BCRYPT = "is not a bcrypt hash (bcrypt 2a, 2b or 2y, a cost, 53 characters)"
NOT_ARGON2 = "is not an argon2id hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash)"
NOT_A_TIME = "must be an ISO 8601 time with its time zone"


def hashed(made: str | None = GOOD_HASH, scheme: str | None = "bcrypt", **fields) -> dict:
    """Row 9 with a hash instead of a password."""
    return person(9, **{"password": None, "password_hash": made, "hash_scheme": scheme, **fields})


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (
            b"{not json",
            "(line): is not JSON: Expecting property name enclosed in double quotes at column 2",
        ),
        (b"[1, 2]", "(line): is not a JSON object"),
        (DEEP, "(line): is not JSON: nested too deeply"),
        (NOT_UTF8, "(line): is not UTF-8 text (byte 18 of the line)"),
        (HUGE, "(line): is longer than 64 KiB"),
        (person(9, nickname="Zed"), "nickname: is not a known field"),
        (person(9, email=None), "email: Field required"),
        (
            person(9, username="a b"),
            "username: must be 3 to 32 characters: letters, digits, '.', '_' or '-'",
        ),
        (
            person(9, email="nine@"),
            "email: value is not a valid email address: There must be something after the @-sign.",
        ),
        (
            person(9, first_name="\u202eevil"),
            "first_name: must not contain control or formatting characters",
        ),
        (person(9, account_type="root"), f"account_type: {NOT_ONE_OF}"),
        (person(9, password="short"), "password: String should have at least 8 characters"),
        (person(9, password="password"), f"password: {COMMON}"),
        (person(9, password="user0009"), f"password: {SAME}"),
        (person(9, password=None), "password: a password, or a password_hash, is required"),
        (hashed(password="a fine password"), "password: give a password or a hash, not both"),
        (hashed(scheme=None), "hash_scheme: is required with a password_hash"),
        (hashed(scheme="md5"), "hash_scheme: is not one of bcrypt-sha256, bcrypt, argon2id"),
        (hashed(GOOD_HASH[:-1]), f"password_hash: {NOT_BCRYPT}"),
        (hashed("$2b$31$" + GOOD_HASH[7:]), "password_hash: has a bcrypt cost outside 4..16"),
        (hashed(scheme="argon2id"), f"password_hash: {NOT_ARGON2}"),
        (person(9, created_at="yesterday"), f"created_at: {NOT_A_TIME}"),
        (person(9, created_at="2026-01-01T00:00:00"), f"created_at: {NOT_A_TIME}"),
        (
            person(9, disabled="maybe"),
            "disabled: Input should be a valid boolean, unable to interpret input",
        ),
        (person(9, username="USER0001"), "username: repeats line 1"),
        (person(9, email="User1@Example.com"), "email: repeats line 1"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_check_file_rejects_a_bad_row_by_line_field_and_reason_never_its_values(bad, problem):
    checked = transfer.check_file(jsonl(person(1), bad, person(3)), fmt="jsonl")

    line = f"line 2: {problem}"
    assert [str(rejected) for rejected in checked.rejected] == [line]
    assert (checked.rows, [entry.line for entry in checked.valid]) == (3, [1, 3])
    for secret in ("password of user", "a fine password", GOOD_HASH[7:], "$2b$"):
        assert secret not in line


def test_import_writes_no_rejected_row_and_every_valid_one(state):
    bad = [b"{", person(9, email="nine@"), person(9, password="short")]

    result, report = run_import(state, jsonl(person(1), *bad, person(3)))

    assert (result.rows, result.rejected, result.written) == (5, 3, 2)
    assert [line.split(":")[0] for line in report] == ["line 2", "line 3", "line 4"]
    assert sorted(stored_users(state.store)) == ["user0001", "user0003"]


def test_check_file_skips_blank_lines_and_numbers_lines_as_the_file_does():
    checked = transfer.check_file(jsonl(person(1), b"", b"  \t", person(2), b"{"), fmt="jsonl")

    assert [str(rejected) for rejected in checked.rejected] == [
        "line 5: (line): is not JSON: Expecting property name enclosed in double quotes at column 2"
    ]
    assert (checked.rows, [entry.line for entry in checked.valid]) == (3, [1, 4])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("username,emial,first_name,last_name,password", "line 1: emial: is not a column"),
        ("username,first_name,last_name,password", "line 1: email: is a required column"),
        ("username,email,email,first_name,last_name", "line 1: email: is named twice"),
        ("", "line 1: (header): is empty: a CSV file starts with its column names"),
    ],
)
def test_check_file_refuses_a_csv_file_whose_header_is_wrong(header, message):
    text = f"{header}\nann,ann@example.com,Ann,Smith,ann's passphrase\n"

    with pytest.raises(ValidationFailed) as refused:
        transfer.check_file(io.BytesIO(text.encode()), fmt="csv")

    assert refused.value.detail.startswith(message)
    assert refused.value.detail.endswith(": nothing was imported")


def test_import_of_a_csv_file_with_a_wrong_header_writes_nothing(state):
    text = "username,email,first_name,last_name,passwd\nann,ann@example.com,Ann,S,x\n"

    with pytest.raises(ValidationFailed):
        run_import(state, io.BytesIO(text.encode()), fmt="csv")

    assert stored_users(state.store) == {}


CONTROL = "must not contain control or formatting characters"


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        ("ann,ann@example.com,Ann\n", "line 3: (line): has 3 fields; the header has 5"),
        (
            'ann,ann@example.com,Ann,"Sm"ith,pass phrase\n',
            "line 3: (line): is not CSV: ',' expected after '\"'",
        ),
        ('ann,ann@example.com,"Ann\nBis",Smith,pass phrase\n', f"line 3: first_name: {CONTROL}"),
        (
            "caf\xe9,c@example.com,Ann,S,pass phrase\n".encode("latin-1"),
            "line 3: (line): is not UTF-8 text (byte 4 of the line)",
        ),
        (
            "ann,ann@example.com,Ann," + "x" * 70_000 + ",pass phrase\n",
            "line 3: (line): is longer than 64 KiB",
        ),
    ],
)
def test_check_file_rejects_a_bad_csv_row_by_its_first_line(bad, line):
    header = "username,email,first_name,last_name,password\n"
    good = "bob,bob@example.com,Bob,B,bob passphrase\n"
    last = "cid,cid@example.com,Cid,C,cid passphrase\n"
    bad_bytes = bad if isinstance(bad, bytes) else bad.encode()

    source = io.BytesIO(header.encode() + good.encode() + bad_bytes + last.encode())
    checked = transfer.check_file(source, fmt="csv")

    assert [str(rejected) for rejected in checked.rejected] == [line]
    assert [entry.row.username for entry in checked.valid] == ["bob", "cid"]


def test_import_twice_leaves_the_same_table(state):
    rows = [person(n) for n in range(6)] + [person(6, account_type="admin_user")]
    first, _ = run_import(state, jsonl(*rows))
    before = {table: scan(state.store, table) for table in ("users", "user_emails", "user_counts")}

    again, report = run_import(state, jsonl(*rows))

    assert (first.written, first.present) == (7, 0)
    assert (again.written, again.present, report) == (0, 7, [])
    assert {table: scan(state.store, table) for table in before} == before


def test_a_rerun_hashes_no_password_of_a_user_already_there(state):
    phases = []

    @contextlib.contextmanager
    def recording(phase, total):
        phases.append((phase, total))
        yield lambda _count: None

    run_import(state, jsonl(person(0), person(1)))
    again, _ = run_import(state, jsonl(person(0), person(1), person(2)), progress=recording)

    assert phases == [("checking users", 3), ("hashing passwords", 1), ("writing users", 1)]
    assert (again.present, again.written) == (2, 1)


def test_import_conflicts_are_skipped_and_reported_or_stop_the_import(state):
    run_import(state, jsonl(person(1), person(2)))
    rows = [
        person(1, email="another@example.com"),  # user0001 is another user's
        person(3, email="user2@example.com"),  # user0002's address
        person(4),
    ]

    skipped, report = run_import(state, jsonl(*rows), on_conflict="skip")

    assert (skipped.written, skipped.skipped, skipped.present) == (1, 2, 0)
    assert report == [
        "line 1: username: is taken by a user with another email",
        "line 2: email: is the email of another user, 'user0002'",
    ]
    with pytest.raises(Conflict) as stopped:
        run_import(state, jsonl(person(5), person(1, email="another@example.com")))
    assert stopped.value.detail == (
        "line 2: username: is taken by a user with another email; stopped: 1 rows written "
        "(--on-conflict skip imports the others)"
    )
    assert sorted(stored_users(state.store)) == ["user0001", "user0002", "user0004", "user0005"]


def test_import_dry_run_writes_nothing_but_says_what_it_would_do(state):
    run_import(state, jsonl(person(1)))

    result, report = run_import(
        state, jsonl(person(1), person(2), person(3, username="user0001"), b"{"), dry_run=True
    )

    assert (result.rows, result.written, result.present, result.rejected) == (4, 1, 1, 2)
    assert report == [
        "line 3: username: repeats line 1",
        "line 4: (line): is not JSON: Expecting property name enclosed in double quotes at "
        "column 2",
    ]
    assert sorted(stored_users(state.store)) == ["user0001"]


class Outage:
    """DynamoDB fails transactions after `successes`: `failures` of them, or all until over."""

    def __init__(self, store, successes: int, failures: int | None = None) -> None:
        self.left, self.failures, self.down = successes, failures, True
        store.add_hook("before-call.dynamodb.TransactWriteItems", self.answer)

    def answer(self, **kwargs):
        if not self.down:
            return None
        if self.left > 0:
            self.left -= 1
            return None
        if self.failures is not None:
            if self.failures == 0:
                return None
            self.failures -= 1
        return answer(503, {"Error": {"Code": "ServiceUnavailable", "Message": "injected"}})

    def over(self) -> None:
        self.down = False


def test_an_import_stopped_by_an_outage_says_how_far_it_got_and_a_rerun_finishes_it(state):
    rows = [
        person(n, password=None, password_hash=GOOD_HASH, hash_scheme="bcrypt") for n in range(30)
    ]
    outage = Outage(state.store, successes=12)

    with pytest.raises(ServiceUnavailable) as stopped:
        run_import(state, jsonl(*rows))
    written = len(stored_users(state.store))
    outage.over()
    again, report = run_import(state, jsonl(*rows))

    assert written == 12
    assert stopped.value.detail == (
        "stopped: 12 rows written; run the same command again to finish (The database is "
        "unavailable; try again shortly)"
    )
    assert (again.written, again.present, report) == (18, 12, [])
    assert len(stored_users(state.store)) == 30
    assert consistency.find_problems(state) == []  # no user without its email, or the reverse


def test_an_outage_while_looking_up_plain_password_rows_stops_before_any_write(state):
    fail_gets = inject_sends(state.store, "GetItem", ["ServiceUnavailable"] * 50, status=503)

    with pytest.raises(ServiceUnavailable, match=r"^stopped: 0 rows written; run the same"):
        run_import(state, jsonl(person(1), person(2)), workers=1)

    assert fail_gets
    assert stored_users(state.store) == {}


def test_a_write_that_lost_a_race_with_another_transaction_is_tried_again(state):
    raced = []

    def conflict_once(**kwargs):
        if raced:
            return None
        raced.append(1)
        canceled = {"Code": "TransactionCanceledException", "Message": "injected"}
        return answer(400, {"Error": canceled, "CancellationReasons": [{"Code": "None"}] * 2})

    state.store.add_hook("before-call.dynamodb.TransactWriteItems", conflict_once)

    result, report = run_import(state, jsonl(hashed(made=GOOD_HASH)))

    assert raced == [1]
    assert (result.written, report) == (1, [])


def test_an_email_claim_left_by_a_user_who_is_gone_is_a_conflict_that_says_so(state):
    run_import(state, jsonl(person(1)))
    state.store.client.delete_item(
        TableName=state.store.table_name("users"), Key={"username": {"S": "user0001"}}
    )

    result, report = run_import(state, jsonl(person(1)), on_conflict="skip")

    assert report == [
        "line 1: email: is claimed for a user who is gone (`users check --fix` releases it)"
    ]
    assert (result.written, result.skipped) == (0, 1)


def test_a_row_waits_out_a_short_outage_with_doubling_pauses(state):
    rows = [
        hashed(made=GOOD_HASH, username=f"user{n:04d}", email=f"u{n}@example.com") for n in range(5)
    ]
    Outage(state.store, successes=2, failures=2)
    pauses = []

    result, report = run_import(state, jsonl(*rows), workers=1, retry_for=10, pause=pauses.append)

    assert pauses == [0.5, 1.0]
    assert (result.written, result.present, report) == (5, 0, [])


def test_an_import_stops_once_its_patience_is_spent(state):
    rows = [
        hashed(made=GOOD_HASH, username=f"user{n:04d}", email=f"u{n}@example.com") for n in range(5)
    ]
    Outage(state.store, successes=1)
    pauses = []

    with pytest.raises(ServiceUnavailable, match=r"^stopped: 1 rows written; "):
        run_import(state, jsonl(*rows), workers=1, retry_for=3.5, pause=pauses.append)

    assert pauses == [0.5, 1.0, 2.0]


def test_plain_passwords_are_hashed_in_a_process_per_core(state, monkeypatch):
    pools = []

    class CountingPool(importing.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self._max_workers)

    monkeypatch.setattr(importing, "ProcessPoolExecutor", CountingPool)
    monkeypatch.setattr(importing.os, "cpu_count", lambda: 2)

    result, _ = run_import(state, jsonl(*(person(n) for n in range(4))))

    assert pools == [2]
    assert result.written == 4


@pytest.mark.parametrize("flag", ["disabled", "email_verified"])
def test_an_account_flag_stays_set_through_import_and_export(state, flag):
    run_import(state, jsonl(person(1, **{flag: True}), person(2)))
    out = io.StringIO()

    transfer.export_users(state, out, fmt="jsonl")

    assert getattr(stored_users(state.store)["user0001"], flag) is True
    assert [json.loads(line)[flag] for line in out.getvalue().splitlines()] == [True, False]


def test_an_import_sends_no_mail(state):
    run_import(state, jsonl(person(1), person(2, email_verified=True)))

    assert state.mailer.flush()
    assert state.mailer.backend.outbox == []


# -- export ---------------------------------------------------------------------------------


def test_export_streams_page_by_page_and_leaves_out_hashes_and_sessions(state, client):
    run_import(state, jsonl(*(person(n) for n in range(5))))
    login(client, "user0001", "password of user 1")
    out = io.StringIO()
    written_at_each_scan = []
    state.store.add_hook(
        "before-call.dynamodb.Scan",
        lambda **kwargs: written_at_each_scan.append(out.getvalue().count("\n")),
    )

    count = transfer.export_users(state, out, fmt="jsonl", page_size=2)

    assert count == 5
    assert written_at_each_scan == [0, 2, 4]  # each page written before the next is read
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert sorted(rows[0]) == sorted([*transfer.EXPORT_COLUMNS, "created_at"])
    assert "password" not in out.getvalue()
    assert "session" not in out.getvalue()
    assert_no_secret(out.getvalue(), "export")


def test_export_marks_each_hash_with_its_scheme_as_its_origin_wrote_it(state):
    foreign, argon = cheap_bcrypt("bcrypt pass", "2y"), CHEAP_ARGON2.hash("argon2 pass")
    rows = [
        person(1),
        person(2, password=None, password_hash=foreign, hash_scheme="bcrypt"),
        person(3, password=None, password_hash=argon, hash_scheme="argon2id"),
    ]
    run_import(state, jsonl(*rows))
    out = io.StringIO()

    transfer.export_users(state, out, fmt="csv", include_hashes=True)

    exported = {row["username"]: row for row in csv.DictReader(io.StringIO(out.getvalue()))}
    ours = stored_users(state.store)["user0001"].password_hash
    assert [(row["hash_scheme"], row["password_hash"]) for row in exported.values()] == [
        ("bcrypt-sha256", ours),
        ("bcrypt", foreign),
        ("argon2id", argon),
    ]
    assert exported["user0001"]["disabled"] == "false"
    assert exported["user0001"]["email_verified"] == "false"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_then_import_into_an_empty_table_round_trips_every_user(state, settings, fmt):
    rows = [
        person(1, first_name="Zoë", last_name='Ünïcode, "quoted"'),
        person(
            2,
            account_type="admin_user",
            created_at="2019-05-06T07:08:09.123Z",
            email_verified=True,
        ),
        person(3, password=None, password_hash=cheap_bcrypt("bcrypt pass"), hash_scheme="bcrypt"),
        person(
            4, password=None, password_hash=CHEAP_ARGON2.hash("argon pass"), hash_scheme="argon2id"
        ),
    ]
    run_import(state, jsonl(*rows))
    exported = io.StringIO()
    transfer.export_users(state, exported, fmt=fmt, include_hashes=True)
    copy_app = create_app({**settings, "TABLE_PREFIX": "copy_"})
    copy = state_of(copy_app)

    result, report = run_import(copy, io.BytesIO(exported.getvalue().encode()), fmt=fmt)

    assert (result.written, report) == (4, [])
    again = io.StringIO()
    transfer.export_users(copy, again, fmt=fmt, include_hashes=True)
    assert again.getvalue() == exported.getvalue()
    client = copy_app.test_client()
    for username, password in [
        ("user0001", "password of user 1"),
        ("user0002", "password of user 2"),
        ("user0003", "bcrypt pass"),
        ("user0004", "argon pass"),
    ]:
        login(client, username, password)
    assert tables.users.admin_count(copy.store) == 1


def test_private_output_is_the_owners_only_and_appears_only_when_complete(tmp_path):
    target = tmp_path / "users.jsonl"
    target.write_text("what was there\n")

    def fail_half_way() -> None:
        with transfer.private_output(str(target)) as out:
            out.write("half\n")
            raise ServiceUnavailable()

    with pytest.raises(ServiceUnavailable):
        fail_half_way()
    kept = target.read_text()
    with transfer.private_output(str(target)) as out:
        out.write("whole\n")

    assert kept == "what was there\n"
    assert target.read_text() == "whole\n"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["users.jsonl"]


@pytest.mark.parametrize(
    ("name", "chosen", "expected"),
    [
        ("users.jsonl", None, "jsonl"),
        ("u.NDJSON", None, "jsonl"),
        ("u.csv", None, "csv"),
        ("u.txt", "csv", "csv"),
        ("-", "jsonl", "jsonl"),
    ],
)
def test_format_of_reads_the_extension_unless_told(name, chosen, expected):
    assert transfer.format_of(name, chosen) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("users.txt", "Cannot tell the format of 'users.txt': name it .jsonl, .ndjson or .csv"),
        ("-", "Give --format jsonl|csv to use standard input or output ('-')."),
    ],
)
def test_format_of_needs_a_known_extension_or_a_format(name, message):
    with pytest.raises(ValidationFailed, match="^" + re.escape(message)):
        transfer.format_of(name)
