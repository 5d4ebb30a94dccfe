"""Draw the state machine from its table, never by hand: a Mermaid state diagram.

`python build.py diagram` writes docs/evse-state-machine.md; a test fails when the committed
diagram no longer matches the table.
"""

from __future__ import annotations

from runtime.evse.machine import TABLE
from runtime.evse.states import STATE_LOOKS, EvseState


def mermaid_state_diagram() -> str:
    """The machine as a Mermaid `stateDiagram-v2`, each state noted with its LED and OCPP status."""
    lines = ["stateDiagram-v2", f"    [*] --> {EvseState.BOOTING.name}"]
    for trigger, sources, dest, condition in TABLE:
        label = trigger if condition is None else f"{trigger} [{condition}]"
        for source in sources if isinstance(sources, list) else [sources]:
            lines.append(f"    {source.name} --> {dest.name}: {label}")
    for state, look in STATE_LOOKS.items():
        lines.append(f"    {state.name}: {state.name}<br/>LED {look.led}<br/>{look.ocpp}")
    return "\n".join(lines) + "\n"


def diagram_document() -> str:
    """The Markdown page that carries the diagram."""
    return (
        "# The `evse` state machine\n\n"
        "Generated from `runtime/evse/machine.py` (`TABLE`) and `runtime/evse/states.py`"
        " by `python build.py diagram`; do not edit by hand.\n\n"
        "```mermaid\n" + mermaid_state_diagram() + "```\n"
    )
