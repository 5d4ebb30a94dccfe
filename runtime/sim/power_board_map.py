"""The simulated power board's register map, written from docs/power-board-registers.md.

Deliberately apart from the driver's table (`runtime.drivers.power_board_registers`): the
simulator implements the documented board, so a wrong address or scaling in either one shows
as a disagreement in the datasheet fixture tests.
"""

from __future__ import annotations

from runtime.hardware.types import CpState, PowerBoardInfo, PowerBoardStatus

VENDOR_ID = "VersineticEEL"
VENDOR_ID_WORDS = 8  # input registers 0..7, two ASCII characters each

# Input registers (FC 0x04), by address.
IR_FIRMWARE_VERSION = 8
IR_SERIAL_HIGH = 9
IR_SERIAL_LOW = 10
RESERVED_FIRST, RESERVED_LAST = 11, 15
IR_CP_STATE = 16
IR_CP_HIGH_MV = 17
IR_CP_LOW_MV = 18
IR_PWM_DUTY = 19
IR_CONTACTOR = 20
IR_FAULTS = 21
IR_TEMPERATURE_DECI_C = 22
IR_HEARTBEAT = 23
IR_CT1_CENTI_A = 24
INPUT_REGISTER_COUNT = 27  # 0..26
IDENTIFICATION_COUNT = RESERVED_FIRST  # 0..10
STATUS_FIRST = IR_CP_STATE

# Holding registers (FC 0x03 / 0x06 / 0x10), by address.
HR_PWM_DUTY = 100
HR_CONTACTOR = 101
HR_CLEAR_FAULTS = 102
HR_WATCHDOG_S = 103
HOLDING_FIRST = HR_PWM_DUTY
HOLDING_COUNT = 4

CLEAR_FAULTS_MAGIC = 0xA5A5
FAULT_BIT_RCM_DC = 0x0001
FAULT_BIT_DIODE = 0x0002
FAULT_BIT_RELAY_WELDED = 0x0004

PWM_STEADY_HIGH = 1000
PWM_STEADY_LOW = 0
# IEC 61851-1 Table A.8: PWM between 8 % (6 A) and 97 %.
PWM_RANGE = (80, 970)
# Register 16 numbers the states in the order of IEC 61851-1 Table A.4.
CP_STATE_CODES = {CpState.A: 0, CpState.B: 1, CpState.C: 2, CpState.D: 3, CpState.E: 4,
                  CpState.F: 5}  # fmt: skip


def is_valid_duty(duty_permille: int) -> bool:
    """The documented duty commands: steady 0 or 1000, or PWM 80..970."""
    low, high = PWM_RANGE
    return duty_permille in (PWM_STEADY_LOW, PWM_STEADY_HIGH) or low <= duty_permille <= high


def word(value: int) -> int:
    """An s16 or u16 quantity as the register word (two's complement)."""
    return value % 0x10000


def encode_identification(info: PowerBoardInfo) -> list[int]:
    """Input registers 0..10: vendor id text, firmware major/minor, serial high/low."""
    text = info.vendor_id.encode("ascii")
    if len(text) > 2 * VENDOR_ID_WORDS:
        raise ValueError(f"vendor id {info.vendor_id!r} does not fit registers 0..7")
    text = text + bytes(2 * VENDOR_ID_WORDS - len(text))
    words = [text[2 * i] << 8 | text[2 * i + 1] for i in range(VENDOR_ID_WORDS)]
    major, minor = info.firmware_version.split(".")
    serial = info.serial_number
    return [*words, int(major) << 8 | int(minor), serial >> 16, serial & 0xFFFF]


def encode_status(status: PowerBoardStatus) -> list[int]:
    """Input registers 16..26 with the documented scaling (mV, ‰, 0.1 °C, 0.01 A)."""
    faults = 0
    if status.rcm_dc_fault:
        faults |= FAULT_BIT_RCM_DC
    if status.diode_fault:
        faults |= FAULT_BIT_DIODE
    if status.relay_welded:
        faults |= FAULT_BIT_RELAY_WELDED
    clamps = [max(0, min(0xFFFF, round(amps * 100))) for amps in status.analog_clamp_currents_a]
    return [
        CP_STATE_CODES[status.cp_state],
        word(status.cp_high_mv),
        word(status.cp_low_mv),
        status.pwm_duty_permille,
        1 if status.contactor_closed else 0,
        faults,
        word(round(status.temperature_c * 10)),
        status.heartbeat % 0x10000,
        *clamps,
    ]
