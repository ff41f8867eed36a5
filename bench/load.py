"""The load generator: connections kept busy for a window, percentiles, CPU time by process."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from app.serving import LOOPBACK

# A request: method, path, body, headers. One factory per scenario makes them per connection.
Request = tuple[str, str, bytes | None, dict[str, str]]
# One call of a scenario or ceiling; True when it got what it expected.
Operation = Callable[[], bool]


@dataclass
class Result:
    """One scenario or ceiling: how many completed in the window, how fast, how long each."""

    name: str
    kind: str  # "http", "ceiling" or "peer"
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


def post_json(path: str, payload: dict[str, Any]) -> Request:
    """A JSON POST request."""
    return "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}


def post_form(path: str, fields: dict[str, str]) -> Request:
    """A form POST request (an OAuth2 password login, as fastapi-users takes it)."""
    body = urlencode(fields).encode()
    return "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}


def http_operation(port: int, make: Callable[[int], Request], expect: int) -> Operation:
    """One connection's request loop body: request `make(i)`, expect status `expect`."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
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
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
            return False
        if response.will_close:
            conn.close()
            conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
        return response.status == expect

    operation.close = lambda: conn.close()  # type: ignore[attr-defined]
    return operation


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
    """Run `concurrency` loops of `factory(i)()` for warm-up + window; measure the window."""
    # Every loop stops at the end of the window, or when all loops together have made
    # `max_requests` calls (warm-up included), whichever comes first.
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
