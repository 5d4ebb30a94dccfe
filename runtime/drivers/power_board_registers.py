"""Register map of our EVSE power board (vendor id "VersineticEEL"), with its word codecs.

The driver's side of docs/power-board-registers.md (the simulated board implements the same
document on its own, in runtime/sim/power_board_map.py). All registers are 16-bit, big-endian
words; "s16" words are two's complement.

Input registers (FC04)
    0..7    vendor id, ASCII, 2 characters per register (high byte first), NUL padded
    8       firmware version, major << 8 | minor
    9..10   serial number, u32 big-endian (high word first)
    11..15  reserved (read as 0)
    16      control pilot state, 0..5 = A..F
    17      CP high level [mV], s16
    18      CP low level [mV], s16
    19      PWM duty now [permille]; 1000 = steady +12 V, 0 = steady -12 V
    20      contactor feedback (auxiliary contact), 0 open / 1 closed
    21      fault flags: bit0 RCM 6 mA DC (latched), bit1 diode fault (latched), bit2 relay welded
    22      EVSE temperature [0.1 °C], s16
    23      heartbeat, u16, +1 per board cycle, wraps
    24..26  analog CT1..CT3 current [0.01 A], u16

Holding registers (FC03 read, FC06/FC16 write)
    100     PWM duty command [permille]: 1000 steady +12 V, 0 steady -12 V (state F), 80..970 PWM
    101     contactor command, 0 open / 1 closed
    102     clear latched faults: write 0xA5A5 (clears the diode fault only; the RCM latch
            clears only by a power cycle of the board); reads 0
    103     communication watchdog [s], 0 = off: with no write for that long the board opens the
            contactor and sets the pilot to steady +12 V on its own; 0 after power-up (so a
            read of 0 after evse armed it tells that the board was power-cycled)
"""

from __future__ import annotations

from collections.abc import Sequence

from runtime.drivers.modbus import DeviceRef
from runtime.hardware.types import CpState, PowerBoardInfo, PowerBoardStatus

VENDOR_ID = "VersineticEEL"

IR_VENDOR_ID = 0
VENDOR_ID_REGISTERS = 8
IR_FIRMWARE_VERSION = 8
IR_SERIAL_NUMBER = 9
IDENTIFICATION_FIRST = IR_VENDOR_ID
IDENTIFICATION_COUNT = 11

IR_CP_STATE = 16
IR_CP_HIGH_MV = 17
IR_CP_LOW_MV = 18
IR_PWM_DUTY = 19
IR_CONTACTOR = 20
IR_FAULTS = 21
IR_TEMPERATURE = 22
IR_HEARTBEAT = 23
IR_CT_CURRENTS = 24
STATUS_FIRST = IR_CP_STATE
STATUS_COUNT = 11
INPUT_REGISTER_COUNT = STATUS_FIRST + STATUS_COUNT

HR_PWM_DUTY = 100
HR_CONTACTOR = 101
HR_CLEAR_FAULTS = 102
HR_WATCHDOG_S = 103
HOLDING_FIRST = HR_PWM_DUTY
HOLDING_COUNT = 4

CLEAR_FAULTS_MAGIC = 0xA5A5
FAULT_RCM_DC = 1 << 0
FAULT_DIODE = 1 << 1
FAULT_RELAY_WELDED = 1 << 2
FAULT_DEFINED_BITS = FAULT_RCM_DC | FAULT_DIODE | FAULT_RELAY_WELDED

PWM_STEADY_HIGH = 1000
PWM_STEADY_LOW = 0
# IEC 61851-1 Table A.8: 8 % is the lowest duty that allows charging (6 A), 97 % the highest.
PWM_MIN = 80
PWM_MAX = 970

CP_STATES: tuple[CpState, ...] = tuple(CpState)
# The board measures the pilot through a ±15 V divider: anything beyond is not a reading.
CP_LEVEL_LIMIT_MV = 15_000
TEMPERATURE_RANGE_C = (-50.0, 150.0)


def is_valid_duty(duty_permille: int) -> bool:
    """True for the duty commands the board accepts: 0, 1000, or PWM 80..970."""
    return duty_permille in (PWM_STEADY_LOW, PWM_STEADY_HIGH) or PWM_MIN <= duty_permille <= PWM_MAX


def s16(word: int) -> int:
    """A register word as a signed 16-bit value."""
    return word - 0x10000 if word & 0x8000 else word


def u16(value: int) -> int:
    """A signed or unsigned value as a register word (two's complement)."""
    return value & 0xFFFF


def decode_identification(words: Sequence[int], ref: DeviceRef) -> PowerBoardInfo:
    """Input registers 0..10 → `PowerBoardInfo`, or `DeviceGarbage`."""
    _check_words(words, IDENTIFICATION_COUNT, ref)
    raw = b"".join(word.to_bytes(2, "big") for word in words[:VENDOR_ID_REGISTERS])
    text = raw.rstrip(b"\0")
    if not text or not all(0x20 <= byte < 0x7F for byte in text):
        raise ref.garbage(f"vendor id registers hold no ASCII text: {raw.hex(' ')}")
    version = words[IR_FIRMWARE_VERSION]
    serial = words[IR_SERIAL_NUMBER] << 16 | words[IR_SERIAL_NUMBER + 1]
    return PowerBoardInfo(
        vendor_id=text.decode("ascii"),
        firmware_version=f"{version >> 8}.{version & 0xFF}",
        serial_number=serial,
    )


def encode_identification(info: PowerBoardInfo) -> list[int]:
    """`PowerBoardInfo` → input registers 0..10 (the inverse of `decode_identification`)."""
    raw = info.vendor_id.encode("ascii").ljust(2 * VENDOR_ID_REGISTERS, b"\0")
    if len(raw) > 2 * VENDOR_ID_REGISTERS:
        raise ValueError(f"vendor id {info.vendor_id!r} is longer than 16 characters")
    major, minor = (int(part) for part in info.firmware_version.split("."))
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    serial = info.serial_number
    return [*words, major << 8 | minor, serial >> 16 & 0xFFFF, serial & 0xFFFF]


def decode_status(words: Sequence[int], ref: DeviceRef) -> PowerBoardStatus:
    """Input registers 16..26 → `PowerBoardStatus`, or `DeviceGarbage` if impossible."""
    _check_words(words, STATUS_COUNT, ref)

    def at(register: int) -> int:
        return words[register - STATUS_FIRST]

    if at(IR_CP_STATE) >= len(CP_STATES):
        raise ref.garbage(f"CP state register {IR_CP_STATE} holds {at(IR_CP_STATE)}, not 0..5")
    high_mv, low_mv = s16(at(IR_CP_HIGH_MV)), s16(at(IR_CP_LOW_MV))
    for register, level in ((IR_CP_HIGH_MV, high_mv), (IR_CP_LOW_MV, low_mv)):
        if abs(level) > CP_LEVEL_LIMIT_MV:
            raise ref.garbage(f"CP level register {register} reads {level} mV, beyond ±15 V")
    duty = at(IR_PWM_DUTY)
    if duty > PWM_STEADY_HIGH:
        raise ref.garbage(f"PWM duty register {IR_PWM_DUTY} reads {duty} ‰, above 1000")
    contactor = at(IR_CONTACTOR)
    if contactor not in (0, 1):
        raise ref.garbage(f"contactor register {IR_CONTACTOR} reads {contactor}, not 0 or 1")
    faults = at(IR_FAULTS)
    if faults & ~FAULT_DEFINED_BITS:
        raise ref.garbage(f"fault register {IR_FAULTS} has undefined bits set: 0x{faults:04x}")
    temperature_c = s16(at(IR_TEMPERATURE)) / 10
    low_c, high_c = TEMPERATURE_RANGE_C
    if not low_c <= temperature_c <= high_c:
        raise ref.garbage(f"temperature register {IR_TEMPERATURE} reads {temperature_c} °C")
    ct1, ct2, ct3 = (at(IR_CT_CURRENTS + phase) / 100 for phase in range(3))
    return PowerBoardStatus(
        cp_state=CP_STATES[at(IR_CP_STATE)],
        cp_high_mv=high_mv,
        cp_low_mv=low_mv,
        pwm_duty_permille=duty,
        contactor_closed=contactor == 1,
        relay_welded=bool(faults & FAULT_RELAY_WELDED),
        rcm_dc_fault=bool(faults & FAULT_RCM_DC),
        diode_fault=bool(faults & FAULT_DIODE),
        temperature_c=temperature_c,
        heartbeat=at(IR_HEARTBEAT),
        analog_clamp_currents_a=(ct1, ct2, ct3),
    )


def encode_status(status: PowerBoardStatus) -> list[int]:
    """`PowerBoardStatus` → input registers 16..26 (the inverse of `decode_status`)."""
    faults = (
        (FAULT_RCM_DC if status.rcm_dc_fault else 0)
        | (FAULT_DIODE if status.diode_fault else 0)
        | (FAULT_RELAY_WELDED if status.relay_welded else 0)
    )
    clamps = [min(0xFFFF, max(0, round(amps * 100))) for amps in status.analog_clamp_currents_a]
    return [
        CP_STATES.index(status.cp_state),
        u16(status.cp_high_mv),
        u16(status.cp_low_mv),
        status.pwm_duty_permille,
        int(status.contactor_closed),
        faults,
        u16(round(status.temperature_c * 10)),
        status.heartbeat & 0xFFFF,
        *clamps,
    ]


def _check_words(words: Sequence[int], count: int, ref: DeviceRef) -> None:
    if len(words) != count:
        raise ref.garbage(f"expected {count} registers, got {len(words)}")
    if not all(0 <= word <= 0xFFFF for word in words):
        raise ref.garbage(f"register values outside 0..65535: {list(words)}")
