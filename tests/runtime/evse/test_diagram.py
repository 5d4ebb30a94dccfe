"""The committed state machine diagram is generated from the table, never drawn by hand."""

from __future__ import annotations

from pathlib import Path

from runtime.evse.diagram import diagram_document
from runtime.evse.machine import TABLE
from runtime.evse.states import EvseState

REPO = Path(__file__).resolve().parents[3]


def test_committed_diagram_matches_the_transition_table() -> None:
    committed = (REPO / "docs" / "evse-state-machine.md").read_text(encoding="utf-8")
    assert committed == diagram_document(), "run `python build.py diagram` and commit the result"


def test_every_state_is_reachable_in_the_table() -> None:
    destinations = {dest for _, _, dest, _ in TABLE}
    assert destinations | {EvseState.BOOTING} == set(EvseState)
