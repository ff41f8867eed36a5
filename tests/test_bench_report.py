"""bench.report: verdicts against the targets, the table, the context lines, results.json."""

from __future__ import annotations

import json
import re

import pytest

from bench import report
from bench.catalog import CEILING_LABELS, LABELS, PEER_ROLE, scenario_order
from bench.load import Result
from bench.report import (
    context,
    judge,
    payload,
    reset_timing_verdict,
    table,
    timing_verdict,
    write,
)


def result(key, rps, *, p50=10.0, p99=20.0, errors=0, kind=None, cpu=None):
    kind = kind or ("ceiling" if key in CEILING_LABELS else "peer" if "peer" in key else "http")
    extra = {"key": key}
    if cpu:
        extra["cpu_ms_per_request"] = cpu
    return Result(
        name=LABELS.get(key) or CEILING_LABELS[key],
        kind=kind,
        concurrency=4,
        requests=int(rps * 8),
        errors=errors,
        seconds=8.0,
        rps=rps,
        p50_ms=p50,
        p90_ms=(p50 + p99) / 2,
        p99_ms=p99,
        extra=extra,
    )


def job(key, rps, *, cpu=None):
    """An operator's command timed as a whole: rows per second, no latencies."""
    made = result(key, rps, p50=0.0, p99=0.0, kind="job", cpu=cpu)
    made.p90_ms = 0.0
    made.extra.update(wall_seconds=made.seconds + 1.5)
    return made


@pytest.fixture
def results():
    made = [
        result("get_item", 500.0),
        result("get_user", 410.0),
        result("batch_get", 400.0),
        result("me_bearer", 290.0),
        result("peer_me", 200.0, p50=19.0, cpu={"bench": 0.2, "gunicorn": 0.0, PEER_ROLE: 4.0}),
        result("scan_100", 36.0, p50=100.0, p99=150.0),
        result("list_100", 50.0, p50=70.0, p99=250.0, cpu={"bench": 0.3, "gunicorn": 4.0}),
        result("bcrypt", 10.0, p50=400.0, p99=500.0),
        result("login", 9.5, p50=420.0, p99=520.0, cpu={"bench": 0.4, "gunicorn": 209.0}),
        result("peer_login", 4.75, p50=840.0, p99=900.0),
        result("register", 9.0, p50=440.0, p99=700.0, errors=2),
        result("peer_register", 4.5, p50=880.0, p99=950.0),
        result("scan_10000", 24.0, p50=160.0, p99=200.0),
        result("list_10000", 34.0, p50=105.0, p99=500.0, cpu={"bench": 0.3, "gunicorn": 3.0}),
        result("raw_import", 400.0, p50=9.0, p99=30.0, cpu={"bench": 2.0, "gunicorn": 0.01}),
        job("import", 300.0, cpu={"bench": 0.0, "gunicorn": 0.01, "flask command": 2.5}),
        result("raw_scan_all", 5000.0, p50=80.0, p99=90.0),
        job("export", 4000.0),
    ]
    return {r.extra["key"]: r for r in made}


def test_judge_compares_each_scenario_with_its_ceiling_and_target(results):
    judge(results)

    get_user, bearer, login = results["get_user"], results["me_bearer"], results["login"]
    assert get_user.ceiling == "raw get_item"
    assert get_user.ceiling_value == 500.0
    assert get_user.ratio == pytest.approx(0.82)
    assert (get_user.target, get_user.met) == (">= 0.8 x", True)
    assert bearer.ratio == pytest.approx(0.58)
    assert (bearer.target, bearer.met) == (">= 0.6 x", False)
    assert bearer.extra["ratio_to_raw_batch_get"] == pytest.approx(0.725)
    assert login.ratio == pytest.approx(0.95)
    assert (login.target, login.met) == (">= 0.9 x", True)
    assert results["register"].target is None
    assert results["register"].met is None
    assert results["list_100"].ratio == pytest.approx(50 / 36)


def test_judge_compares_the_large_page_with_the_small_one_by_latency(results):
    judge(results)

    large = results["list_10000"]
    assert large.ceiling == "GET /api/users (100) p50"
    assert large.ceiling_value == 70.0
    assert large.ratio == pytest.approx(1.5)
    assert (large.target, large.met) == ("p50 <= 1.2 x", False)
    assert large.extra["raw_scan_ratio"] == pytest.approx(34 / 24)
    assert large.extra["raw_scan_p50_ratio"] == pytest.approx(1.6)
    assert large.extra["p99_ratio_to_100"] == pytest.approx(2.0)
    assert large.extra["app_cpu_ratio_to_100"] == pytest.approx(0.75)


def test_judge_meets_the_list_target_at_equal_latency(results):
    results["list_10000"].p50_ms = results["list_100"].p50_ms * 1.2

    judge(results)

    assert results["list_10000"].met is True


def test_judge_sets_the_peer_beside_ours_without_targets(results):
    judge(results)

    peer_me, peer_login = results["peer_me"], results["peer_login"]
    assert peer_me.ceiling == "raw get_item"
    assert peer_me.ratio == pytest.approx(0.4)
    assert peer_me.target is None
    assert peer_me.met is None
    assert peer_me.extra["ratio_to_raw_batch_get"] == pytest.approx(0.5)
    assert peer_login.ratio == pytest.approx(0.475)
    assert results["me_bearer"].extra["ratio_to_peer"] == pytest.approx(1.45)
    assert results["login"].extra["ratio_to_peer"] == pytest.approx(2.0)
    assert results["register"].extra["ratio_to_peer"] == pytest.approx(2.0)


def test_judge_skips_what_was_not_measured():
    only = {"get_user": result("get_user", 100.0), "peer_me": result("peer_me", 50.0)}

    judge(only)

    assert only["get_user"].ratio is None
    assert only["get_user"].met is None
    assert "ratio_to_peer" not in only["get_user"].extra


def test_timing_verdict_meets_the_target_with_close_medians_and_one_answer():
    times = {"unknown": [210.0, 214.0, 220.0], "wrong": [212.0, 215.0, 230.0]}

    verdict = timing_verdict(times, {(401, b"same")})

    assert verdict["attempts_each"] == 3
    assert verdict["unknown_username_p50_ms"] == 214.0
    assert verdict["wrong_password_p50_ms"] == 215.0
    assert verdict["difference"] == pytest.approx(1 / 214)
    assert verdict["same_status_and_body"] is True
    assert verdict["met"] is True
    assert verdict["target"] == "medians within 10%, same status and body"


def test_timing_verdict_misses_with_far_medians_or_two_answers():
    far = timing_verdict({"unknown": [100.0], "wrong": [120.0]}, {(401, b"same")})
    two = timing_verdict({"unknown": [100.0], "wrong": [100.0]}, {(401, b"a"), (401, b"b")})

    assert far["difference"] == pytest.approx(0.2)
    assert far["met"] is False
    assert two["same_status_and_body"] is False
    assert two["met"] is False


def test_reset_timing_verdict_meets_the_target_when_every_known_account_got_its_token():
    times = {"known": [3.0, 3.1, 3.4], "unknown": [2.9, 3.0, 3.3]}

    verdict = reset_timing_verdict(times, {(202, b"same")}, tokens=3)

    assert verdict["attempts_each"] == 3
    assert verdict["known_account_p50_ms"] == 3.1
    assert verdict["unknown_account_p50_ms"] == 3.0
    assert verdict["difference"] == pytest.approx(0.1 / 3.0)
    assert verdict["same_status_and_body"] is True
    assert (verdict["tokens_issued"], verdict["tokens_expected"]) == (3, 3)
    assert verdict["met"] is True
    assert verdict["target"] == (
        "medians within 10%, same status and body, a token made for every known account"
    )


def test_reset_timing_verdict_misses_with_far_medians_or_two_answers():
    far = reset_timing_verdict({"known": [4.0], "unknown": [3.0]}, {(202, b"same")}, tokens=1)
    two = reset_timing_verdict(
        {"known": [3.0], "unknown": [3.0]}, {(202, b"a"), (202, b"b")}, tokens=1
    )

    assert far["difference"] == pytest.approx(1 / 3)
    assert far["met"] is False
    assert two["same_status_and_body"] is False
    assert two["met"] is False


def test_reset_timing_verdict_misses_when_a_known_account_got_no_token():
    # A mail dropped from a full queue: that request did less than a real one does.
    times = {"known": [3.0, 3.0], "unknown": [3.0, 3.0]}

    verdict = reset_timing_verdict(times, {(202, b"same")}, tokens=1)

    assert verdict["difference"] == 0.0
    assert verdict["met"] is False


def test_table_lists_ours_each_followed_by_the_peer_then_the_ceilings(results):
    judge(results)

    lines = table(results).splitlines()

    assert lines[0].split()[:3] == ["scenario", "conc", "requests"]
    assert set(lines[1]) == {"-", " "}
    names = [line.split("  ")[0].strip() for line in lines[2:]]
    assert names == [LABELS[key] for key in scenario_order()] + list(CEILING_LABELS.values())
    rows = dict(zip(names, lines[2:], strict=True))
    assert "500.0/s" in rows["GET /api/users/<u>"]
    assert rows["GET /api/user (bearer)"].rstrip().endswith("NO")
    assert rows["GET /api/users/<u>"].rstrip().endswith("yes")
    assert "p50 70.0 ms" in rows["GET /api/users (10000)"]
    assert "72 (2 err)" in rows["POST /api/users"]
    assert "(ceiling)" in rows["raw get_item"]
    assert rows["peer: POST /auth/db/login"].rstrip().endswith("-")
    widths = {len(line.rstrip()) <= len(lines[0]) + 1 for line in lines}
    assert widths == {True}


def test_table_leaves_out_what_was_not_measured():
    lines = table({"get_user": result("get_user", 100.0)}).splitlines()

    assert len(lines) == 3
    assert lines[2].startswith("GET /api/users/<u>")
    assert lines[2].split()[-4:] == ["-", "-", "-", "-"]


def test_context_explains_the_ratios_and_compares_with_the_peer(results):
    judge(results)

    lines = context(results)

    assert "raw Scan page p50, 10000 / 100 users: 1.60 (moto_server's own scaling)" in lines
    assert "gunicorn CPU per list request, 10000 / 100 users: 0.75 (the app's own scaling)" in lines
    assert "list page p99, 10000 / 100 users: 2.00" in lines
    assert "bearer GET /api/user / raw BatchGetItem: 0.72" in lines
    assert (
        "ours / peer, GET /api/user (bearer) / peer: GET /users/me (bearer): 1.45 "
        "(290.0 against 200.0/s; p50 10.0 against 19.0 ms)"
    ) in lines
    assert "CPU ms per request, POST /api/sessions: bench 0.40, gunicorn 209.00" in lines
    # The server a scenario does not call is left out of its CPU line.
    assert (
        "CPU ms per request, peer: GET /users/me (bearer): bench 0.20, uvicorn (peer) 4.00"
    ) in lines


def test_payload_keeps_the_results_json_shape(results, tmp_path):
    judge(results)
    info = {"cpu": "test", "cores": 2, "python": "3.11", "date": "2026-12-01T00:00:00Z"}
    timing = timing_verdict({"unknown": [1.0], "wrong": [1.0]}, {(401, b"")})
    reset = reset_timing_verdict({"known": [1.0], "unknown": [1.0]}, {(202, b"")}, tokens=1)

    document = payload(results, timing, info, {"concurrency": 4}, reset_timing=reset)

    assert list(document) == [
        "machine",
        "settings",
        "results",
        "login_timing",
        "reset_timing",
        "context",
    ]
    assert document["reset_timing"]["tokens_issued"] == 1
    assert document["results"][0]["name"] == "raw get_item"
    assert set(document["results"][0]) >= {"kind", "rps", "p50_ms", "ratio", "met", "extra"}
    assert json.loads(json.dumps(document)) == document


def test_write_saves_results_json_and_asks_for_the_chart(results, tmp_path, monkeypatch):
    # The chart needs matplotlib (bench/requirements.txt, not the test tools): `make bench`
    # draws it; here only what it is asked to draw, and where, is checked.
    drawn = []
    monkeypatch.setattr(report, "chart", lambda *args: drawn.append(args))
    judge(results)
    info = {"cpu": "test", "cores": 2, "python": "3.11", "date": "2026-12-01T00:00:00Z"}
    document = payload(results, {}, info, {"concurrency": 4})

    write(document, results, tmp_path)

    assert json.loads((tmp_path / "results.json").read_text()) == document
    assert drawn == [(results, info, tmp_path / "results.png")]


def test_judge_holds_the_import_to_half_the_raw_transactions_and_export_to_nothing(results):
    judge(results)

    imported, exported = results["import"], results["export"]
    assert imported.ceiling == "raw TransactWriteItems (user + email)"
    assert imported.ratio == pytest.approx(0.75)
    assert (imported.target, imported.met) == (">= 0.5 x", True)
    assert exported.ratio == pytest.approx(0.8)
    assert (exported.target, exported.met) == (None, None)


def test_judge_misses_the_import_target_below_half_the_raw_transactions(results):
    results["import"].rps = 199.0

    judge(results)

    assert results["import"].met is False


def test_table_shows_a_job_in_rows_per_second_without_latencies(results):
    judge(results)

    rows = {
        cells[0]: cells[1:]
        for cells in (re.split(r"\s{2,}", line.strip()) for line in table(results).splitlines())
    }

    assert rows["flask users import (pre-hashed)"] == [
        *("4", "2400", "300.0", "-", "-", "-", "400.0/s", "0.75", ">= 0.5 x", "yes")
    ]
    assert rows["raw TransactWriteItems (user + email)"][3] == "9.0"


def test_context_gives_each_row_its_cpu_and_each_job_its_time_with_the_process_start(results):
    judge(results)

    lines = context(results)

    assert (
        "CPU ms per row, flask users import (pre-hashed): bench 0.00, flask command 2.50" in lines
    )
    assert "CPU ms per row, raw TransactWriteItems (user + email): bench 2.00" in lines
    assert (
        "flask users import (pre-hashed): 2400 rows in 8.0 s by its own clock, 9.5 s with the "
        "process's start"
    ) in lines
