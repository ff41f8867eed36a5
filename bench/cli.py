"""The command line: `python -m bench [options]` (`make bench`, `make bench PEER=1`)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.catalog import CEILING_LABELS, LABELS, PEER_SCENARIOS, SCENARIOS, TIMINGS

PEER_KEYS = frozenset(key for key, _, _ in PEER_SCENARIOS)


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
    peer: bool = False
    engines: tuple[str, ...] = ("moto",)
    import_rows: int | None = None  # None: the engine's own (catalog.IMPORT_ROWS)


def parser() -> argparse.ArgumentParser:
    """The options, with their defaults."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Loopback load against the app under gunicorn, beside the ceilings it "
        "cannot beat (and, with --peer, fastapi-users). See bench/README.md.",
    )
    p.add_argument("--concurrency", type=int, default=4, help="connections/threads (4)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds not counted (2)")
    p.add_argument("--duration", type=float, default=8.0, help="window in seconds (8)")
    p.add_argument(
        "--bcrypt-duration",
        type=float,
        default=15.0,
        help="window for the bcrypt-bound scenarios, which make ~10 requests/s (15)",
    )
    p.add_argument(
        "--max-requests",
        type=int,
        default=20_000,
        help="cap on requests per scenario, warm-up included (20000)",
    )
    p.add_argument("--workers", type=int, help="WEB_CONCURRENCY (gunicorn.conf.py's default)")
    p.add_argument("--threads", type=int, help="WEB_THREADS (gunicorn.conf.py's default)")
    p.add_argument(
        "--peer",
        action="store_true",
        help="also measure fastapi-users 15 with its DynamoDB adapter (bench/peer/) on the "
        "same DynamoDB server, from bench/.peer-venv (`make bench PEER=1` creates it)",
    )
    p.add_argument(
        "--profile",
        choices=[key for key, _, _ in SCENARIOS + PEER_SCENARIOS],
        help="sample the scenario's server and the DynamoDB server with py-spy during it",
    )
    p.add_argument("--profile-dir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument(
        "--profile-format", choices=["flamegraph", "raw", "speedscope"], default="flamegraph"
    )
    p.add_argument("--profile-gil", action="store_true", help="sample only threads holding the GIL")
    p.add_argument(
        "--retries",
        type=int,
        default=2,
        help="measure again when other processes were busy meanwhile (2; 0 with --profile)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait for other processes to calm down before each measurement (30)",
    )
    p.add_argument(
        "--patience",
        type=float,
        default=12.0,
        help="minutes after which it neither waits nor measures again (12)",
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios, ceilings and timings to measure (all): "
        + ",".join([*LABELS, *CEILING_LABELS, *TIMINGS]),
    )
    p.add_argument(
        "--engine",
        choices=["moto", "local", "both"],
        default="both",
        help="the DynamoDB under the app and the ceilings: moto_server, Amazon's DynamoDB "
        "Local, or one run on each, moto first (both; where there is no Java, moto only)",
    )
    p.add_argument(
        "--import-rows",
        type=int,
        help="users that `flask users import` reads and `export` writes (10000 on DynamoDB "
        "Local, 1000 on moto, whose transactions slow down as a table grows)",
    )
    p.add_argument(
        "--no-write", action="store_true", help="print only; leave bench/results.* alone"
    )
    return p


def parse_args(argv: list[str] | None = None) -> Settings:
    """Read the command line."""
    p = parser()
    args = p.parse_args(argv)
    if args.concurrency < 1 or args.duration <= 0 or args.max_requests < 1:
        p.error("--concurrency, --duration and --max-requests must be positive")
    if args.import_rows is not None and args.import_rows < 1:
        p.error("--import-rows must be positive")
    only = frozenset(key.strip() for key in args.only.split(",") if key.strip())
    if unknown := only - {*LABELS, *CEILING_LABELS, *TIMINGS}:
        p.error(f"--only: unknown {', '.join(sorted(unknown))}")
    if not args.peer and ((only & PEER_KEYS) or args.profile in PEER_KEYS):
        p.error("the peer's scenarios need --peer")
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
        peer=args.peer,
        engines=engines_of(args.engine),
        import_rows=args.import_rows,
    )


def engines_of(choice: str) -> tuple[str, ...]:
    """The engines to run on, in order; "both" means moto only where there is no Java."""
    if choice != "both":
        return (choice,)
    if shutil.which("java") is None:
        print("no Java here: measuring on moto only (DynamoDB Local needs Java)")
        return ("moto",)
    return ("moto", "local")
