"""NXP PN532 RFID reader over I2C: the RfidReader for ISO 14443A (Mifare) cards.

Speaks the PN532 frame format of the PN532 User Manual (UM0701-02) §6.2: host writes a frame,
polls the I2C status byte until ready, reads the ACK, polls again and reads the response.
The frame codec is pure so Hypothesis can exercise it without a bus.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from runtime.drivers.i2c import I2cBus, I2cDevice
from runtime.hardware.errors import DeviceError, DeviceTimeout

log = logging.getLogger(__name__)

DEVICE = "PN532 RFID reader"
START_CODE = b"\x00\xff"
ACK_FRAME = bytes.fromhex("0000ff00ff00")  # UM0701-02 §6.2.1.3
NACK_FRAME = bytes.fromhex("0000ffff0000")
HOST_TO_PN532 = 0xD4  # TFI, §6.2.1.1
PN532_TO_HOST = 0xD5
ERROR_TFI = 0x7F  # application level error frame, §6.2.1.5
STATUS_READY = 0x01  # I2C status byte, §6.2.4

GET_FIRMWARE_VERSION = 0x02
SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_LIST_PASSIVE_TARGET = 0x4A

PN532_IC = 0x32
SAM_NORMAL_MODE = bytes([0x01, 0x14, 0x01])  # normal mode, 1 s virtual-card timeout, use IRQ
# CfgItem 5 MaxRetries: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation. The default 0xFF makes
# InListPassiveTarget wait for a card forever; one retry lets an empty field answer "no target".
MAX_RETRIES_ONE_ACTIVATION = bytes([0x05, 0xFF, 0x01, 0x01])
ONE_TARGET_106K_TYPE_A = bytes([0x01, 0x00])  # MaxTg 1, BrTy 106 kbps type A
UID_LENGTHS = (4, 7, 10)  # ISO 14443-3 single, double and triple size UIDs


class FrameError(ValueError):
    """Bytes from the reader that are not a well-formed frame of the expected kind."""


def encode_frame(tfi: int, data: bytes) -> bytes:
    """A normal information frame: preamble, start code, LEN, LCS, TFI, data, DCS, postamble."""
    body = bytes([tfi]) + data
    if len(body) > 0xFF:
        raise ValueError(f"a normal frame carries at most 254 data bytes, not {len(data)}")
    return (
        b"\x00"
        + START_CODE
        + bytes([len(body), -len(body) & 0xFF])
        + body
        + bytes([-sum(body) & 0xFF, 0x00])
    )


def _after_start_code(raw: bytes) -> bytes:
    """What follows the start code 00 FF; the preamble is any number of 00 bytes before it."""
    stripped = raw.lstrip(b"\x00")
    if len(stripped) == len(raw) or not stripped.startswith(b"\xff"):
        raise FrameError(f"no start code 00 FF at the beginning of {raw[:8].hex()}")
    return stripped[1:]


def is_ack(raw: bytes) -> bool:
    """Whether the bytes begin with an ACK frame (after any preamble)."""
    try:
        return _after_start_code(raw)[:3] == ACK_FRAME[3:]
    except FrameError:
        return False


def decode_frame(raw: bytes) -> tuple[int, bytes]:
    """TFI and data of the information frame at the start of `raw` (bytes after it ignored)."""
    rest = _after_start_code(raw)
    if len(rest) < 2:
        raise FrameError("frame ends before LEN and LCS")
    length, lcs = rest[0], rest[1]
    if (length, lcs) == (0x00, 0xFF):
        raise FrameError("an ACK frame where a response was expected")
    if (length, lcs) == (0xFF, 0x00):
        raise FrameError("a NACK frame where a response was expected")
    if (length, lcs) == (0xFF, 0xFF):
        raise FrameError("an extended frame, which this driver never asks for")
    if (length + lcs) & 0xFF:
        raise FrameError(f"length checksum wrong: LEN 0x{length:02x}, LCS 0x{lcs:02x}")
    if length == 0:
        raise FrameError("LEN 0 in an information frame")
    if len(rest) < 2 + length + 2:
        raise FrameError(f"frame cut short: LEN says {length} bytes, {len(rest) - 2} follow")
    body = rest[2 : 2 + length]
    dcs, postamble = rest[2 + length], rest[3 + length]
    if (sum(body) + dcs) & 0xFF:
        raise FrameError(f"data checksum wrong: DCS 0x{dcs:02x}")
    if postamble != 0x00:
        raise FrameError(f"postamble 0x{postamble:02x} instead of 00")
    return body[0], body[1:]


def response_data(command: int, tfi: int, data: bytes) -> bytes:
    """The parameters of the PN532's answer to `command`, checking TFI and response code."""
    if tfi == ERROR_TFI and not data:
        raise FrameError(f"the reader answered command 0x{command:02x} with a syntax error frame")
    if tfi != PN532_TO_HOST:
        raise FrameError(f"TFI 0x{tfi:02x} instead of D5")
    if not data or data[0] != command + 1:
        got = f"0x{data[0]:02x}" if data else "nothing"
        raise FrameError(f"response code {got} to command 0x{command:02x}")
    return data[1:]


def parse_target_uid(params: bytes) -> str | None:
    """UID (upper-case hex) from InListPassiveTarget's answer for 106 kbps type A, or None."""
    if not params:
        raise FrameError("InListPassiveTarget answer without NbTg")
    if params[0] == 0:
        return None
    if params[0] != 1:
        raise FrameError(f"{params[0]} targets reported, at most 1 was asked for")
    # Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1, then the ATS if the card has one.
    if len(params) < 6:
        raise FrameError(f"target data cut short: {params.hex()}")
    uid_length = params[5]
    if uid_length not in UID_LENGTHS:
        raise FrameError(f"UID length {uid_length} is not 4, 7 or 10")
    uid = params[6 : 6 + uid_length]
    if len(uid) != uid_length:
        raise FrameError(f"UID cut short: {len(uid)} of {uid_length} bytes")
    return uid.hex().upper()


@dataclass(frozen=True)
class Pn532Firmware:
    """GetFirmwareVersion's answer."""

    ic: int
    version: int
    revision: int
    support: int  # bit 0 ISO 14443A, bit 1 ISO 14443B, bit 2 ISO 18092

    def __str__(self) -> str:
        return f"PN532 firmware {self.version}.{self.revision} (support 0x{self.support:02x})"


class Pn532:
    """RfidReader on a PN532 in I2C mode. Reports a card on every poll while it is in the field."""

    def __init__(
        self,
        bus: I2cBus,
        *,
        bus_number: int = 1,
        address: int = 0x24,
        ack_timeout_s: float = 0.1,
        response_timeout_s: float = 1.0,
        poll_interval_s: float = 0.002,
        max_frame_bytes: int = 64,
    ) -> None:
        self.chip = I2cDevice(bus, bus_number, address, DEVICE)
        self.ack_timeout_s = ack_timeout_s
        self.response_timeout_s = response_timeout_s
        self.poll_interval_s = poll_interval_s
        self.max_frame_bytes = max_frame_bytes
        self._lock = asyncio.Lock()
        self._configured = False

    async def probe(self) -> str:
        """Check the chip is a PN532, put it in normal mode; its firmware identification."""
        firmware = await self.firmware()
        await self._configure()
        return str(firmware)

    async def firmware(self) -> Pn532Firmware:
        """GetFirmwareVersion; DeviceGarbage if the IC is not a PN532."""
        params = await self.command(GET_FIRMWARE_VERSION)
        if len(params) != 4:
            raise self.chip.garbage(f"GetFirmwareVersion answered {params.hex()}, not 4 bytes")
        firmware = Pn532Firmware(*params)
        if firmware.ic != PN532_IC:
            raise self.chip.garbage(f"IC 0x{firmware.ic:02x} is not a PN532 (0x32)")
        return firmware

    async def poll_card(self) -> str | None:
        """One InListPassiveTarget: the UID of the card in the field, or None."""
        if not self._configured:
            await self._configure()
        try:
            params = await self.command(IN_LIST_PASSIVE_TARGET, ONE_TARGET_106K_TYPE_A)
            return parse_target_uid(params)
        except FrameError as err:
            self._configured = False
            raise self.chip.garbage(str(err)) from err
        except DeviceError:
            self._configured = False  # the reader may have reset: configure it again next time
            raise

    async def command(self, command: int, params: bytes = b"") -> bytes:
        """Send a command, wait for ACK and response; the response's parameters."""
        async with self._lock:
            await self.chip.write(encode_frame(HOST_TO_PN532, bytes([command]) + params))
            ack = await self._read_when_ready(
                len(ACK_FRAME), self.ack_timeout_s, f"ACK to command 0x{command:02x}"
            )
            if not is_ack(ack):
                raise self.chip.garbage(f"expected an ACK to 0x{command:02x}, read {ack.hex()}")
            try:
                frame = await self._read_when_ready(
                    self.max_frame_bytes,
                    self.response_timeout_s,
                    f"answer to command 0x{command:02x}",
                )
            except DeviceTimeout:
                await self._abort()
                raise
        try:
            return response_data(command, *decode_frame(frame))
        except FrameError as err:
            raise self.chip.garbage(str(err)) from err

    async def _configure(self) -> None:
        await self.command(SAM_CONFIGURATION, SAM_NORMAL_MODE)
        await self.command(RF_CONFIGURATION, MAX_RETRIES_ONE_ACTIVATION)
        self._configured = True

    async def _read_when_ready(self, length: int, timeout_s: float, what: str) -> bytes:
        """Poll the status byte until ready, then read status + `length` bytes (§6.2.4)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last_problem = "status byte never showed ready"
        while True:
            try:
                status = await self.chip.read(1)
                if status[0] & STATUS_READY:
                    data = await self.chip.read(1 + length)
                    if data[0] & STATUS_READY:
                        return data[1:]
            except DeviceTimeout as err:
                last_problem = err.problem  # a busy PN532 may not acknowledge its address
            if loop.time() >= deadline:
                raise self.chip.timeout(f"no {what} within {timeout_s} s: {last_problem}")
            await asyncio.sleep(self.poll_interval_s)

    async def _abort(self) -> None:
        """An ACK from the host aborts the command in progress (UM0701-02 §6.2.1.3)."""
        try:
            await self.chip.write(ACK_FRAME)
        except DeviceError as err:
            log.warning("could not abort the pending PN532 command: %s", err)
