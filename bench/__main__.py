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


def main(argv: list[str] | None = None) -> int:
    """Start the servers, measure every scenario and ceiling, stop them, then report."""
    settings = parse_args(argv)
    # Ctrl-C (even when started from a shell that ignores it for background jobs) and
    # SIGTERM must reach the finally block below, which stops the servers.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="users-api-bench-") as logdir:
        servers = Servers(settings.workers, settings.threads, Path(logdir), peer=settings.peer)
        try:
            servers.start()
            os.environ.update(aws_environment(servers.dynamodb_url))
            workers = len(servers.worker_pids())
            peer = f", the peer's uvicorn on http://{LOOPBACK}:{servers.peer_port}"
            print(
                f"moto_server on {servers.dynamodb_url}, gunicorn on http://{LOOPBACK}:"
                f"{servers.app_port} ({workers} workers){peer if settings.peer else ''}"
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
    report.judge(bench.results)
    print()
    print(report.table(bench.results))
    print()
    for line in report.context(bench.results):
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
    if not settings.write:
        return 0
    info = report.machine()
    info["gunicorn"] = {
        "workers": workers,
        "threads": settings.threads or DEFAULT_THREADS,
        "worker_class": "gthread",
    }
    if settings.peer:
        info["peer"] = {"versions": peer_versions, "server": "uvicorn", "workers": 1}
    document = report.payload(bench.results, timing, info, run_settings(settings))
    report.write(document, bench.results, OUT)
    print(f"\nwrote {OUT / 'results.json'} and {OUT / 'results.png'}")
    return 0


def run_settings(settings: Settings) -> dict[str, Any]:
    """The settings results.json records."""
    recorded: dict[str, Any] = {
        "concurrency": settings.concurrency,
        "warmup_seconds": settings.warmup,
        "window_seconds": settings.duration,
        "bcrypt_window_seconds": settings.bcrypt_duration,
        "max_requests": settings.max_requests,
        "server": f"gunicorn --config gunicorn.conf.py (make serve), "
        f"BCRYPT_ROUNDS={BCRYPT_ROUNDS}, RATELIMIT_ENABLED=false, LOG_LEVEL=WARNING",
        "dynamodb": "moto_server (separate process, loopback)",
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
