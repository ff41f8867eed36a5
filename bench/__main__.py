"""`python -m bench` (`make bench`): start everything, measure, report, stop everything."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.serving import LOOPBACK
from bench import OUT, report
from bench.app_constants import BCRYPT_ROUNDS, DEFAULT_THREADS
from bench.cli import Settings, parse_args
from bench.scenarios import Bench
from bench.servers import PEER_TABLE_PREFIX, Servers, aws_environment

ENGINE_NAMES = {"moto": "moto_server", "local": "Amazon's DynamoDB Local (in memory)"}
# The files each engine's results go to, in bench/.
RESULTS = {"moto": "results", "local": "results-local"}


def main(argv: list[str] | None = None) -> int:
    """Measure on each engine asked for, one after the other."""
    settings = parse_args(argv)
    # Ctrl-C (even when started from a shell that ignores it for background jobs) and
    # SIGTERM must reach the finally block below, which stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for engine in settings.engines:
        status = measure(settings, engine)
        if status:
            return status
    return 0


def measure(settings: Settings, engine: str) -> int:
    """Start the servers on `engine`, measure every scenario and ceiling, stop, report."""
    print(f"=== on {ENGINE_NAMES[engine]}")
    with tempfile.TemporaryDirectory(prefix="users-api-bench-") as logdir:
        servers = Servers(
            settings.workers, settings.threads, Path(logdir), peer=settings.peer, engine=engine
        )
        try:
            servers.start()
            os.environ.update(aws_environment(servers.dynamodb_url))
            workers = len(servers.worker_pids())
            peer = f", the peer's uvicorn on http://{LOOPBACK}:{servers.peer_port}"
            print(
                f"{servers.dynamodb_role} on {servers.dynamodb_url}, gunicorn on http://"
                f"{LOOPBACK}:{servers.app_port} ({workers} workers)"
                f"{peer if settings.peer else ''}"
            )
            peer_versions = servers.peer_versions() if settings.peer else {}
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
            signal.signal(signal.SIGINT, signal.default_int_handler)
    report.judge(bench.results)
    print()
    if bench.results:  # --only reset_timing measures no scenario: no empty table
        print(report.table(bench.results))
        print()
    for line in report.context(bench.results, dynamodb=servers.dynamodb_role):
        print(f"context: {line}")
    timing = bench.timing
    if timing:
        met = "met" if timing["met"] else "MISSED"
        print(
            f"login timing (cost {BCRYPT_ROUNDS}, {timing['attempts_each']} each): unknown "
            f"username p50 {timing['unknown_username_p50_ms']:.1f} ms, wrong password p50 "
            f"{timing['wrong_password_p50_ms']:.1f} ms, difference "
            f"{timing['difference']:.1%} (target 10 %: {met})"
        )
    reset = bench.reset_timing
    if reset:
        met = "met" if reset["met"] else "MISSED"
        print(
            f"reset timing ({reset['attempts_each']} each): known account p50 "
            f"{reset['known_account_p50_ms']:.2f} ms, unknown account p50 "
            f"{reset['unknown_account_p50_ms']:.2f} ms, difference {reset['difference']:.1%} "
            f"(target 10 %: {met}); mails made for {reset['tokens_issued']} of "
            f"{reset['tokens_expected']} known accounts"
        )
    print()
    if not settings.write:
        return 0
    info = report.machine()
    info["gunicorn"] = {
        "workers": workers,
        "threads": settings.threads or DEFAULT_THREADS,
        "worker_class": "gthread",
    }
    info["dynamodb"] = servers.dynamodb_role
    if settings.peer:
        info["peer"] = {"versions": peer_versions, "server": "uvicorn", "workers": 1}
    document = report.payload(
        bench.results, timing, info, run_settings(settings, engine), reset_timing=reset
    )
    stem = RESULTS[engine]
    report.write(document, bench.results, OUT, stem=stem)
    print(f"wrote {OUT / (stem + '.json')} and {OUT / (stem + '.png')}\n")
    return 0


def run_settings(settings: Settings, engine: str) -> dict[str, Any]:
    """The settings results.json records."""
    recorded: dict[str, Any] = {
        "concurrency": settings.concurrency,
        "warmup_seconds": settings.warmup,
        "window_seconds": settings.duration,
        "bcrypt_window_seconds": settings.bcrypt_duration,
        "max_requests": settings.max_requests,
        "server": f"gunicorn --config gunicorn.conf.py (make serve), "
        f"BCRYPT_ROUNDS={BCRYPT_ROUNDS}, RATELIMIT_ENABLED=false, LOG_LEVEL=WARNING",
        "dynamodb": f"{ENGINE_NAMES[engine]} (separate process, loopback)",
    }
    if settings.peer:
        recorded["peer"] = (
            "bench/peer/service.py: fastapi-users with fastapi-users-db-dynamodb, bearer "
            f"transport, database strategy (tokens in DynamoDB), bcrypt cost 12 (pwdlib), "
            f"uvicorn --workers 1, tables {PEER_TABLE_PREFIX}* on the same moto_server"
        )
    return recorded


if __name__ == "__main__":
    sys.exit(main())
