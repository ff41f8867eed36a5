"""bench.load: percentiles, the load loop's accounting, requests, CPU readings."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from app.serving import free_port
from bench.load import CpuSample, drive, http_operation, percentile, post_form, post_json
from tests.test_serving import QuietHandler, http_stub


def in_window(operation):
    """`operation`, but its first call returns only once drive's window has opened."""
    # drive opens its window 50 ms after it has made the operations: wait a little longer.
    opens = time.perf_counter() + 0.1
    first = [True]

    def wrapped():
        if first[0]:
            first[0] = False
            time.sleep(max(0.0, opens - time.perf_counter()))
        return operation()

    return wrapped


def test_percentile_returns_zero_for_no_samples():
    assert percentile([], 0.5) == 0.0


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.0, 1), (0.5, 50), (0.9, 90), (0.99, 99), (1.0, 100)]
)
def test_percentile_takes_the_nearest_rank(fraction, expected):
    assert percentile([float(n) for n in range(1, 101)], fraction) == expected


def test_percentile_rounds_the_rank_up_on_short_lists():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0
    assert percentile([7.0], 0.99) == 7.0


def test_drive_stops_at_the_request_cap():
    result = drive(
        "noop",
        "ceiling",
        lambda _index: in_window(lambda: True),
        concurrency=3,
        warmup=0,
        duration=60,
        max_requests=90,
    )

    assert result.extra["completed"] == 90
    assert result.requests == 90
    assert result.errors == 0
    assert result.note == "stopped at the request cap"
    assert result.seconds < 60
    assert result.rps > 0
    assert result.concurrency == 3


def test_drive_counts_false_and_exceptions_as_errors():
    calls = iter(range(1_000_000))
    lock = threading.Lock()

    def factory(_index):
        def operation():
            with lock:
                n = next(calls)
            if n % 3 == 1:
                return False
            if n % 3 == 2:
                raise RuntimeError("counted, not raised")
            return True

        return in_window(operation)

    result = drive("mixed", "http", factory, concurrency=2, warmup=0, duration=60, max_requests=300)

    assert result.requests + result.errors == 300
    assert result.requests == 100
    assert result.errors == 200


def test_drive_leaves_the_warmup_out_of_the_window():
    closed = []

    def factory(index):
        def operation():
            return True

        operation.close = lambda: closed.append(index)
        return operation

    result = drive(
        "timed", "http", factory, concurrency=2, warmup=0.2, duration=0.2, max_requests=10**9
    )

    assert result.note == ""
    assert result.seconds == 0.2
    assert result.extra["completed"] > result.requests > 0
    assert sorted(closed) == [0, 1]


def test_post_json_and_post_form_build_requests():
    assert post_json("/api/sessions", {"username": "u"}) == (
        "POST",
        "/api/sessions",
        b'{"username": "u"}',
        {"Content-Type": "application/json"},
    )
    assert post_form("/auth/db/login", {"username": "a@example.com", "password": "p w"}) == (
        "POST",
        "/auth/db/login",
        b"username=a%40example.com&password=p+w",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_http_operation_reports_the_expected_status_over_one_connection():
    seen = []

    class Answer(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body, self.client_address[1]))
            self.send_response(201 if body["n"] < 2 else 409)
            self.send_header("Content-Length", "0")
            self.end_headers()

    with http_stub(Answer) as port:
        operation = http_operation(port, lambda i: post_json("/things", {"n": i}), 201)
        outcomes = [operation() for _ in range(3)]
        operation.close()

    assert outcomes == [True, True, False]
    assert [path for path, _, _ in seen] == ["/things"] * 3
    assert len({port for _, _, port in seen}) == 1  # keep-alive: one connection


def test_http_operation_fails_and_reconnects_when_nothing_listens():
    operation = http_operation(free_port(), lambda _i: ("GET", "/", None, {}), 200)

    assert operation() is False
    assert operation() is False


def test_cpu_sample_reads_our_own_process():
    sample = CpuSample.take({"bench": [os.getpid()], "gone": [2**22 + 1]})

    assert sample.roles["gone"] == 0.0
    assert sample.roles["bench"] > 0
    assert sample.ours == sample.roles["bench"]
    assert sample.busy >= sample.ours
