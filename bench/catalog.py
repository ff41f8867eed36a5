"""What the bench measures: each scenario and ceiling by key, its label, its bounds."""

from __future__ import annotations

from bench.app_constants import BCRYPT_ROUNDS

SMALL_TABLE = 100
LARGE_TABLE = 10_000
# Users imported by `flask users import` (and exported again) on each engine. moto copies
# every table a transaction writes to, item by item, before each transaction (to undo it
# on failure): a write costs time in proportion to the table, and 10,000 imports would take
# most of an hour there. DynamoDB Local, like DynamoDB, does not.
IMPORT_ROWS = {"moto": 1_000, "local": 10_000}
# Threads writing them, on both sides. moto_server answers 500 to transactions that run
# while another thread writes to the same table (it copies the table as it changes), so
# there one writes at a time; moto is one Python process anyway.
IMPORT_THREADS = {"moto": 1, "local": 4}

# key, label, expected status: our app's scenarios, in the order they are reported.
SCENARIOS = (
    ("get_user", "GET /api/users/<u>", 200),
    ("me_bearer", "GET /api/user (bearer)", 200),
    ("list_100", f"GET /api/users ({SMALL_TABLE})", 200),
    ("list_10000", f"GET /api/users ({LARGE_TABLE})", 200),
    ("login", "POST /api/sessions", 201),
    ("register", "POST /api/users", 201),
)
# The peer's scenarios (`--peer`): fastapi-users doing what the scenario it follows does.
PEER_SCENARIOS = (
    ("peer_me", "peer: GET /users/me (bearer)", 200),
    ("peer_login", "peer: POST /auth/db/login", 200),
    ("peer_register", "peer: POST /auth/register", 201),
)
# Operators' commands measured as one job each (rows per second, not requests).
JOBS = (
    ("import", "flask users import (pre-hashed)"),
    ("export", "flask users export --include-hashes"),
)
# The peer's server process, as the CPU readings name it.
PEER_ROLE = "uvicorn (peer)"
# Each of our scenarios and the peer's that does the same thing (reported beside it).
PEER_OF = {"me_bearer": "peer_me", "login": "peer_login", "register": "peer_register"}
# Timing comparisons: two kinds of request, one at a time and interleaved, whose answers
# must not tell them apart (the login's runs with the "login" scenario; this one is its own).
TIMINGS = {"reset_timing": "POST /api/password-resets, known against unknown account"}
LABELS = {key: label for key, label, _ in SCENARIOS + PEER_SCENARIOS} | dict(JOBS)
STATUS = {key: status for key, _, status in SCENARIOS + PEER_SCENARIOS}
CEILING_LABELS = {
    "get_item": "raw get_item",
    "batch_get": "raw BatchGetItem (session+user)",
    "bcrypt": f"bcrypt checks (cost {BCRYPT_ROUNDS})",
    "scan_100": f"raw Scan page ({SMALL_TABLE})",
    "scan_10000": f"raw Scan page ({LARGE_TABLE})",
    "raw_import": "raw TransactWriteItems (user + email)",
    "raw_scan_all": "raw Scan of every user",
}
# The ceilings drawn over each scenario in the chart (the first is the one it is judged by).
CEILINGS_OF = {
    "get_user": ("get_item",),
    "me_bearer": ("get_item", "batch_get"),
    "list_100": ("scan_100",),
    "list_10000": ("scan_10000",),
    "login": ("bcrypt",),
    "register": ("bcrypt",),
    "peer_me": ("get_item", "batch_get"),
    "peer_login": ("bcrypt",),
    "peer_register": ("bcrypt",),
    "import": ("raw_import",),
    "export": ("raw_scan_all",),
}


def scenario_order() -> list[str]:
    """Every scenario key as reported: ours, each followed by the peer's that matches it."""
    order = []
    for key, _, _ in SCENARIOS:
        order.append(key)
        if key in PEER_OF:
            order.append(PEER_OF[key])
    return order + [key for key, _ in JOBS]
