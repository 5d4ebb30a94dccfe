"""The charging controller: reads the devices, drives the state machine, applies its wishes.

One control step (every POLL_PERIOD_S): poll the power board, update faults and inputs, let
the machine settle, execute its effects (open/close transactions), command the pilot and
contactor, and only then, as its last act, feed the board's watchdog: a step that hangs or dies
lets the board open the contactor on its own. Meter, card reader, accelerometer and LED run
their own slower loops.
All mutation happens under one asyncio lock, so a card or a remote command never interleaves
with a step. The controller keeps charging safely with every other service down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from runtime.evse.authorization import Authorizer
from runtime.evse.board_checks import BoardChecks
from runtime.evse.clock import Clock
from runtime.evse.device_watch import DeviceWatch, WarningKind, WarningTracker, announce_warnings
from runtime.evse.events import EventHub
from runtime.evse.faults import PILOT_WATCHED, ActiveFault, FaultKind, FaultTracker
from runtime.evse.governor import OutputGovernor, Outputs
from runtime.evse.iec61851 import CONNECTED_STATES, MIN_CURRENT_A, PILOT_FAULT_PERMILLE
from runtime.evse.indicator import Indicator
from runtime.evse.latches import LatchKeeper
from runtime.evse.led_output import LED_MISSING_AFTER, LedOutput
from runtime.evse.limits import ExternalLimit
from runtime.evse.liveness import BoardLiveness, InternalErrorHold
from runtime.evse.machine import SessionMachine, StartSession, StopSession
from runtime.evse.monitors import OvercurrentMonitor, TiltBumpMonitor
from runtime.evse.sessions import SessionKeeper
from runtime.evse.states import EvseState, LedColour, Pilot
from runtime.evse.storage_guard import StorageGuard
from runtime.hardware.errors import DeviceError
from runtime.hardware.protocols import (
    Accelerometer,
    Buzzer,
    EnergyMeter,
    Led,
    PowerBoard,
    RfidReader,
)
from runtime.hardware.types import CpState, MeterReading, PowerBoardInfo, PowerBoardStatus
from runtime.persistence.latches import LatchStore
from schemas import Profile

log = logging.getLogger(__name__)

POLL_PERIOD_S = 0.05  # half of IEC 61851-1's 100 ms contactor-off budget after C -> B
METER_PERIOD_S = 1.0
CARD_PERIOD_S = 0.1  # a card held up is seen within 100 ms (PN532 InListPassiveTarget ~ 20 ms)
TILT_PERIOD_S = 0.1
BOARD_SILENT_AFTER = 3  # failed polls in a row (150 ms) before "power board not answering"
METER_SILENT_AFTER = 3
METER_RETRY_WHEN_SILENT_S = 5.0  # a silent meter costs a bus timeout per try on a shared bus
READER_SILENT_AFTER = 5
BEEP_S = 0.08
ACCELEROMETER_MISSING_AFTER = 3  # 300 ms of failed samples: one I2C glitch is not a lost sensor


@dataclass(frozen=True)
class Devices:
    """The EVSE's devices, behind their Protocols."""

    power_board: PowerBoard
    meter: EnergyMeter
    rfid: RfidReader | None
    led: Led
    buzzer: Buzzer
    accelerometer: Accelerometer | None


class Controller:
    """One EVSE's charging controller."""

    def __init__(
        self,
        profile: Profile,
        devices: Devices,
        sessions: SessionKeeper,
        authorizer: Authorizer,
        clock: Clock,
        events: EventHub | None = None,
        latches: LatchStore | None = None,
    ) -> None:
        self.profile = profile
        self.devices = devices
        self.sessions = sessions
        self.authorizer = authorizer
        self.clock = clock
        self.events = events or EventHub()
        ventilation = profile.electrical.ventilation_available
        self.machine = SessionMachine(ventilation_available=ventilation)
        self.faults = FaultTracker(clock.monotonic, self._fault_changed)
        self.warnings = WarningTracker(clock.monotonic, announce_warnings(self.events))
        self.accelerometer_watch = DeviceWatch(
            ACCELEROMETER_MISSING_AFTER,
            lambda missing, detail: self.faults.report(FaultKind.ACCELEROMETER, missing, detail),
        )
        self.led_watch = DeviceWatch(
            LED_MISSING_AFTER,
            lambda missing, detail: self.warnings.report(WarningKind.LED, missing, detail),
        )
        self.led = LedOutput(devices.led, self.led_watch, clock.monotonic)
        self.governor = OutputGovernor(clock.monotonic, ventilation_available=ventilation)
        self.checks = BoardChecks(
            self.faults,
            profile.safety.temperature,
            clock.monotonic,
            ventilation_available=ventilation,
        )
        self.indicator = Indicator(clock.monotonic)
        self.overcurrent = OvercurrentMonitor(profile.safety.overcurrent, clock.monotonic)
        self.tilt = TiltBumpMonitor(profile.safety.tilt_bump)
        self.latches = LatchKeeper(latches, clock.now)
        self.external_limit = ExternalLimit(clock)
        self.lock = asyncio.Lock()
        self.reload_requested = False  # restart with the new profile once idle
        self.board_info: PowerBoardInfo | None = None
        self.board: PowerBoardStatus | None = None
        self.meter: MeterReading | None = None
        self.meter_at: datetime | None = None
        self.thermal_throttle = 1.0
        self.last_error_code = "NoError"
        self.started_at = clock.monotonic()
        self.shutdown_reason = "Reboot"  # OCPP 1.6 Reason when the service stops (SIGTERM)
        self.liveness = BoardLiveness(devices.power_board, self.faults, clock.monotonic)
        self._internal_errors = InternalErrorHold(clock.monotonic)
        self._silent = {"board": 0, "meter": 0, "reader": 0}
        self._applied: Outputs | None = None
        self._card_in_field: str | None = None
        self._authorized_at: float | None = None
        self._urgent_stop = False
        self._previous_state = self.machine.state
        self._meter_tried_at = float("-inf")
        self._background: set[asyncio.Task[None]] = set()
        for fault in self.latches.restore(self.faults, self.tilt):
            self.last_error_code = fault.spec.ocpp_error_code
        self.storage = StorageGuard(
            self.machine, self.faults, sessions, self.indicator, clock.monotonic
        )

    # ----- limits -----------------------------------------------------------------------
    def effective_limit_a(self) -> float:
        """The current the charger may offer now: charger, cable, CSMS/balancing, thermal."""
        electrical = self.profile.electrical
        limit = float(electrical.effective_limit_a)
        external = self.external_limit.current_a()
        if external is not None:
            limit = min(limit, external)
        limit *= self.thermal_throttle
        return limit if limit >= MIN_CURRENT_A else 0.0

    # ----- the control step ---------------------------------------------------------------
    async def control_step(self) -> None:
        """Poll, settle the machine, run effects, command pilot and contactor, feed the watchdog."""
        answered = await self._poll_board()
        async with self.lock:
            status = self.liveness.judge(answered)
            if status is not None:
                self.board = status
                applied_duty = self._applied.duty_permille if self._applied else None
                if self.liveness.dropped_outputs(status, applied_duty):
                    self._applied = None  # send everything again
                # -12 V is ours, or left on the board by an evse killed while it held it
                forced_low = 0 in (self.governor.outputs.duty_permille, status.pwm_duty_permille)
                self.thermal_throttle = self.checks.judge(
                    status,
                    pilot_forced_low=forced_low,
                    commanded=self._applied.contactor_closed if self._applied else False,
                )
                await self._retry_latched_diode_fault(status)
            self._settle(status)
            await self._run_effects()
            self._internal_errors.judge(self.machine.take_errors(), self.faults)
            await self._act_on_faults_raised_by_effects()
            applied = await self._apply_outputs(status, reachable=answered is not None)
            self._announce_state()
            if applied:
                await self.liveness.prove_alive()

    async def _poll_board(self) -> PowerBoardStatus | None:
        try:
            status = await self.devices.power_board.read_status()
        except DeviceError as error:
            self._silent["board"] += 1
            if self._silent["board"] >= BOARD_SILENT_AFTER:
                self.faults.report(FaultKind.POWER_BOARD, True, str(error))
            return None
        self._silent["board"] = 0
        self.faults.report(FaultKind.POWER_BOARD, False)
        return status

    async def _retry_latched_diode_fault(self, status: PowerBoardStatus) -> None:
        """The board latches a diode fault; once the car is unplugged, clear it and try again."""
        if status.diode_fault and status.cp_state is CpState.A:
            try:
                await self.devices.power_board.clear_faults()
            except DeviceError as error:
                log.warning("power board did not clear the diode fault: %s", error)

    def _settle(self, status: PowerBoardStatus | None) -> None:
        machine = self.machine
        # The board reports the duty it generated when it measured the pilot: at -12 V the car
        # is hidden, so the reading stays stale until the pilot is back at +12 V.
        fresh = status is not None and status.pwm_duty_permille != PILOT_FAULT_PERMILLE
        if status is not None and fresh:
            machine.inputs.cp = _plugged_cp(status.cp_state)
        machine.inputs.cp_fresh = fresh
        if machine.state is EvseState.BOOTING:
            if not fresh:
                return  # BOOTING puts the pilot at +12 V: the next poll sees the car
            machine.start()
        machine.inputs.faults = self.faults.kinds
        machine.inputs.power_available = self.effective_limit_a() >= MIN_CURRENT_A
        machine.sync()
        self.storage.resume_pending_start()
        self._plug_and_charge()
        self._expire_authorization()

    def _plug_and_charge(self) -> None:
        settings = self.profile.authorization
        if (
            self.machine.state is EvseState.CONNECTED
            and settings.default_id_tag_mode == "default_id_tag"
        ):
            self.machine.authorize(settings.default_id_tag)
            self.machine.sync()

    def _expire_authorization(self) -> None:
        if self.machine.state is not EvseState.AUTHORIZED:
            self._authorized_at = None
            return
        now = self.clock.monotonic()
        if self._authorized_at is None:
            self._authorized_at = now
        elif now - self._authorized_at >= self.profile.authorization.connection_timeout_s:
            self.machine.expire_authorization()

    async def _run_effects(self) -> None:
        for effect in self.machine.take_effects():
            if isinstance(effect, StartSession):
                self.overcurrent.reset()
                outcome = await self.sessions.start(effect.id_tag, await self.fresh_meter())
                self.storage.started(outcome, effect.id_tag)
            elif isinstance(effect, StopSession):
                self.sessions.request_stop(effect.reason)
        if self.sessions.stopping and not self.governor.outputs.contactor_closed:
            contactor_open = self.board is None or not self.board.contactor_closed
            board_blind = {FaultKind.POWER_BOARD, FaultKind.BOARD_HUNG} & self.faults.kinds
            if contactor_open or board_blind:
                await self.sessions.finish(await self.fresh_meter())
                self._urgent_stop = False
        self.storage.guard(self.governor.outputs.contactor_closed)

    async def _act_on_faults_raised_by_effects(self) -> None:
        """A fault the effects found (a meter lost by a session's start read) acts in this step:
        the outputs below must never close the contactor on a state the fault has ended."""
        raised = self.faults.kinds - self.machine.inputs.faults
        self.machine.inputs.faults = self.faults.kinds
        if raised:
            self.machine.sync()
            await self._run_effects()

    async def _apply_outputs(self, status: PowerBoardStatus | None, *, reachable: bool) -> bool:
        """Command pilot and contactor; True once the board took everything this step wants."""
        look = self.machine.look
        # Only faults the car shows, or none left: +12 V, so the car is seen before FAULTED ends.
        if look.pilot is Pilot.FAULT and self.faults.kinds <= PILOT_WATCHED:
            look = dataclasses.replace(look, pilot=Pilot.OFF)
        if self.faults.kinds and look.contactor:  # the last word before the board: no energy
            look = dataclasses.replace(look, contactor=False)
        cp = status.cp_state if status is not None else CpState.A
        urgent = self._urgent_stop or bool(self.faults.kinds)
        outputs = self.governor.decide(look, cp, self.effective_limit_a(), urgent)
        self.overcurrent.offered(outputs.offered_current_a)
        if not reachable:
            return False  # nothing reaches a silent board; its own watchdog opens the contactor
        board = self.devices.power_board
        try:
            if self._applied is None or outputs.duty_permille != self._applied.duty_permille:
                await board.set_pwm(outputs.duty_permille)
            if self._applied is None or outputs.contactor_closed != self._applied.contactor_closed:
                await board.set_contactor(outputs.contactor_closed)
        except DeviceError as error:
            log.warning("power board command failed: %s", error)
            self._applied = None  # resend everything next step
            return False
        self._applied = outputs
        return True

    def _announce_state(self) -> None:
        state = self.machine.state
        if state is not self._previous_state:
            log.info("state %s -> %s", self._previous_state.value, state.value)
            self.events.publish("state", {"from": self._previous_state.value, "to": state.value})
            self._previous_state = state

    # ----- the slower loops ------------------------------------------------------------
    async def storage_step(self) -> None:
        """While storage fails: retry with backoff (queued billing data first), then clear."""
        if await self.storage.retry():
            async with self.lock:
                self.faults.report(FaultKind.STORAGE, False)

    async def meter_step(self) -> None:
        """Read the MID meter; watch for overcurrent; record samples during a session."""
        if FaultKind.METER in self.faults.kinds:
            now = self.clock.monotonic()
            if now - self._meter_tried_at < METER_RETRY_WHEN_SILENT_S:
                return
            self._meter_tried_at = now
        reading = await self._read_meter()
        if reading is None:
            return
        if self.machine.state is EvseState.CHARGING and self.overcurrent.exceeded(
            reading.currents_a
        ):
            async with self.lock:
                self.last_error_code = "OverCurrentFailure"
                self._urgent_stop = True
                self.indicator.blink(LedColour.RED)
                self.events.publish("overcurrent", {"currents_a": list(reading.currents_a)})
                self.machine.stop("Other")
        await self.sessions.sample(reading)

    async def _read_meter(self) -> MeterReading | None:
        try:
            reading = await self.devices.meter.read()
        except DeviceError as error:
            self._silent["meter"] += 1
            if self._silent["meter"] >= METER_SILENT_AFTER:
                self.faults.report(FaultKind.METER, True, str(error))
            return None
        self._silent["meter"] = 0
        self.faults.report(FaultKind.METER, False)
        self.meter, self.meter_at = reading, self.clock.now()
        return reading

    async def fresh_meter(self) -> MeterReading | None:
        """A new meter reading, or the last good one when the meter does not answer."""
        if FaultKind.METER in self.faults.kinds:
            return self.meter
        reading = await self._read_meter()
        return reading if reading is not None else self.meter

    async def card_step(self) -> None:
        """Poll the RFID reader; a card entering the field counts once."""
        reader = self.devices.rfid
        if reader is None or not self.profile.authorization.rfid_enabled:
            return
        try:
            uid = await reader.poll_card()
        except DeviceError as error:
            self._silent["reader"] += 1
            if self._silent["reader"] >= READER_SILENT_AFTER:
                self.faults.report(FaultKind.RFID_READER, True, str(error))
            return
        self._silent["reader"] = 0
        self.faults.report(FaultKind.RFID_READER, False)
        if uid is not None and uid != self._card_in_field:
            await self.present_card(uid)
        self._card_in_field = uid

    async def present_card(self, uid: str) -> None:
        """A card was presented: beep, then start, stop or refuse (manual 5.2)."""
        if self.profile.authorization.sound_enabled:
            beep = asyncio.create_task(self._beep())  # the beep lasts; the decision does not wait
            self._background.add(beep)
            beep.add_done_callback(self._background.discard)
        self.events.publish("card", {"uid": uid})
        machine = self.machine
        session_tag = self.sessions.id_tag if machine.in_session else machine.id_tag
        if machine.in_session or machine.state is EvseState.AUTHORIZED:
            async with self.lock:
                if uid == session_tag:
                    machine.stop("Local")
                else:
                    self.indicator.blink(LedColour.RED)
            return
        if machine.state not in (EvseState.AVAILABLE, EvseState.CONNECTED):
            self.indicator.blink(LedColour.RED)
            return
        decision = await self.authorizer.authorize(uid)
        self.events.publish(
            "authorization", {"uid": uid, "accepted": decision.accepted, "source": decision.source}
        )
        async with self.lock:
            if decision.accepted and machine.authorize(uid):
                self.indicator.blink(LedColour.LIGHT_BLUE)
            else:
                self.indicator.blink(LedColour.RED)
        await self.led_step()  # show the verdict now, not at the next LED refresh

    async def _beep(self) -> None:
        try:
            await self.devices.buzzer.beep(BEEP_S)
        except DeviceError as error:
            log.warning("buzzer: %s", error)

    async def tilt_step(self) -> None:
        """Sample the accelerometer; a tilt or bump is a fault and a security event."""
        sensor = self.devices.accelerometer
        if sensor is None or not self.profile.safety.tilt_bump.enabled:
            return
        try:
            sample = await sensor.read()
        except DeviceError as error:
            self.accelerometer_watch.failed(str(error))  # a fault once lost, not a log line
            return
        self.accelerometer_watch.answered()
        if not self.tilt.calibrated:  # first start, or an explicit calibrate
            self.tilt.calibrate(sample)
            self.latches.calibrated(sample)
            return
        verdict = self.tilt.check(sample)
        if verdict is not None and FaultKind.TILT not in self.faults.kinds:
            self.faults.report(FaultKind.TILT, True, verdict)
            self.events.publish("security", {"event": verdict})

    async def led_step(self) -> None:
        """Show the state colour with its overlays."""
        await self.led.show(self.indicator.colour(self.machine.look.led))

    # ----- faults ---------------------------------------------------------------------------
    def _fault_changed(self, fault: ActiveFault, raised: bool) -> None:
        spec = fault.spec
        if raised:
            self.last_error_code = spec.ocpp_error_code
            log.error("fault %s: %s (%s)", fault.kind, spec.description, fault.detail)
        else:
            log.info("fault %s cleared", fault.kind)
        self.latches.fault_changed(fault, raised)
        self.events.publish(
            "fault",
            {
                "kind": str(fault.kind),
                "raised": raised,
                "ocpp_error_code": spec.ocpp_error_code,
                "vendor_error_code": spec.vendor_error_code,
                "detail": fault.detail,
            },
        )


def _plugged_cp(cp: CpState) -> CpState:
    """E and F are faults, not cable states: for the machine they read as 'no car'."""
    return cp if cp in CONNECTED_STATES else CpState.A
