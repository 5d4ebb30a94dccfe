"""The charging state machine: the whole transition table of one EVSE in one place.

Contract: the machine is pure. The controller sets the inputs (`cp`, `cp_fresh`,
`power_available`, `faults`, `operative`) and calls `sync()` every control cycle; card, remote
and timeout events call `authorize()`, `stop()` or `expire_authorization()`. The machine never
touches hardware: entering or leaving a session queues a `StartSession` / `StopSession` effect
the controller executes, and `look` says what the LED, pilot and contactor should show. Any
exception inside a transition drops the machine into FAULTED (the safe state: contactor open,
pilot at -12 V) and is kept in `errors` for the controller to raise as an internal-error fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine

from runtime.evse.iec61851 import CONNECTED_STATES, requests_energy
from runtime.evse.states import STATE_LOOKS, EvseState, StateLook
from runtime.hardware.types import CpState

log = logging.getLogger(__name__)

S = EvseState
SESSION: list[EvseState] = [S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.CHARGING]
PLUGGED: list[EvseState] = [S.CONNECTED, *SESSION, S.FINISHING]
NOT_FAULTED: list[EvseState] = [s for s in EvseState if s is not S.FAULTED]
IDLE_OR_PLUGGED: list[EvseState] = [S.AVAILABLE, S.AUTHORIZED, S.CONNECTED, S.FINISHING]
Row = tuple[str, EvseState | list[EvseState], EvseState, str | None]

# The whole table. The first row whose source matches and whose condition holds wins; a
# trigger with no matching row is ignored (the inputs are level-triggered every cycle).
# Reads like the manual: plug first (yellow) then card (light blue), or card first (yellow)
# then plug (light blue); the car asks (blue); the same card or unplugging ends it.
# fmt: off
TABLE: tuple[Row, ...] = (
    # trigger                 source              destination         only if
    # power-up: the first good poll of the power board
    ("booted",                S.BOOTING,          S.CONNECTED,        "vehicle_present"),
    ("booted",                S.BOOTING,          S.AVAILABLE,        None),
    # faults win over everything; when they clear, a session never resumes
    ("fault_present",         NOT_FAULTED,        S.FAULTED,          None),
    ("faults_gone",           S.FAULTED,          S.CONNECTED,        "vehicle_present"),
    ("faults_gone",           S.FAULTED,          S.AVAILABLE,        None),
    # availability (OCPP ChangeAvailability); a session runs to its end first
    ("made_inoperative",      IDLE_OR_PLUGGED,    S.UNAVAILABLE,      None),
    ("made_operative",        S.UNAVAILABLE,      S.CONNECTED,        "vehicle_present"),
    ("made_operative",        S.UNAVAILABLE,      S.AVAILABLE,        None),
    # the cable
    ("vehicle_connected",     S.AVAILABLE,        S.CONNECTED,        None),
    ("vehicle_connected",     S.AUTHORIZED,       S.SUSPENDED_EV,     "power_available"),
    ("vehicle_connected",     S.AUTHORIZED,       S.SUSPENDED_EVSE,   None),
    ("vehicle_absent",        PLUGGED,            S.AVAILABLE,        None),
    # authorization: a card, the plug & charge default tag, or a remote start
    ("authorized",            S.AVAILABLE,        S.AUTHORIZED,       None),
    ("authorized",            S.CONNECTED,        S.SUSPENDED_EV,     "power_available"),
    ("authorized",            S.CONNECTED,        S.SUSPENDED_EVSE,   None),
    ("authorization_expired", S.AUTHORIZED,       S.AVAILABLE,        None),
    # the car asks for energy, pauses, or is full
    ("vehicle_ready",         S.SUSPENDED_EV,     S.CHARGING,         "power_available"),
    ("vehicle_paused",        S.CHARGING,         S.SUSPENDED_EV,     None),
    # power from load balancing, the CSMS or thermal derating
    ("power_withdrawn",       [S.SUSPENDED_EV, S.CHARGING], S.SUSPENDED_EVSE, None),
    ("power_restored",        S.SUSPENDED_EVSE,   S.CHARGING,         "vehicle_requesting"),
    ("power_restored",        S.SUSPENDED_EVSE,   S.SUSPENDED_EV,     None),
    # ending: the same card, a remote stop, overcurrent, deauthorization
    ("stop_requested",        SESSION,            S.FINISHING,        None),
    ("stop_requested",        S.AUTHORIZED,       S.AVAILABLE,        None),
)
# fmt: on


def _transition(row: Row) -> dict[str, Any]:
    trigger, source, dest, condition = row
    transition: dict[str, Any] = {"trigger": trigger, "source": source, "dest": dest}
    if condition is not None:
        transition["conditions"] = condition
    if trigger == "vehicle_absent":
        transition["after"] = "_end_by_unplug"
    return transition


TRANSITIONS = [_transition(row) for row in TABLE]
# Which triggers each state answers to: the level-triggered inputs fire only these, so an
# input that means nothing in a state is skipped instead of logged as invalid.
TRIGGERS_OF: dict[EvseState, frozenset[str]] = {
    state: frozenset(
        trigger
        for trigger, source, _, _ in TABLE
        if state is source or (isinstance(source, list) and state in source)
    )
    for state in EvseState
}


@dataclass(frozen=True)
class StartSession:
    """Open a transaction for `id_tag` (before the pilot offers any current)."""

    id_tag: str


@dataclass(frozen=True)
class StopSession:
    """Close the open transaction once the contactor is open."""

    reason: str


Effect = StartSession | StopSession


@dataclass
class Inputs:
    """What the controller measured this cycle."""

    cp: CpState = CpState.A
    # False while the pilot is held at -12 V (or the board did not answer): the board cannot
    # see the car then, so `cp` is the last reading from before and nothing may act on it.
    cp_fresh: bool = True
    power_available: bool = True
    faults: frozenset[str] = frozenset()
    operative: bool = True


@dataclass
class SessionMachine:
    """One EVSE's state plus its session bookkeeping, driven by a transitions Machine."""

    ventilation_available: bool = False  # the profile's electrical.ventilation_available
    inputs: Inputs = field(default_factory=Inputs)
    id_tag: str | None = None
    effects: list[Effect] = field(default_factory=list)
    state: EvseState = S.BOOTING
    # Called inside every transition with (source, destination): diagnostics and tests.
    listeners: list[Callable[[EvseState, EvseState], None]] = field(default_factory=list)
    # Exceptions inside transitions since the controller last looked ("summary (in trigger)").
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop_reason = "Local"
        self._machine = Machine(
            model=self,
            states=EvseState,
            transitions=TRANSITIONS,
            initial=S.BOOTING,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=True,
            after_state_change="_track_session",
            on_exception="_fail_safe",
            model_attribute="state",
        )

    @property
    def look(self) -> StateLook:
        """LED, OCPP status, pilot and contactor of the current state."""
        return STATE_LOOKS[self.state]

    @property
    def in_session(self) -> bool:
        """True while a transaction is open."""
        return self.look.in_session

    def sync(self) -> None:
        """Apply this cycle's inputs: faults first, then cable, car, power and availability.

        Without a fresh CP reading only a fault acts: leaving FAULTED waits until the pilot is
        back at +12 V and the car has been looked at again.
        """
        fire = self._fire
        if self.inputs.faults:
            fire("fault_present")
        if not self.inputs.cp_fresh:
            return
        if not self.inputs.faults:
            fire("faults_gone")
        fire("vehicle_connected" if self.vehicle_present() else "vehicle_absent")
        fire("vehicle_ready" if self.vehicle_requesting() else "vehicle_paused")
        fire("power_restored" if self.power_available() else "power_withdrawn")
        fire("made_operative" if self.inputs.operative else "made_inoperative")

    def _fire(self, trigger: str) -> bool:
        if trigger not in TRIGGERS_OF[self.state]:
            return False
        return bool(self.trigger(trigger))  # type: ignore[attr-defined]

    def start(self) -> None:
        """Leave BOOTING once the power board has answered."""
        self._fire("booted")

    def authorize(self, id_tag: str) -> bool:
        """An accepted card or tag; returns whether it started (or armed) a session."""
        if self.state not in (S.AVAILABLE, S.CONNECTED):
            return False
        self.id_tag = id_tag
        return self._fire("authorized")

    def stop(self, reason: str) -> bool:
        """End the session (or cancel a waiting authorization); returns whether anything ended."""
        self._stop_reason = reason
        return self._fire("stop_requested")

    def expire_authorization(self) -> None:
        """No cable arrived in time after a card."""
        self._fire("authorization_expired")

    def take_errors(self) -> list[str]:
        """Hand the summaries of the exceptions inside transitions to the controller."""
        errors, self.errors = self.errors, []
        return errors

    def take_effects(self) -> list[Effect]:
        """Hand the queued effects to the controller, in order."""
        effects, self.effects = self.effects, []
        return effects

    # conditions
    def vehicle_present(self, _event: EventData | None = None) -> bool:
        return self.inputs.cp in CONNECTED_STATES

    def vehicle_requesting(self, _event: EventData | None = None) -> bool:
        return requests_energy(self.inputs.cp, ventilation_available=self.ventilation_available)

    def power_available(self, _event: EventData | None = None) -> bool:
        return self.inputs.power_available

    # callbacks
    def _end_by_unplug(self, _event: EventData) -> None:
        self._stop_reason = "EVDisconnected"

    def _track_session(self, event: EventData) -> None:
        source = event.transition.source if event.transition else None
        was = source is not None and STATE_LOOKS[EvseState[source]].in_session
        now = self.in_session
        if not was and now and self.id_tag is not None:
            self.effects.append(StartSession(self.id_tag))
        elif was and not now:
            reason = "EmergencyStop" if self.state is S.FAULTED else self._stop_reason
            self.effects.append(StopSession(reason))
        if not now and self.state is not S.AUTHORIZED:
            self.id_tag = None
        self._stop_reason = "Local"
        if source is not None:
            for listener in self.listeners:
                listener(EvseState[source], self.state)

    def _fail_safe(self, event: EventData) -> None:
        log.error("state machine error in %s: %s; going to FAULTED", event.event.name, event.error)
        error = event.error
        self.errors.append(f"{type(error).__name__}: {error} (in {event.event.name})")
        was_in_session = self.in_session
        self.state = S.FAULTED
        if was_in_session:
            self.effects.append(StopSession("EmergencyStop"))
        self.id_tag = None
