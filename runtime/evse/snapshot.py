"""Build the controller's status snapshot (`GET /status`) from its live objects."""

from __future__ import annotations

from datetime import timedelta

from runtime.evse.controller import Controller
from runtime.evse.sessions import meter_wh
from runtime.evse.status import (
    EvseStatus,
    FaultStatus,
    LimitStatus,
    MeterStatus,
    TransactionStatus,
    WarningStatus,
)


def evse_status(controller: Controller) -> EvseStatus:
    """Everything about the EVSE now, as one immutable snapshot."""
    machine, look, clock = controller.machine, controller.machine.look, controller.clock
    outputs = controller.governor.outputs
    board = controller.board
    return EvseStatus(
        evse_id=controller.sessions.evse_id,
        state=machine.state.value,
        ocpp_status=look.ocpp.value,
        led=controller.indicator.colour(look.led).value,
        cp_state=board.cp_state.value if board is not None else "unknown",
        pwm_duty_permille=outputs.duty_permille,
        offered_current_a=round(outputs.offered_current_a, 2),
        contactor_closed=outputs.contactor_closed,
        operative=machine.inputs.operative,
        updating=controller.indicator.updating,
        limits=_limits(controller),
        temperature_c=board.temperature_c if board is not None else None,
        site_currents_a=board.analog_clamp_currents_a if board is not None else None,
        power_throttling_pct=round(controller.thermal_throttle * 100, 1),
        meter=_meter(controller),
        faults=tuple(_faults(controller)),
        warnings=tuple(_warnings(controller)),
        last_error_code=controller.last_error_code,
        transaction=_transaction(controller),
        power_board=(
            f"{controller.board_info.vendor_id} {controller.board_info.firmware_version}"
            if controller.board_info is not None
            else None
        ),
        uptime_s=round(clock.monotonic() - controller.started_at, 1),
    )


def _limits(controller: Controller) -> LimitStatus:
    electrical = controller.profile.electrical
    external = controller.external_limit
    return LimitStatus(
        charger_a=electrical.current_limit_a,
        cable_a=electrical.cable_limit_a,
        external_a=external.current_a(),
        external_expires_at=external.expires_at,
        thermal_throttle_pct=round(controller.thermal_throttle * 100, 1),
        effective_a=round(controller.effective_limit_a(), 2),
    )


def _meter(controller: Controller) -> MeterStatus | None:
    reading, at = controller.meter, controller.meter_at
    if reading is None or at is None:
        return None
    return MeterStatus(
        energy_kwh=round(reading.energy_import_kwh, 3),
        power_w=round(reading.power_w, 1),
        voltages_v=reading.voltages_v,
        currents_a=reading.currents_a,
        at=at,
    )


def _faults(controller: Controller) -> list[FaultStatus]:
    now_wall, now = controller.clock.now(), controller.clock.monotonic()
    return [
        FaultStatus(
            kind=fault.kind.value,
            ocpp_error_code=fault.spec.ocpp_error_code,
            vendor_error_code=fault.spec.vendor_error_code,
            description=fault.spec.description,
            latch=fault.spec.latch.value,
            since=now_wall - timedelta(seconds=now - fault.since),
            detail=fault.detail,
        )
        for fault in controller.faults.active
    ]


def _warnings(controller: Controller) -> list[WarningStatus]:
    now_wall, now = controller.clock.now(), controller.clock.monotonic()
    return [
        WarningStatus(
            kind=warning.kind.value,
            vendor_error_code=warning.spec.vendor_error_code,
            description=warning.spec.description,
            since=now_wall - timedelta(seconds=now - warning.since),
            detail=warning.detail,
        )
        for warning in controller.warnings.active
    ]


def _transaction(controller: Controller) -> TransactionStatus | None:
    active = controller.sessions.active
    if active is None:
        return None
    now = controller.clock.now()
    current_wh = meter_wh(controller.meter) if controller.meter else active.meter_start_wh
    return TransactionStatus(
        number=active.number,
        transaction_id=active.transaction_id,
        id_tag=active.id_tag,
        started_at=active.started_at,
        meter_start_kwh=active.meter_start_wh / 1000,
        energy_used_kwh=max(0, current_wh - active.meter_start_wh) / 1000,
        duration_s=active.duration_s(now),
    )
