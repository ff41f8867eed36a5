"""The processes under test: moto_server, the app under gunicorn, and the peer under uvicorn."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from app import dynamodb_local
from app.serving import (
    LOOPBACK,
    child_environment,
    free_port,
    http_call,
    start_moto_server,
    stop_process,
    wait_for_port,
    worker_count,
)
from bench import ROOT
from bench.app_constants import BCRYPT_ROUNDS, TABLE_PREFIX
from bench.catalog import PEER_ROLE
from bench.data import REGION

BIN = Path(sys.executable).parent
PEER_DIR = ROOT / "bench" / "peer"
PEER_VENV = ROOT / "bench" / ".peer-venv"
PEER_TABLE_PREFIX = "peer_"
# What the report names as the peer's software, read from its own environment.
PEER_PACKAGES = (
    "fastapi-users",
    "fastapi-users-db-dynamodb",
    "as-aiopynamodb",
    "aiobotocore",
    "fastapi",
    "uvicorn",
    "pwdlib",
    "bcrypt",
)
ENGINE_ROLES = {"moto": "moto_server", "local": "dynamodb_local"}
# The app's settings that must not come from the shell: the bench chooses them.
NOT_INHERITED = ("AWS_", "APP_", "WEB_")


def aws_environment(url: str) -> dict[str, str]:
    """Dummy credentials, a region and the endpoint: moto_server and nothing else."""
    return {
        "AWS_ENDPOINT_URL_DYNAMODB": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
    }


class Servers:
    """moto_server, gunicorn and (with `peer`) uvicorn, each in its own process group."""

    def __init__(
        self,
        workers: int | None,
        threads: int | None,
        logdir: Path,
        *,
        peer: bool = False,
        engine: str = "moto",
    ) -> None:
        self.engine = engine
        # The DynamoDB server's process, as the CPU accounting and profiles name it.
        self.dynamodb_role = ENGINE_ROLES[engine]
        self.workers = workers
        self.threads = threads
        self.logdir = logdir
        self.with_peer = peer
        self.moto: subprocess.Popen[bytes] | None = None
        self.app: subprocess.Popen[bytes] | None = None
        self.peer: subprocess.Popen[bytes] | None = None
        self.dynamodb_url = ""
        self.app_port = 0
        self.peer_port = 0
        self.logs: list[IO[bytes]] = []

    def start(self) -> None:
        """Start the DynamoDB, then gunicorn (and the peer) on it; wait until all answer."""
        if self.engine == "local":
            # In memory: a benchmark's data need not outlive it.
            self.moto, self.dynamodb_url = dynamodb_local.start_server(None, full_jit=True)
        else:
            self.moto, self.dynamodb_url = start_moto_server(
                output=self.log("moto.log"), own_session=True
            )
        self.start_app()
        if self.with_peer:
            self.start_peer()

    def log(self, name: str) -> IO[bytes]:
        """A file in the log folder for a server's output (closed with the servers)."""
        handle = (self.logdir / name).open("wb")
        self.logs.append(handle)
        return handle

    def start_app(self) -> None:
        """Start gunicorn as `make serve` runs it, with what a load test needs changed."""
        self.app_port = free_port()
        chosen = {"WEB_CONCURRENCY": self.workers, "WEB_THREADS": self.threads}
        env = child_environment(
            {
                **aws_environment(self.dynamodb_url),
                "APP_ENV": "development",
                "HOST": LOOPBACK,
                "PORT": str(self.app_port),
                "BCRYPT_ROUNDS": str(BCRYPT_ROUNDS),
                "RATELIMIT_ENABLED": "false",
                "SEED_DEMO_USERS": "false",
                "TABLE_PREFIX": TABLE_PREFIX,
                "LOG_LEVEL": "WARNING",
                **{name: str(value) for name, value in chosen.items() if value is not None},
            },
            drop=NOT_INHERITED,
        )
        self.app = subprocess.Popen(  # noqa: S603 - our venv's gunicorn, loopback only
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=self.log("gunicorn.log"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.app_port, process=self.app)
        # Live, and every worker forked (gunicorn.conf.py's own count when --workers is not set).
        expected = worker_count(self.workers or 0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, http.client.HTTPException):
                live = http_call(self.app_port, "GET", "/api/health/live").status
                if live == 200 and len(self.worker_pids()) >= expected:
                    return
            time.sleep(0.2)  # workers are still forking: poll the starting server
        raise RuntimeError(f"the app did not become live with {expected} workers in 30 s")

    def start_peer(self) -> None:
        """Start the peer (bench/peer/service.py) under uvicorn, one worker, on our moto_server."""
        uvicorn = PEER_VENV / "bin" / "uvicorn"
        if not uvicorn.exists():
            raise RuntimeError(
                f"the peer's virtual environment {PEER_VENV.relative_to(ROOT)} is missing: "
                "`make bench PEER=1` creates it from bench/peer-requirements.txt"
            )
        self.peer_port = free_port()
        env = child_environment(
            {**aws_environment(self.dynamodb_url), "PEER_TABLE_PREFIX": PEER_TABLE_PREFIX},
            drop=NOT_INHERITED,
        )
        command = [str(uvicorn), "service:app", "--app-dir", str(PEER_DIR)]
        command += ["--host", LOOPBACK, "--port", str(self.peer_port), "--workers", "1"]
        # Like the app's LOG_LEVEL=WARNING: no access line per request.
        command += ["--log-level", "warning", "--no-access-log"]
        self.peer = subprocess.Popen(  # noqa: S603 - the peer venv's uvicorn, loopback only
            command,
            env=env,
            stdout=self.log("peer.log"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.peer_port, process=self.peer)
        if (status := http_call(self.peer_port, "GET", "/health").status) != 200:
            raise RuntimeError(f"the peer answered {status} to GET /health")

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' process ids (children of the master)."""
        if self.app is None:
            return []
        path = Path(f"/proc/{self.app.pid}/task/{self.app.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def pids(self) -> dict[str, list[int]]:
        """Our servers' process ids by role, for the CPU time each request costs them."""
        roles = {
            self.dynamodb_role: [self.moto.pid] if self.moto else [],
            "gunicorn": [self.app.pid, *self.worker_pids()] if self.app else [],
        }
        if self.peer is not None:
            roles[PEER_ROLE] = [self.peer.pid]
        return roles

    def peer_versions(self) -> dict[str, str]:
        """The peer's packages and their versions, from its own environment."""
        code = (
            "import json, importlib.metadata as m\n"
            f"print(json.dumps({{p: m.version(p) for p in {list(PEER_PACKAGES)!r}}}))"
        )
        done = subprocess.run(  # noqa: S603 - the peer venv's python
            [str(PEER_VENV / "bin" / "python"), "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return dict(json.loads(done.stdout))

    def stop(self) -> None:
        """Stop gunicorn (its workers too) and the peer, then moto_server."""
        try:
            # gunicorn lets its workers finish their requests for up to 20 s (graceful_timeout).
            stop_process(self.app, timeout=25, group=True)
            stop_process(self.peer, timeout=10, group=True)
        finally:
            stop_process(self.moto, timeout=10, group=True)
            for handle in self.logs:
                handle.close()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the servers' own logs, for an error message."""
        parts = []
        for name in ("gunicorn.log", "peer.log", "moto.log"):
            path = self.logdir / name
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def profile_targets(self, key: str) -> dict[str, Any]:
        """The processes py-spy samples during scenario `key`: its server and moto_server."""
        if key.startswith("peer_"):
            return {"uvicorn": self.peer, self.dynamodb_role: self.moto}
        return {"gunicorn": self.app, self.dynamodb_role: self.moto}
