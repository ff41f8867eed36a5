"""Verdicts against the targets, the table, the context lines, results.json and the chart."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.catalog import (
    CEILING_LABELS,
    CEILINGS_OF,
    LARGE_TABLE,
    PEER_OF,
    PEER_ROLE,
    SMALL_TABLE,
    scenario_order,
)
from bench.load import Result, percentile

# Each target is a ratio of two figures of the same run (see bench/README.md).
GET_USER_TARGET = 0.8  # GET /api/users/<u> against raw get_item
BEARER_TARGET = 0.6  # bearer GET /api/user against raw get_item
LOGIN_TARGET = 0.9  # POST /api/sessions against the bcrypt ceiling
LIST_P50_TARGET = 1.2  # the 10,000-user page's p50 against the 100-user page's, at most
IMPORT_TARGET = 0.5  # flask users import's rows/s against raw TransactWriteItems per user
# Unknown username against wrong password, and a reset asked for a known account against
# an unknown one: medians this close.
TIMING_TARGET = 0.10
APP_PACKAGES = ("gunicorn", "flask", "apiflask", "boto3", "botocore", "moto", "bcrypt")


def judge(results: dict[str, Result]) -> None:
    """Fill in each scenario's ceiling, ratio and target (and ours against the peer's)."""

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

    against("get_user", "get_item", GET_USER_TARGET)
    against("me_bearer", "get_item", BEARER_TARGET)
    against("login", "bcrypt", LOGIN_TARGET)
    against("register", "bcrypt", None)
    against("list_100", "scan_100", None)
    against("list_10000", "scan_10000", None)
    against("import", "raw_import", IMPORT_TARGET)
    against("export", "raw_scan_all", None)
    # The peer has no targets: its rows show how far it gets under the same ceilings.
    against("peer_me", "get_item", None)
    against("peer_login", "bcrypt", None)
    against("peer_register", "bcrypt", None)
    if results.get("batch_get"):
        for key in ("me_bearer", "peer_me"):
            if key in results:
                results[key].extra["ratio_to_raw_batch_get"] = (
                    results[key].rps / results["batch_get"].rps
                )
    for ours, peer in PEER_OF.items():
        if ours in results and peer in results and results[peer].rps:
            results[ours].extra["ratio_to_peer"] = results[ours].rps / results[peer].rps
    small, large = results.get("list_100"), results.get("list_10000")
    if small and large and small.p50_ms:
        judge_list_pages(results, small, large)


def judge_list_pages(results: dict[str, Result], small: Result, large: Result) -> None:
    """The list target compares latencies: the 10,000-user page against the 100-user page."""
    large.extra["raw_scan_ratio"] = large.ratio
    large.extra["p99_ratio_to_100"] = large.p99_ms / small.p99_ms if small.p99_ms else None
    large.ceiling = f"{small.name} p50"
    large.ceiling_value = small.p50_ms
    large.ratio = large.p50_ms / small.p50_ms
    large.target = f"p50 <= {LIST_P50_TARGET:g} x"
    large.met = large.ratio <= LIST_P50_TARGET
    # The app's own CPU time per request at both sizes: flat if the app reads one page.
    cpu_small = small.extra.get("cpu_ms_per_request", {}).get("gunicorn")
    cpu_large = large.extra.get("cpu_ms_per_request", {}).get("gunicorn")
    if cpu_small and cpu_large:
        large.extra["app_cpu_ratio_to_100"] = cpu_large / cpu_small
    scans = results.get("scan_100"), results.get("scan_10000")
    if scans[0] and scans[1] and scans[0].p50_ms:
        large.extra["raw_scan_p50_ratio"] = scans[1].p50_ms / scans[0].p50_ms


def timing_verdict(times: dict[str, list[float]], answers: set[Any]) -> dict[str, Any]:
    """Login timing: the two medians, how far apart, and whether every answer was the same."""
    unknown, wrong, verdict = _medians_apart(times["unknown"], times["wrong"], answers)
    return {
        "attempts_each": len(times["unknown"]),
        "unknown_username_p50_ms": unknown,
        "wrong_password_p50_ms": wrong,
        **verdict,
    }


def reset_timing_verdict(
    times: dict[str, list[float]], answers: set[Any], *, tokens: int
) -> dict[str, Any]:
    """Reset timing: the two medians, how far apart, the same answer, the mails really made.

    `tokens` is how many reset tokens the server stored meanwhile: one per request for a
    known account shows that each of them did its whole work (in the mail worker), so
    that the known account's side was not measured doing less than it does for real.
    """
    known, unknown, verdict = _medians_apart(times["known"], times["unknown"], answers)
    expected = len(times["known"])
    return {
        "attempts_each": expected,
        "known_account_p50_ms": known,
        "unknown_account_p50_ms": unknown,
        **verdict,
        "tokens_issued": tokens,
        "tokens_expected": expected,
        "target": f"{verdict['target']}, a token made for every known account",
        # Fewer tokens: mails were dropped (a full queue), and the comparison proves nothing.
        "met": verdict["met"] and tokens == expected,
    }


def _medians_apart(
    first: list[float], second: list[float], answers: set[Any]
) -> tuple[float, float, dict[str, Any]]:
    """The medians of two kinds of request, and whether they and the answers tell them apart."""
    one, other = percentile(sorted(first), 0.5), percentile(sorted(second), 0.5)
    difference = abs(one - other) / min(one, other) if min(one, other) else 0.0
    return (
        one,
        other,
        {
            "difference": difference,
            "same_status_and_body": len(answers) == 1,
            "target": f"medians within {TIMING_TARGET:.0%}, same status and body",
            "met": difference <= TIMING_TARGET and len(answers) == 1,
        },
    )


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
    for key in scenario_order() + list(CEILING_LABELS):
        if key not in results:
            continue
        r = results[key]
        # A job (an import, an export) is timed as a whole: no latency per request.
        timed = r.p50_ms or r.kind != "job"
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
                f"{r.p50_ms:.1f}" if timed else "-",
                f"{r.p90_ms:.1f}" if timed else "-",
                f"{r.p99_ms:.1f}" if timed else "-",
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


def context(results: dict[str, Result], *, dynamodb: str = "moto_server") -> list[str]:
    """Figures that explain the ratios without being targets."""
    lines = []
    large, bearer = results.get("list_10000"), results.get("me_bearer")
    if large and "raw_scan_p50_ratio" in large.extra:
        lines.append(
            f"raw Scan page p50, {LARGE_TABLE} / {SMALL_TABLE} users: "
            f"{large.extra['raw_scan_p50_ratio']:.2f} ({dynamodb}'s own scaling)"
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
    for ours, peer in PEER_OF.items():
        if ours in results and "ratio_to_peer" in results[ours].extra:
            mine, theirs = results[ours], results[peer]
            lines.append(
                f"ours / peer, {mine.name} / {theirs.name}: "
                f"{mine.extra['ratio_to_peer']:.2f} ({mine.rps:.1f} against {theirs.rps:.1f}/s; "
                f"p50 {mine.p50_ms:.1f} against {theirs.p50_ms:.1f} ms)"
            )
    for key in ("get_item", "batch_get", "get_user", "me_bearer", "peer_me", "list_100"):
        lines += _cpu_line(results, key)
    for key in ("login", "peer_login", "register", "peer_register"):
        lines += _cpu_line(results, key)
    for key in ("raw_import", "import", "raw_scan_all", "export"):
        lines += _cpu_line(results, key, unit="row")
    for key in ("import", "export"):
        if key in results and "wall_seconds" in results[key].extra:
            job = results[key]
            lines.append(
                f"{job.name}: {job.requests} rows in {job.seconds:.1f} s by its own clock, "
                f"{job.extra['wall_seconds']:.1f} s with the process's start"
            )
    return lines


def _cpu_line(results: dict[str, Result], key: str, *, unit: str = "request") -> list[str]:
    if key not in results or "cpu_ms_per_request" not in results[key].extra:
        return []
    costs = results[key].extra["cpu_ms_per_request"]
    # A server the scenario does not call sits idle meanwhile: its column would mislead.
    # Rows are written by an operator's command or raw boto3, which call neither.
    idle = {"gunicorn"} if results[key].kind == "peer" else {PEER_ROLE}
    if unit == "row":
        idle |= {"gunicorn"}
    shown = {role: ms for role, ms in costs.items() if role not in idle}
    return [
        f"CPU ms per {unit}, {results[key].name}: "
        + ", ".join(f"{role} {ms:.2f}" for role, ms in shown.items())
    ]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in APP_PACKAGES:
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


def payload(
    results: dict[str, Result],
    timing: dict[str, Any],
    info: dict[str, Any],
    settings: dict[str, Any],
    reset_timing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What results.json holds: the machine, the settings, every result and the context."""
    return {
        "machine": info,
        "settings": settings,
        "results": [asdict(result) for result in results.values()],
        "login_timing": timing,
        "reset_timing": reset_timing or {},
        "context": context(results),
    }


def write(
    document: dict[str, Any], results: dict[str, Result], folder: Path, *, stem: str = "results"
) -> None:
    """Write `stem`.json and `stem`.png (results.json, results.png) into `folder`."""
    (folder / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n")
    chart(results, document["machine"], folder / f"{stem}.png")


def chart(results: dict[str, Result], info: dict[str, Any], path: Path) -> None:
    """Two panels: throughput per scenario with its ceiling marked, and p99 per scenario."""
    # Imported here: only drawing needs matplotlib (bench/requirements.txt), not the tests.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    # The jobs (import, export) are rows per second without latencies: the table has them.
    keys = [key for key in scenario_order() if key in results and results[key].kind != "job"]
    names = [results[key].name for key in keys]
    rps = [results[key].rps for key in keys]
    p99 = [results[key].p99_ms for key in keys]
    palette = {True: "tab:green", False: "tab:red", None: "tab:gray"}
    peer_colour = "tab:purple"
    # The list-page target is about latency: its colour goes on the latency panel.
    latency_targets = {"list_10000"}

    def colour(key: str, met: bool | None) -> str:
        return peer_colour if results[key].kind == "peer" else palette[met]

    colours = [colour(k, None if k in latency_targets else results[k].met) for k in keys]
    latency_colours = [colour(k, results[k].met if k in latency_targets else None) for k in keys]
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
    handles = left.get_legend_handles_labels()[0]
    peers = any(results[key].kind == "peer" for key in keys)
    if peers:
        handles.append(Patch(color=peer_colour, label="peer: fastapi-users (no target)"))
    left.set_yscale("log")
    left.set_ylabel("requests per second (log scale)")
    left.set_title("Throughput (green: target met, red: missed, gray: no target)")
    left.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    left.legend(handles=handles, fontsize=8, loc="upper right")
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
    beside = " beside fastapi-users (uvicorn, 1 worker)" if peers else ""
    fig.suptitle(
        f"Users API under gunicorn over {info.get('dynamodb', 'moto_server')}{beside}, "
        f"{concurrency} connections - "
        f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date'][:10]}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
