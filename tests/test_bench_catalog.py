"""bench.catalog: every scenario has its label, status and ceilings; the report's order."""

from __future__ import annotations

from bench.catalog import (
    CEILING_LABELS,
    CEILINGS_OF,
    LABELS,
    PEER_OF,
    PEER_SCENARIOS,
    SCENARIOS,
    STATUS,
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
    ]


def test_catalog_gives_every_scenario_a_label_a_status_and_known_ceilings():
    keys = [key for key, _, _ in SCENARIOS + PEER_SCENARIOS]

    assert set(LABELS) == set(STATUS) == set(CEILINGS_OF) == set(keys)
    assert len(set(LABELS.values())) == len(keys)
    assert {c for ceilings in CEILINGS_OF.values() for c in ceilings} <= set(CEILING_LABELS)
    assert set(PEER_OF.values()) == {key for key, _, _ in PEER_SCENARIOS}
    assert all(CEILINGS_OF[peer] == CEILINGS_OF[ours] for ours, peer in PEER_OF.items())
    assert all(LABELS[key].startswith("peer: ") for key, _, _ in PEER_SCENARIOS)
