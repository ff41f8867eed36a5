"""`make bench`: loopback load against the app under gunicorn, beside the ceilings it cannot beat.

What it starts (every server on 127.0.0.1, all stopped at the end, Ctrl-C included):

- a `moto_server` process, the DynamoDB stand-in, on a free loopback port;
- the app under gunicorn exactly as `make serve` runs it (`gunicorn --config gunicorn.conf.py`,
  development settings, bcrypt cost 12), pointed at that moto server through
  `AWS_ENDPOINT_URL_DYNAMODB`. Only what a load test needs differs from the defaults:
  `RATELIMIT_ENABLED=false` (one client address would hit the per-address limits),
  `LOG_LEVEL=WARNING` (no access line per request), `SEED_DEMO_USERS=false` and
  `TABLE_PREFIX=bench_` (the tables hold exactly the users seeded here). Workers and threads
  are gunicorn.conf.py's own defaults (2 x cores + 1 workers, 4 threads each) unless
  `--workers`/`--threads` say otherwise.

The load generator is this file: one thread per connection, each with its own persistent
`http.client.HTTPConnection` (HTTP/1.1 keep-alive), a fixed number of connections per
scenario, a warm-up that is not counted, then a fixed measurement window; every loop also
stops at a hard cap of requests (`--max-requests`). Latency is measured per request, from
sending to the last byte of the body; the rate counts the requests completed inside the
window, and p50/p90/p99 are nearest-rank percentiles of their latencies.

Scenarios (the table column "scenario"):

- `GET /api/users/<u>`: a seeded user's public view, one GetItem.
- `GET /api/user (bearer)`: who am I with a bearer token, one BatchGetItem (session + user);
  each connection has its own token, so the last-use write (at most once a minute per
  session) adds at most one UpdateItem per connection to a window.
- `GET /api/users (100)` and `GET /api/users (10000)`: the first page (50 users, one Scan),
  with 100 users in the table and again with 10,000 (seeded straight into DynamoDB with
  boto3's `batch_writer`, no bcrypt: a fixed cost-4 hash stands in).
- `POST /api/sessions`: log in (one bcrypt check at cost 12, one BatchGetItem, one PutItem).
- `POST /api/users`: register a new user each time (one bcrypt hash at cost 12, one
  TransactWriteItems).

Ceilings, measured in the same run, just before the scenarios they bound:

- raw boto3 `get_item` per second against the same moto server, with the same number of
  threads as the HTTP scenarios have connections (one client per thread, the app's timeouts
  and retries);
- bcrypt checks per second at cost 12 with one thread per connection of the login scenario
  (at least one per core; bcrypt releases the GIL, so that is every core busy);
- for context, raw boto3 BatchGetItem of a session and its user (what a bearer request reads),
  and raw boto3 Scan pages (Limit 51, as the app asks) at 100 and 10,000 users.

Why 4 connections: the machine has 2 cores shared by the load generator, gunicorn's workers
and moto_server. moto (one Python process, one GIL) is the bottleneck of every DynamoDB-bound
scenario and is already saturated by 4 concurrent clients (field notes: ~440 get_item/s from
one thread, ~520 from four); more connections only queue inside it and raise latency. For
the bcrypt-bound scenarios 4 in flight keep both cores busy while a request waits on
DynamoDB. Every ceiling uses the same 4, so each ratio compares like with like. gunicorn's
own defaults are kept: 2, 3 and 4 workers with 1 to 8 threads each measured within the noise
of the default 5 x 4 on this machine, so there is nothing honest to tune.

Targets (each a ratio of two figures of this run): `GET /api/users/<u>` >= 0.8 x raw get_item;
bearer `GET /api/user` >= 0.6 x raw get_item; the 10,000-user page's p50 latency <= 1.2 x the
100-user page's; `POST /api/sessions` >= 0.9 x the bcrypt ceiling.

The machine may be shared (other test runs): before each measurement it waits (at most
`--quiet-wait` seconds) until other processes leave the cores idle, reads /proc/stat and
/proc/<pid>/stat around it, and measures again (at most `--retries` times, within
`--patience` minutes overall) when others kept more than 0.15 cores busy, keeping the least
disturbed attempt. The same readings give the CPU milliseconds each request costs the load
generator, gunicorn and moto_server, which explain the ratios.

Output: one table on standard output, `bench/results.json` (the same figures plus the
machine) and `bench/results.png` (throughput per scenario with its ceiling, and p99).
`--profile NAME` also samples the gunicorn workers and moto_server with py-spy during that
scenario's window (the figures of such a run are skewed by the sampling: do not commit them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import http.client
import itertools
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import bcrypt
import boto3
from botocore.config import Config as BotoConfig

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
TABLE_PREFIX = "bench_"
USERS_TABLE = f"{TABLE_PREFIX}users"
EMAILS_TABLE = f"{TABLE_PREFIX}user_emails"
SESSIONS_TABLE = f"{TABLE_PREFIX}sessions"
TIMING_ATTEMPTS = 30  # each of unknown username and wrong password
PASSWORD = "bench password 12345"  # noqa: S105 - throwaway accounts on a throwaway server
PAGE_LIMIT = 50  # the app's default page size; it scans one more item than that
SMALL_TABLE = 100
LARGE_TABLE = 10_000
# Other processes using more than this many cores on average make a scenario's figures suspect.
OTHER_LOAD_WARNING = 0.15

# A request: method, path, body, headers. One factory per scenario makes them per connection.
Request = tuple[str, str, bytes | None, dict[str, str]]
Operation = Callable[[], bool]


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Wait until something listens on `port`; fail if `process` exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {seconds} s")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a process we started and everything in its process group (its own session)."""
    if process is None:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=25)  # gunicorn lets its workers finish (graceful_timeout 20)
    # Whatever is left of the group (a worker that outlived its master, a hung server).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


class Servers:
    """moto_server and gunicorn, started in their own process groups and always stopped."""

    def __init__(self, workers: int | None, threads: int | None, logdir: Path) -> None:
        self.workers = workers
        self.threads = threads
        self.logdir = logdir
        self.moto: subprocess.Popen[bytes] | None = None
        self.app: subprocess.Popen[bytes] | None = None
        self.moto_port = 0
        self.app_port = 0
        self.logs: list[Any] = []

    @property
    def dynamodb_url(self) -> str:
        """The moto server's endpoint."""
        return f"http://{HOST}:{self.moto_port}"

    def start(self) -> None:
        """Start moto_server, then gunicorn against it; wait until both answer."""
        self.moto_port = free_port()
        moto_log = (self.logdir / "moto.log").open("wb")
        self.logs.append(moto_log)
        self.moto = subprocess.Popen(  # noqa: S603 - our venv's moto_server, loopback only
            [str(BIN / "moto_server"), "-H", HOST, "-p", str(self.moto_port)],
            stdout=moto_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.moto_port, self.moto)

        self.app_port = free_port()
        env = {
            **os.environ,
            **aws_environment(self.dynamodb_url),
            "APP_ENV": "development",
            "HOST": HOST,
            "PORT": str(self.app_port),
            "BCRYPT_ROUNDS": "12",
            "RATELIMIT_ENABLED": "false",
            "SEED_DEMO_USERS": "false",
            "TABLE_PREFIX": TABLE_PREFIX,
            "LOG_LEVEL": "WARNING",
        }
        env.pop("AWS_ENDPOINT_URL", None)
        env.pop("AWS_PROFILE", None)
        for name, value in (("WEB_CONCURRENCY", self.workers), ("WEB_THREADS", self.threads)):
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        app_log = (self.logdir / "gunicorn.log").open("wb")
        self.logs.append(app_log)
        self.app = subprocess.Popen(  # noqa: S603 - our venv's gunicorn, loopback only
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=app_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.app_port, self.app)
        # Live, and every worker forked (gunicorn.conf.py: 0 workers means 2 x cores + 1).
        expected = self.workers or 2 * (os.cpu_count() or 1) + 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                live = one_request(self.app_port, ("GET", "/api/health/live", None, {}))[0]
                if live == 200 and len(self.worker_pids()) >= expected:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the app did not become live with {expected} workers in 30 s")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' process ids (children of the master)."""
        if self.app is None:
            return []
        path = Path(f"/proc/{self.app.pid}/task/{self.app.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def stop(self) -> None:
        """Stop gunicorn (its workers too), then moto_server."""
        try:
            stop(self.app)
        finally:
            stop(self.moto)
            for log in self.logs:
                log.close()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the servers' own logs, for an error message."""
        parts = []
        for name in ("gunicorn.log", "moto.log"):
            path = self.logdir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts)


def aws_environment(url: str) -> dict[str, str]:
    """Dummy credentials and a region for moto."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }


# -- HTTP -----------------------------------------------------------------------------------


def one_request(port: int, request: Request) -> tuple[int, Any]:
    """Send one request on a new connection; the status and the decoded JSON body."""
    method, path, body, headers = request
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, data


def post_json(path: str, payload: dict[str, Any]) -> Request:
    """A JSON POST request."""
    return "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}


def http_operation(port: int, make: Callable[[int], Request], expect: int) -> Operation:
    """One connection's request loop body: request `make(i)`, expect status `expect`."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    counter = 0

    def operation() -> bool:
        nonlocal conn, counter
        method, path, body, headers = make(counter)
        counter += 1
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
            return False
        if response.will_close:
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=30)
        return response.status == expect

    operation.close = lambda: conn.close()  # type: ignore[attr-defined]
    return operation


# -- the load loop --------------------------------------------------------------------------


@dataclass
class Result:
    """One scenario or ceiling: how many completed in the window, how fast, how long each."""

    name: str
    kind: str  # "http" or "ceiling"
    concurrency: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    ceiling: str | None = None  # the name of the ceiling it is compared with
    ceiling_value: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def drive(
    name: str,
    kind: str,
    factory: Callable[[int], Operation],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    max_requests: int,
    during: Callable[[float], None] | None = None,
) -> Result:
    """Run `concurrency` loops of `factory(i)()` for warm-up + window; measure the window.

    Every loop stops at the end of the window, or when all loops together have made
    `max_requests` calls (warm-up included), whichever comes first.
    """
    operations = [factory(i) for i in range(concurrency)]
    stop_event = threading.Event()
    lock = threading.Lock()
    issued = 0
    samples: list[list[tuple[float, float, bool]]] = [[] for _ in range(concurrency)]
    counts = [0] * concurrency  # every call that finished, warm-up included
    begin = time.perf_counter() + 0.05
    window_start = begin + warmup
    window_end = window_start + duration

    def loop(index: int) -> None:
        nonlocal issued
        operation, mine = operations[index], samples[index]
        while not stop_event.is_set():
            with lock:
                if issued >= max_requests:
                    return
                issued += 1
            started = time.perf_counter()
            if started >= window_end:
                return
            try:
                ok = operation()
            except Exception:  # counted as a failure; the loop goes on
                ok = False
            ended = time.perf_counter()
            counts[index] += 1
            # What completes inside the window counts: an unbiased rate, whatever the latency.
            if window_start <= ended <= window_end:
                mine.append((ended, ended - started, ok))

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        if during is not None:
            # The caller's side job (a profiler) spans the measurement window.
            time.sleep(max(0.0, window_start - time.perf_counter()))
            during(duration)
        for thread in threads:
            thread.join(timeout=max(0.0, window_end - time.perf_counter()) + 35)
    finally:
        stop_event.set()
        for operation in operations:
            with contextlib.suppress(Exception):
                getattr(operation, "close", lambda: None)()
    flat = [sample for mine in samples for sample in mine]
    good = sorted(latency for _, latency, ok in flat if ok)
    errors = sum(1 for _, _, ok in flat if not ok)
    capped = issued >= max_requests
    last = max((ended for ended, _, _ in flat), default=window_start)
    seconds = (last - window_start) if capped else duration
    seconds = max(seconds, 1e-9)
    return Result(
        name=name,
        kind=kind,
        concurrency=concurrency,
        requests=len(good),
        errors=errors,
        seconds=round(seconds, 3),
        rps=len(good) / seconds,
        p50_ms=percentile(good, 0.50) * 1000,
        p90_ms=percentile(good, 0.90) * 1000,
        p99_ms=percentile(good, 0.99) * 1000,
        note="stopped at the request cap" if capped else "",
        extra={"completed": sum(counts)},
    )


@dataclass(frozen=True)
class CpuSample:
    """Seconds of CPU time: all cores busy (from /proc/stat), and each of our processes'."""

    wall: float
    busy: float
    roles: dict[str, float]

    @property
    def ours(self) -> float:
        """Our processes together."""
        return sum(self.roles.values())

    @classmethod
    def take(cls, pids: dict[str, list[int]]) -> CpuSample:
        """Read /proc now (zeros where it cannot be read); `pids` by role."""
        tick = os.sysconf("SC_CLK_TCK")
        busy = 0.0
        with contextlib.suppress(OSError, ValueError):
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            # user nice system idle iowait irq softirq steal ...: busy is all but idle, iowait.
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick
        roles = {}
        for role, members in pids.items():
            roles[role] = 0.0
            for pid in members:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    stat = Path(f"/proc/{pid}/stat").read_text()
                    after_name = stat.rsplit(")", 1)[1].split()
                    roles[role] += (int(after_name[11]) + int(after_name[12])) / tick
        return cls(time.perf_counter(), busy, roles)


# -- data -----------------------------------------------------------------------------------


def dynamodb_client() -> Any:
    """A boto3 DynamoDB client with the app's timeouts and retries (endpoint from the env)."""
    return boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        config=BotoConfig(
            connect_timeout=1.0,
            read_timeout=1.0,
            retries={"mode": "standard", "total_max_attempts": 3},
        ),
    )


def count_users() -> int:
    """How many items the users table holds (a paginated Scan)."""
    client = dynamodb_client()
    total, args = 0, {"TableName": USERS_TABLE, "Select": "COUNT"}
    while True:
        page = client.scan(**args)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def seed_users(first: int, count: int, password_hash: str) -> None:
    """Write users seed<first>..seed<first+count-1> and their email claims, no bcrypt."""
    resource = boto3.session.Session().resource("dynamodb", region_name="us-east-1")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    users, emails = resource.Table(USERS_TABLE), resource.Table(EMAILS_TABLE)
    with users.batch_writer() as user_batch, emails.batch_writer() as email_batch:
        for number in range(first, first + count):
            username = seed_name(number)
            email = f"{username}@example.com"
            user_batch.put_item(
                Item={
                    "username": username,
                    "email": email,
                    "first_name": "Seed",
                    "last_name": f"User {number}",
                    "account_type": "standard_user",
                    "password_hash": password_hash,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "session_key": f"bench-seed-{number}",
                }
            )
            email_batch.put_item(Item={"email": email, "username": username})


def seed_name(number: int) -> str:
    """The username of seeded user `number`."""
    return f"seed{number:05d}"


# -- ceilings -------------------------------------------------------------------------------


def get_item_factory(usernames: list[str]) -> Callable[[int], Operation]:
    """Raw boto3 get_item, as the app's GET /api/users/<u> makes it, one client per thread."""

    def factory(index: int) -> Operation:
        client = dynamodb_client()
        counter = index

        def operation() -> bool:
            nonlocal counter
            counter += 1
            key = {"username": {"S": usernames[counter % len(usernames)]}}
            response = client.get_item(TableName=USERS_TABLE, Key=key, ConsistentRead=True)
            return "Item" in response

        return operation

    return factory


def batch_get_factory(tokens: list[str], accounts: list[str]) -> Callable[[int], Operation]:
    """Raw boto3 BatchGetItem of a session and its user, as the app's bearer check makes it."""

    def factory(index: int) -> Operation:
        client = dynamodb_client()
        token_hash = hashlib.sha256(tokens[index % len(tokens)].encode()).hexdigest()
        request = {
            SESSIONS_TABLE: {"Keys": [{"token_hash": {"S": token_hash}}], "ConsistentRead": True},
            USERS_TABLE: {
                "Keys": [{"username": {"S": accounts[index % len(accounts)]}}],
                "ConsistentRead": True,
            },
        }

        def operation() -> bool:
            response = client.batch_get_item(RequestItems=request)
            return sum(len(items) for items in response["Responses"].values()) == 2

        return operation

    return factory


def scan_factory() -> Callable[[int], Operation]:
    """Raw boto3 Scan of the first page, as the app's GET /api/users makes it."""

    def factory(_index: int) -> Operation:
        client = dynamodb_client()

        def operation() -> bool:
            response = client.scan(TableName=USERS_TABLE, Limit=PAGE_LIMIT + 1)
            return len(response["Items"]) == PAGE_LIMIT + 1

        return operation

    return factory


def bcrypt_factory(password_hash: bytes) -> Callable[[int], Operation]:
    """One bcrypt check at the hash's cost per call (the GIL is released while it runs)."""
    secret = b"x" * 44  # the app checks a 44-byte pre-hash of the password

    def factory(_index: int) -> Operation:
        def operation() -> bool:
            return bcrypt.checkpw(secret, password_hash)

        return operation

    return factory


# -- the run --------------------------------------------------------------------------------


@dataclass
class Settings:
    """Command-line settings."""

    concurrency: int
    warmup: float
    duration: float
    bcrypt_duration: float
    max_requests: int
    workers: int | None
    threads: int | None
    profile: str | None
    profile_dir: Path
    profile_format: str
    profile_gil: bool
    write: bool
    retries: int
    quiet_wait: float
    patience: float
    only: frozenset[str]


def parse_args(argv: list[str] | None = None) -> Settings:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=4, help="connections/threads (4)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted (2)")
    parser.add_argument("--duration", type=float, default=8.0, help="window in seconds (8)")
    parser.add_argument(
        "--bcrypt-duration",
        type=float,
        default=15.0,
        help="window for the bcrypt-bound scenarios, which make ~10 requests/s (15)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=20_000,
        help="cap on requests per scenario, warm-up included (20000)",
    )
    parser.add_argument("--workers", type=int, help="WEB_CONCURRENCY (gunicorn.conf.py's default)")
    parser.add_argument("--threads", type=int, help="WEB_THREADS (gunicorn.conf.py's default)")
    parser.add_argument(
        "--profile",
        choices=[key for key, *_ in SCENARIOS],
        help="sample gunicorn and moto_server with py-spy during this scenario",
    )
    parser.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--profile-format", choices=["flamegraph", "raw", "speedscope"], default="flamegraph"
    )
    parser.add_argument(
        "--profile-gil", action="store_true", help="sample only threads holding the GIL"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure again when other processes were busy meanwhile (2; 0 with --profile)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait for other processes to calm down before each measurement (30)",
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=12.0,
        help="minutes after which it neither waits nor measures again (12)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios and ceilings to measure (all): "
        + ",".join([*LABELS, *CEILING_LABELS]),
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print only; leave bench/results.* alone"
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.max_requests < 1:
        parser.error("--concurrency, --duration and --max-requests must be positive")
    only = frozenset(key.strip() for key in args.only.split(",") if key.strip())
    if unknown := only - {*LABELS, *CEILING_LABELS}:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}")
    return Settings(
        concurrency=args.concurrency,
        warmup=args.warmup,
        duration=args.duration,
        bcrypt_duration=args.bcrypt_duration,
        max_requests=args.max_requests,
        workers=args.workers,
        threads=args.threads,
        profile=args.profile,
        profile_dir=args.profile_dir,
        profile_format=args.profile_format,
        profile_gil=args.profile_gil,
        write=not (args.no_write or args.profile or only),
        retries=0 if args.profile else max(0, args.retries),
        quiet_wait=max(0.0, args.quiet_wait),
        patience=max(0.0, args.patience),
        only=only,
    )


# key, label, expected status
SCENARIOS = (
    ("get_user", "GET /api/users/<u>", 200),
    ("me_bearer", "GET /api/user (bearer)", 200),
    ("list_100", f"GET /api/users ({SMALL_TABLE})", 200),
    ("list_10000", f"GET /api/users ({LARGE_TABLE})", 200),
    ("login", "POST /api/sessions", 201),
    ("register", "POST /api/users", 201),
)
LABELS = {key: label for key, label, _ in SCENARIOS}
# The ceilings drawn over each scenario in the chart (the first is the one it is judged by).
CEILINGS_OF = {
    "get_user": ("get_item",),
    "me_bearer": ("get_item", "batch_get"),
    "list_100": ("scan_100",),
    "list_10000": ("scan_10000",),
    "login": ("bcrypt",),
    "register": ("bcrypt",),
}
CEILING_LABELS = {
    "get_item": "raw get_item",
    "batch_get": "raw BatchGetItem (session+user)",
    "bcrypt": "bcrypt checks (cost 12)",
    "scan_100": f"raw Scan page ({SMALL_TABLE})",
    "scan_10000": f"raw Scan page ({LARGE_TABLE})",
}


class Bench:
    """One run: servers up, data seeded, scenarios and ceilings measured in order."""

    def __init__(self, settings: Settings, servers: Servers) -> None:
        self.settings = settings
        self.servers = servers
        self.results: dict[str, Result] = {}
        self.tokens: list[str] = []
        self.accounts: list[str] = []
        self.timing: dict[str, Any] = {}
        self.next_seed = 0
        self.cheap_hash = bcrypt.hashpw(b"seeded, never used", bcrypt.gensalt(4)).decode()
        # Waiting for a busy machine and measuring again stop after this (bounded run time).
        self.patience_ends = time.monotonic() + settings.patience * 60

    def measure(
        self,
        key: str,
        kind: str,
        factory: Callable[[int], Operation],
        *,
        duration: float | None = None,
        concurrency: int | None = None,
    ) -> Result | None:
        """Run one scenario or ceiling and keep its result (None when --only leaves it out).

        This machine may be shared: it first waits (a bounded time) for other processes to
        calm down, and measures again (a bounded number of times) when they did not stay
        calm, keeping the least disturbed attempt.
        """
        label = LABELS.get(key) or CEILING_LABELS[key]
        if not self.wanted(key):
            return None
        best: Result | None = None
        for attempt in range(1, self.settings.retries + 2):
            if attempt > 1 and time.monotonic() > self.patience_ends:
                print("    (no time left for another attempt: keeping this one)")
                break
            self.wait_quiet()
            print(f"  {label} ...", end="", flush=True)
            result = self.measure_once(
                key, label, kind, factory, duration=duration, concurrency=concurrency
            )
            result.extra["attempt"] = attempt
            others = result.extra["cpu_cores_others"]
            if best is None or others < best.extra["cpu_cores_others"]:
                best = result
            if others <= OTHER_LOAD_WARNING:
                break
            print(f"    other processes kept {others:.2f} cores busy: figures skewed")
        assert best is not None  # noqa: S101 - the loop runs at least once
        self.results[key] = best
        return best

    def measure_once(
        self,
        key: str,
        label: str,
        kind: str,
        factory: Callable[[int], Operation],
        *,
        duration: float | None,
        concurrency: int | None,
    ) -> Result:
        """One attempt at a scenario or ceiling, with the CPU time it and others used."""
        before = self.cpu()
        result = drive(
            label,
            kind,
            factory,
            concurrency=concurrency or self.settings.concurrency,
            warmup=self.settings.warmup,
            duration=duration or self.settings.duration,
            max_requests=self.settings.max_requests,
            during=self.profile if self.settings.profile == key else None,
        )
        after = self.cpu()
        result.extra["key"] = key
        # Cores busy on average while it ran (warm-up included): ours (this process,
        # moto_server, gunicorn) and everything else on the machine, which skews the figures.
        elapsed = after.wall - before.wall
        ours = (after.ours - before.ours) / elapsed
        others = max(0.0, (after.busy - before.busy) / elapsed - ours)
        result.extra["cpu_cores_ours"] = round(ours, 2)
        result.extra["cpu_cores_others"] = round(others, 2)
        # CPU time per completed request by process (warm-up included on both sides): what
        # each request costs the load generator, gunicorn and moto_server.
        completed = result.extra.get("completed", 0)
        if completed:
            result.extra["cpu_ms_per_request"] = {
                role: round((after.roles[role] - before.roles[role]) * 1000 / completed, 2)
                for role in after.roles
            }
        per_request = ", ".join(
            f"{role} {ms:.2f}" for role, ms in result.extra.get("cpu_ms_per_request", {}).items()
        )
        print(
            f" {result.rps:.1f}/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms\n"
            f"    cores busy: ours {ours:.2f}, others {others:.2f}; "
            f"CPU ms per request: {per_request}"
        )
        if result.errors:
            print(f"    {result.errors} requests failed (unexpected status or connection error)")
        return result

    def wait_quiet(self) -> None:
        """Wait, at most --quiet-wait seconds, until other processes leave the cores idle."""
        deadline = min(time.monotonic() + self.settings.quiet_wait, self.patience_ends)
        told = False
        while True:
            before = self.cpu()
            time.sleep(2)
            after = self.cpu()
            elapsed = after.wall - before.wall
            others = ((after.busy - before.busy) - (after.ours - before.ours)) / elapsed
            if others <= OTHER_LOAD_WARNING or time.monotonic() >= deadline:
                if told:
                    print(f"    (other processes now use {others:.2f} cores)")
                return
            if not told:
                print(f"    waiting for other processes ({others:.2f} cores busy) ...")
                told = True

    def cpu(self) -> CpuSample:
        """CPU time so far: the whole machine's busy time and our processes' own."""
        servers = self.servers
        pids = {
            "bench": [os.getpid()],
            "moto_server": [servers.moto.pid] if servers.moto else [],
            "gunicorn": [servers.app.pid, *servers.worker_pids()] if servers.app else [],
        }
        return CpuSample.take(pids)

    def http(
        self, key: str, make: Callable[[int, int], Request], duration: float | None = None
    ) -> Result | None:
        """Measure an HTTP scenario; `make(connection, i)` builds its i-th request."""
        expect = next(status for k, _, status in SCENARIOS if k == key)
        port = self.servers.app_port

        def factory(index: int) -> Operation:
            return http_operation(port, lambda i: make(index, i), expect)

        return self.measure(key, "http", factory, duration=duration)

    def profile(self, duration: float) -> None:
        """Sample the workers and moto_server with py-spy for `duration` seconds."""
        spy = BIN / "py-spy"
        if not spy.exists():
            raise RuntimeError("py-spy is not installed: pip install -r bench/requirements.txt")
        form = self.settings.profile_format
        suffix = {"flamegraph": "svg", "raw": "txt", "speedscope": "json"}[form]
        targets = {"gunicorn": self.servers.app, "moto_server": self.servers.moto}
        spies = []
        for name, process in targets.items():
            assert process is not None  # noqa: S101 - started before any scenario
            path = self.settings.profile_dir / f"profile-{self.settings.profile}-{name}.{suffix}"
            command = [str(spy), "record", "--pid", str(process.pid), "--nonblocking"]
            command += ["--duration", str(max(1, int(duration))), "--rate", "100"]
            command += ["--format", form, "-o", str(path)]
            # --gil: only the thread holding the GIL, i.e. where Python spends CPU time.
            command += ["--gil"] if self.settings.profile_gil else []
            command += ["--subprocesses"] if name == "gunicorn" else []
            spies.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
            )
            print(f"\n    py-spy -> {path}", end="")
        for spy_process in spies:
            try:
                spy_process.wait(timeout=duration + 30)
            except subprocess.TimeoutExpired:
                spy_process.kill()
                spy_process.wait()
        print()

    def setup(self) -> None:
        """Accounts for the login and bearer scenarios, tables created by the app itself."""
        port = self.servers.app_port
        # The first registration creates the users and user_emails tables, the first login
        # the sessions and login_failures tables, each through the app's own code.
        for index in range(self.settings.concurrency):
            username = f"account{index:02d}"
            body = {
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
                "first_name": "Bench",
                "last_name": f"Account {index}",
            }
            status, answer = one_request(port, post_json("/api/users", body))
            if status != 201:
                raise RuntimeError(f"registration failed: {status} {answer}")
            self.accounts.append(username)
        for username in self.accounts:
            status, answer = one_request(
                port, post_json("/api/sessions", {"username": username, "password": PASSWORD})
            )
            if status != 201:
                raise RuntimeError(f"login failed: {status} {answer}")
            self.tokens.append(answer["token"])

    def run(self) -> None:
        """Every scenario and ceiling, in an order that keeps each table size right."""
        s = self.settings
        print(f"seeding {SMALL_TABLE} users ...")
        self.next_seed = self.fill(SMALL_TABLE)
        seeded = [seed_name(n) for n in range(self.next_seed)]

        print(f"measuring ({s.concurrency} connections/threads each):")
        self.measure("get_item", "ceiling", get_item_factory(seeded))

        def get_user(_conn: int, i: int) -> Request:
            return "GET", f"/api/users/{seeded[i % len(seeded)]}", None, {}

        self.http("get_user", get_user)

        def me_bearer(conn: int, _i: int) -> Request:
            return "GET", "/api/user", None, {"Authorization": f"Bearer {self.tokens[conn]}"}

        self.measure("batch_get", "ceiling", batch_get_factory(self.tokens, self.accounts))
        self.http("me_bearer", me_bearer)

        def list_page(_conn: int, _i: int) -> Request:
            return "GET", "/api/users", None, {}

        self.measure("scan_100", "ceiling", scan_factory())
        self.http("list_100", list_page)

        hash12 = bcrypt.hashpw(b"x" * 44, bcrypt.gensalt(12))
        # Every core busy, and as many checks in flight as the login scenario has requests.
        threads = max(s.concurrency, os.cpu_count() or 1)
        self.measure(
            "bcrypt",
            "ceiling",
            bcrypt_factory(hash12),
            duration=s.bcrypt_duration,
            concurrency=threads,
        )

        def login(conn: int, _i: int) -> Request:
            body = {"username": self.accounts[conn], "password": PASSWORD}
            return post_json("/api/sessions", body)

        self.http("login", login, duration=s.bcrypt_duration)
        if self.wanted("login"):
            self.login_timing(hash12.decode())

        serial = itertools.count()

        def register(_conn: int, _i: int) -> Request:
            username = f"new{next(serial):07d}"  # unique across connections and attempts
            body = {
                "username": username,
                "email": f"{username}@example.com",
                "password": f"{PASSWORD} {username}",
                "first_name": "New",
                "last_name": "User",
            }
            return post_json("/api/users", body)

        self.http("register", register, duration=s.bcrypt_duration)

        if not (self.wanted("scan_10000") or self.wanted("list_10000")):
            return
        print(f"seeding up to {LARGE_TABLE} users ...")
        self.next_seed = self.fill(LARGE_TABLE)
        print("measuring:")
        self.measure("scan_10000", "ceiling", scan_factory())
        self.http("list_10000", list_page)

    def login_timing(self, password_hash: str) -> None:
        """Unknown username against wrong password at cost 12, one request at a time.

        Both must get the same status and body and take the same time (medians within
        10 %): otherwise the login tells which usernames exist. Every username is used once,
        so the lockout never answers instead.
        """
        warmup, count = 3, TIMING_ATTEMPTS
        first = self.next_seed
        seed_users(first, warmup + count, password_hash)
        self.next_seed += warmup + count
        connection = http.client.HTTPConnection(HOST, self.servers.app_port, timeout=30)
        times: dict[str, list[float]] = {"unknown": [], "wrong": []}
        answers = set()
        try:
            for index in range(warmup + count):
                pairs = (("unknown", f"nobody{index:05d}"), ("wrong", seed_name(first + index)))
                for kind, username in pairs if index % 2 else reversed(pairs):
                    body = json.dumps({"username": username, "password": "not the password 1"})
                    started = time.perf_counter()
                    connection.request(
                        "POST", "/api/sessions", body, {"Content-Type": "application/json"}
                    )
                    response = connection.getresponse()
                    answer = response.read()
                    if index >= warmup:
                        times[kind].append((time.perf_counter() - started) * 1000)
                        answers.add((response.status, answer))
        finally:
            connection.close()
        unknown = percentile(sorted(times["unknown"]), 0.5)
        wrong = percentile(sorted(times["wrong"]), 0.5)
        self.timing = {
            "attempts_each": count,
            "unknown_username_p50_ms": unknown,
            "wrong_password_p50_ms": wrong,
            "difference": abs(unknown - wrong) / min(unknown, wrong),
            "same_status_and_body": len(answers) == 1,
            "target": "medians within 10 %, same status and body",
        }
        self.timing["met"] = self.timing["difference"] <= 0.10 and len(answers) == 1
        print(
            f"  login timing: unknown {unknown:.1f} ms, wrong password {wrong:.1f} ms "
            f"(difference {self.timing['difference']:.1%}), same answer: {len(answers) == 1}"
        )

    def wanted(self, key: str) -> bool:
        """Whether --only (if given) includes `key`."""
        return not self.settings.only or key in self.settings.only

    def fill(self, total: int) -> int:
        """Seed users until the table holds `total`; the next free seed number."""
        have = count_users()
        if have > total:
            raise RuntimeError(f"the users table holds {have} users, more than {total}")
        started = time.perf_counter()
        seed_users(self.next_seed, total - have, self.cheap_hash)
        if (now := count_users()) != total:
            raise RuntimeError(f"the users table holds {now} users, expected {total}")
        print(f"  {total - have} users written in {time.perf_counter() - started:.1f} s")
        return self.next_seed + total - have


def judge(results: dict[str, Result]) -> None:
    """Fill in each scenario's ceiling, ratio and target."""

    def against(key: str, ceiling: str, target: float | None) -> None:
        if key not in results or ceiling not in results:
            return
        result, bound = results[key], results[ceiling]
        result.ceiling = bound.name
        result.ceiling_value = bound.rps
        result.ratio = result.rps / bound.rps if bound.rps else None
        if target is not None and result.ratio is not None:
            result.target = f">= {target:g} x"
            result.met = result.ratio >= target

    against("get_user", "get_item", 0.8)
    against("me_bearer", "get_item", 0.6)
    if "me_bearer" in results and results.get("batch_get"):
        bearer = results["me_bearer"]
        bearer.extra["ratio_to_raw_batch_get"] = bearer.rps / results["batch_get"].rps
    against("login", "bcrypt", 0.9)
    against("register", "bcrypt", None)
    against("list_100", "scan_100", None)
    against("list_10000", "scan_10000", None)
    small, large = results.get("list_100"), results.get("list_10000")
    if small and large and small.p50_ms:
        # The target compares latencies: the 10,000-user page against the 100-user page.
        large.extra["raw_scan_ratio"] = large.ratio
        large.extra["p99_ratio_to_100"] = large.p99_ms / small.p99_ms if small.p99_ms else None
        large.ceiling = f"{small.name} p50"
        large.ceiling_value = small.p50_ms
        large.ratio = large.p50_ms / small.p50_ms
        large.target = "p50 <= 1.2 x"
        large.met = large.ratio <= 1.2
        # The app's own CPU time per request at both sizes: flat if the app reads one page.
        cpu_small = small.extra.get("cpu_ms_per_request", {}).get("gunicorn")
        cpu_large = large.extra.get("cpu_ms_per_request", {}).get("gunicorn")
        if cpu_small and cpu_large:
            large.extra["app_cpu_ratio_to_100"] = cpu_large / cpu_small
        scans = results.get("scan_100"), results.get("scan_10000")
        if all(scans) and scans[0].p50_ms:  # type: ignore[union-attr]
            large.extra["raw_scan_p50_ratio"] = scans[1].p50_ms / scans[0].p50_ms  # type: ignore[union-attr]


def table(results: dict[str, Result]) -> str:
    """The results as one plain-text table."""
    header = (
        "scenario",
        "conc",
        "requests",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "ceiling",
        "ratio",
        "target",
        "met?",
    )
    rows = []
    order = [key for key, *_ in SCENARIOS] + list(CEILING_LABELS)
    for key in order:
        if key not in results:
            continue
        r = results[key]
        if r.kind == "ceiling":
            ceiling = "(ceiling)"
        elif key == "list_10000":
            ceiling = f"p50 {r.ceiling_value:.1f} ms" if r.ceiling_value else "-"
        else:
            ceiling = f"{r.ceiling_value:.1f}/s" if r.ceiling_value else "-"
        rows.append(
            (
                r.name,
                str(r.concurrency),
                str(r.requests) + (f" ({r.errors} err)" if r.errors else ""),
                f"{r.rps:.1f}",
                f"{r.p50_ms:.1f}",
                f"{r.p90_ms:.1f}",
                f"{r.p99_ms:.1f}",
                ceiling,
                f"{r.ratio:.2f}" if r.ratio is not None else "-",
                r.target or "-",
                {True: "yes", False: "NO", None: "-"}[r.met],
            )
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * width for width in widths))
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join(lines)


def context(results: dict[str, Result]) -> list[str]:
    """Figures that explain the ratios without being targets."""
    lines = []
    large, bearer = results.get("list_10000"), results.get("me_bearer")
    if large and "raw_scan_p50_ratio" in large.extra:
        lines.append(
            f"raw Scan page p50, {LARGE_TABLE} / {SMALL_TABLE} users: "
            f"{large.extra['raw_scan_p50_ratio']:.2f} (moto_server's own scaling)"
        )
    if large and "app_cpu_ratio_to_100" in large.extra:
        lines.append(
            f"gunicorn CPU per list request, {LARGE_TABLE} / {SMALL_TABLE} users: "
            f"{large.extra['app_cpu_ratio_to_100']:.2f} (the app's own scaling)"
        )
    if large and large.extra.get("p99_ratio_to_100"):
        lines.append(
            f"list page p99, {LARGE_TABLE} / {SMALL_TABLE} users: "
            f"{large.extra['p99_ratio_to_100']:.2f}"
        )
    if bearer and "ratio_to_raw_batch_get" in bearer.extra:
        lines.append(
            f"bearer GET /api/user / raw BatchGetItem: {bearer.extra['ratio_to_raw_batch_get']:.2f}"
        )
    for key in ("get_item", "batch_get", "get_user", "me_bearer", "list_100", "login"):
        if key in results and "cpu_ms_per_request" in results[key].extra:
            costs = results[key].extra["cpu_ms_per_request"]
            lines.append(
                f"CPU ms per request, {results[key].name}: "
                + ", ".join(f"{role} {ms:.2f}" for role, ms in costs.items())
            )
    return lines


def default_threads() -> int:
    """gunicorn.conf.py's threads per worker when WEB_THREADS is not set (the app's default)."""
    sys.path.insert(0, str(ROOT))
    from app.config import Config

    return int(Config.WEB_THREADS)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("gunicorn", "flask", "apiflask", "boto3", "botocore", "moto", "bcrypt"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": versions,
    }


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def chart(results: dict[str, Result], info: dict[str, Any], path: Path) -> None:
    """Two panels: throughput per scenario with its ceiling marked, and p99 per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key, *_ in SCENARIOS if key in results]
    names = [results[key].name for key in keys]
    rps = [results[key].rps for key in keys]
    p99 = [results[key].p99_ms for key in keys]
    palette = {True: "tab:green", False: "tab:red", None: "tab:gray"}
    # The list-page target is about latency: its colour goes on the latency panel.
    latency_targets = {"list_10000"}
    colours = [palette[None if k in latency_targets else results[k].met] for k in keys]
    latency_colours = [palette[results[k].met if k in latency_targets else None] for k in keys]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    positions = range(len(keys))
    left.bar(positions, rps, color=colours)
    for x, key in zip(positions, keys, strict=True):
        result = results[key]
        label = f"{result.rps:.0f}" if result.rps >= 20 else f"{result.rps:.1f}"
        # Inside the bar, clear of the ceiling marks drawn just above it.
        left.annotate(
            label, (x, result.rps * 0.9), ha="center", va="top", fontsize=8, color="white"
        )
        for ceiling, style in zip(CEILINGS_OF[key], ("solid", "dashed"), strict=False):
            if ceiling in results:
                value = results[ceiling].rps
                left.hlines(value, x - 0.4, x + 0.4, colors="black", linewidth=2, linestyles=style)
    left.plot([], [], color="black", linewidth=2, label="ceiling: raw get_item / Scan, bcrypt")
    left.plot([], [], color="black", linewidth=2, linestyle="dashed", label="raw BatchGetItem")
    left.set_yscale("log")
    left.set_ylabel("requests per second (log scale)")
    left.set_title("Throughput (green: target met, red: missed, gray: no target)")
    left.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    left.legend(fontsize=8, loc="upper right")
    right.bar(positions, p99, color=latency_colours, label="p99")
    p50 = [results[key].p50_ms for key in keys]
    right.scatter(positions, p50, color="black", marker="_", s=300, zorder=3, label="p50")
    for x, value in zip(positions, p99, strict=True):
        right.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("latency, ms (log scale)")
    right.set_title("p99 latency (bars) and p50 (marks); red/green: list-page target")
    right.legend(fontsize=8, loc="upper left")
    right.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    concurrency = results[keys[0]].concurrency if keys else 0
    fig.suptitle(
        f"Users API under gunicorn over moto_server, {concurrency} connections - "
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date'][:10]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Start everything, measure, report, stop everything."""
    settings = parse_args(argv)
    # Ctrl-C (even when started from a shell that ignores it for background jobs) and
    # SIGTERM must reach the finally block below, which stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="users-api-bench-") as logdir:
        servers = Servers(settings.workers, settings.threads, Path(logdir))
        try:
            servers.start()
            for name, value in aws_environment(servers.dynamodb_url).items():
                os.environ[name] = value
            workers = len(servers.worker_pids())
            print(
                f"moto_server on {servers.dynamodb_url}, gunicorn on http://{HOST}:"
                f"{servers.app_port} ({workers} workers)"
            )
            bench = Bench(settings, servers)
            bench.setup()
            bench.run()
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers")
            return 130
        except Exception:
            print(servers.log_tail(), file=sys.stderr)
            raise
        finally:
            # A second Ctrl-C must not leave a server behind half-stopped.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            servers.stop()
    judge(bench.results)
    print()
    print(table(bench.results))
    info = machine()
    info["gunicorn"] = {
        "workers": workers,
        "threads": settings.threads or default_threads(),
        "worker_class": "gthread",
    }
    print()
    for line in context(bench.results):
        print(f"context: {line}")
    if bench.timing:
        met = "met" if bench.timing["met"] else "MISSED"
        print(
            f"login timing (cost 12, {bench.timing['attempts_each']} each): unknown username "
            f"p50 {bench.timing['unknown_username_p50_ms']:.1f} ms, wrong password p50 "
            f"{bench.timing['wrong_password_p50_ms']:.1f} ms, difference "
            f"{bench.timing['difference']:.1%} (target 10 %: {met})"
        )
    if not settings.write:
        return 0
    payload = {
        "machine": info,
        "settings": {
            "concurrency": settings.concurrency,
            "warmup_seconds": settings.warmup,
            "window_seconds": settings.duration,
            "bcrypt_window_seconds": settings.bcrypt_duration,
            "max_requests": settings.max_requests,
            "server": "gunicorn --config gunicorn.conf.py (make serve), BCRYPT_ROUNDS=12, "
            "RATELIMIT_ENABLED=false, LOG_LEVEL=WARNING",
            "dynamodb": "moto_server (separate process, loopback)",
        },
        "results": [asdict(result) for result in bench.results.values()],
        "login_timing": bench.timing,
        "context": context(bench.results),
    }
    (OUT / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    chart(bench.results, info, OUT / "results.png")
    print(f"\nwrote {OUT / 'results.json'} and {OUT / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
