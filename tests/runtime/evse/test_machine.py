"""The state machine alone, step by step as the manual tells it (sections 5.1-5.4)."""

from __future__ import annotations

import pytest

from runtime.evse.machine import SessionMachine, StartSession, StopSession
from runtime.evse.states import STATE_LOOKS, ConnectorStatus, EvseState, LedColour
from runtime.hardware.types import CpState

S = EvseState


def booted(cp: CpState = CpState.A) -> SessionMachine:
    machine = SessionMachine()
    machine.inputs.cp = cp
    machine.start()
    return machine


def cable(machine: SessionMachine, cp: CpState) -> None:
    machine.inputs.cp = cp
    machine.sync()


def test_power_up_shows_white_then_green() -> None:
    machine = SessionMachine()
    assert machine.look.led is LedColour.WHITE
    machine.start()
    assert machine.state is S.AVAILABLE and machine.look.led is LedColour.GREEN


def test_power_up_with_a_car_plugged_in_shows_yellow() -> None:
    assert booted(CpState.B).look.led is LedColour.YELLOW


def test_plug_then_card_turns_yellow_then_light_blue_then_blue() -> None:
    machine = booted()
    cable(machine, CpState.B)
    assert machine.look.led is LedColour.YELLOW
    assert machine.look.ocpp is ConnectorStatus.PREPARING
    assert machine.authorize("FB433810")
    assert machine.look.led is LedColour.LIGHT_BLUE
    assert machine.take_effects() == [StartSession("FB433810")]
    cable(machine, CpState.C)
    assert machine.state is S.CHARGING and machine.look.led is LedColour.BLUE


def test_card_then_plug_turns_yellow_then_light_blue() -> None:
    machine = booted()
    machine.authorize("FB433810")
    assert machine.state is S.AUTHORIZED and machine.look.led is LedColour.YELLOW
    assert machine.take_effects() == []
    cable(machine, CpState.B)
    assert machine.look.led is LedColour.LIGHT_BLUE
    assert machine.take_effects() == [StartSession("FB433810")]


def test_card_without_cable_expires() -> None:
    machine = booted()
    machine.authorize("FB433810")
    machine.expire_authorization()
    assert machine.state is S.AVAILABLE and machine.id_tag is None


def test_same_card_stops_with_light_blue_and_unplug_turns_green() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    cable(machine, CpState.C)
    machine.take_effects()
    assert machine.stop("Local")
    assert machine.look.led is LedColour.LIGHT_BLUE
    assert machine.look.ocpp is ConnectorStatus.FINISHING
    assert machine.take_effects() == [StopSession("Local")]
    cable(machine, CpState.A)
    assert machine.look.led is LedColour.GREEN and machine.take_effects() == []


def test_car_full_turns_light_blue_and_suspended_ev() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    cable(machine, CpState.C)
    cable(machine, CpState.B)
    assert machine.state is S.SUSPENDED_EV
    assert machine.look.led is LedColour.LIGHT_BLUE
    assert machine.look.ocpp is ConnectorStatus.SUSPENDED_EV


def test_no_power_available_turns_light_blue_and_suspended_evse() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    cable(machine, CpState.C)
    machine.inputs.power_available = False
    machine.sync()
    assert machine.state is S.SUSPENDED_EVSE and machine.look.led is LedColour.LIGHT_BLUE
    machine.inputs.power_available = True
    machine.sync()
    assert machine.state is S.CHARGING


def test_unplugging_during_charging_ends_the_session_as_ev_disconnected() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    cable(machine, CpState.C)
    machine.take_effects()
    cable(machine, CpState.A)
    assert machine.state is S.AVAILABLE
    assert machine.take_effects() == [StopSession("EVDisconnected")]


def test_plug_and_charge_starts_on_the_default_tag() -> None:
    machine = booted()
    cable(machine, CpState.B)
    assert machine.authorize("default")
    assert machine.take_effects() == [StartSession("default")]


@pytest.mark.parametrize("state_cp", [CpState.A, CpState.B, CpState.C])
def test_any_fault_turns_steady_red_and_ends_the_session(state_cp: CpState) -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    cable(machine, state_cp)
    machine.take_effects()
    machine.inputs.faults = frozenset({"rcm"})
    machine.sync()
    assert machine.state is S.FAULTED and machine.look.led is LedColour.RED
    assert machine.look.contactor is False
    effects = machine.take_effects()
    assert effects in ([StopSession("EmergencyStop")], [])


def test_fault_cleared_with_car_connected_needs_a_new_authorization() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.inputs.faults = frozenset({"pilot"})
    machine.sync()
    machine.inputs.faults = frozenset()
    machine.sync()
    assert machine.state is S.CONNECTED


def test_a_cleared_fault_waits_for_a_fresh_look_at_the_cable() -> None:
    machine = booted()
    cable(machine, CpState.C)
    machine.inputs.faults = frozenset({"over_temperature"})
    machine.sync()
    machine.inputs.cp_fresh = False  # the pilot is at -12 V: the car cannot be seen
    machine.inputs.faults = frozenset()
    machine.sync()
    assert machine.state is S.FAULTED
    machine.inputs.cp_fresh = True
    cable(machine, CpState.A)  # the car left while the pilot was at -12 V
    assert machine.state is S.AVAILABLE


def test_a_car_asking_in_d_is_ready_only_where_ventilation_is_provided() -> None:
    for ventilated, charging in ((False, S.SUSPENDED_EV), (True, S.CHARGING)):
        machine = SessionMachine(ventilation_available=ventilated)
        machine.start()
        cable(machine, CpState.B)
        machine.authorize("FB433810")
        cable(machine, CpState.D)
        assert machine.state is charging


def test_unavailable_waits_for_the_session_to_end() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    machine.inputs.operative = False
    machine.sync()
    assert machine.in_session
    cable(machine, CpState.A)
    assert machine.state is S.UNAVAILABLE
    machine.inputs.operative = True
    machine.sync()
    assert machine.state is S.AVAILABLE


def test_a_different_card_cannot_authorize_during_a_session() -> None:
    machine = booted()
    cable(machine, CpState.B)
    machine.authorize("FB433810")
    assert not machine.authorize("DEADBEEF")
    assert machine.id_tag == "FB433810"


def test_an_exception_in_a_transition_goes_to_the_safe_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    machine = booted()
    cable(machine, CpState.B)

    def broken(_event: object = None) -> None:
        raise RuntimeError("bookkeeping bug")

    monkeypatch.setattr(machine, "_track_session", broken)
    machine.authorize("FB433810")
    assert machine.state is S.FAULTED and machine.look.contactor is False
    assert machine.look.led is LedColour.RED


def test_every_state_has_a_look_and_only_charging_closes_the_contactor() -> None:
    assert set(STATE_LOOKS) == set(EvseState)
    assert [s for s, look in STATE_LOOKS.items() if look.contactor] == [S.CHARGING]
