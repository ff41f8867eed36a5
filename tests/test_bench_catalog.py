"""bench.catalog: every scenario has its label, status and ceilings; the report's order."""

from __future__ import annotations

from bench.catalog import (
    CEILING_LABELS,
    CEILINGS_OF,
    IMPORT_ROWS,
    IMPORT_THREADS,
    JOBS,
    LABELS,
    PEER_OF,
    PEER_SCENARIOS,
    SCENARIOS,
    STATUS,
    TIMINGS,
    scenario_order,
)


def test_scenario_order_puts_each_peer_scenario_after_ours():
    assert scenario_order() == [
        "get_user",
        "me_bearer",
        "peer_me",
        "list_100",
        "list_10000",
        "login",
        "peer_login",
        "register",
        "peer_register",
        "import",
        "export",
    ]


def test_catalog_gives_every_scenario_a_label_a_status_and_known_ceilings():
    keys = [key for key, _, _ in SCENARIOS + PEER_SCENARIOS]
    jobs = [key for key, _ in JOBS]

    assert set(STATUS) == set(keys)
    assert set(LABELS) == set(CEILINGS_OF) == set(keys + jobs)
    assert len(set(LABELS.values())) == len(keys + jobs)
    assert {c for ceilings in CEILINGS_OF.values() for c in ceilings} <= set(CEILING_LABELS)
    assert set(PEER_OF.values()) == {key for key, _, _ in PEER_SCENARIOS}
    assert all(CEILINGS_OF[peer] == CEILINGS_OF[ours] for ours, peer in PEER_OF.items())
    assert all(LABELS[key].startswith("peer: ") for key, _, _ in PEER_SCENARIOS)


def test_import_rows_and_threads_name_each_engine_and_both_jobs_have_a_raw_ceiling():
    assert set(IMPORT_ROWS) == set(IMPORT_THREADS) == {"moto", "local"}
    assert IMPORT_ROWS["local"] == 10_000
    assert IMPORT_THREADS["moto"] == 1  # moto_server fails concurrent transactions
    assert [CEILINGS_OF[key] for key, _ in JOBS] == [("raw_import",), ("raw_scan_all",)]


def test_timings_are_named_apart_from_scenarios_and_ceilings():
    # --only takes all three kinds of key in one list: none may stand for two things.
    assert set(TIMINGS) == {"reset_timing"}
    assert not set(TIMINGS) & (set(LABELS) | set(CEILING_LABELS))
