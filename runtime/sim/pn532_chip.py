"""A simulated NXP PN532 in I2C mode: parses host frames, ACKs them and answers the commands
ChargeOS uses (GetFirmwareVersion, SAMConfiguration, RFConfiguration, InListPassiveTarget).

Written from the PN532 User Manual (UM0701-02), not from the driver, so the two check each other.
Tests can present a card, make the chip hang or absent, and tamper with the frames it sends.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from runtime.sim.i2c_chip import SimChip

ACK = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
NACK = bytes([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00])
SYNTAX_ERROR_BODY = bytes([0x7F])  # §6.2.1.5 error frame: 00 00 FF 01 FF 7F 81 00

# ISO 14443-3 SENS_RES (ATQA) with the UID size bits for single, double and triple size UIDs.
SENS_RES = {4: bytes([0x00, 0x04]), 7: bytes([0x00, 0x44]), 10: bytes([0x00, 0x84])}
SEL_RES_MIFARE_CLASSIC_1K = 0x08


def frame(body: bytes) -> bytes:
    """A PN532 normal information frame around TFI + data."""
    length = len(body)
    return bytes([0x00, 0x00, 0xFF, length, (0x100 - length) % 0x100, *body,
                  (0x100 - sum(body) % 0x100) % 0x100, 0x00])  # fmt: skip


def host_frame_body(data: bytes) -> bytes | None:
    """TFI + data of a well-formed host frame, or None when the chip would ignore it."""
    start = 0
    while start < len(data) and data[start] == 0x00:
        start += 1
    if start == 0 or data[start : start + 1] != b"\xff" or len(data) < start + 3:
        return None
    length, lcs = data[start + 1], data[start + 2]
    body = data[start + 3 : start + 3 + length]
    if (length + lcs) % 0x100 or length == 0 or len(body) != length:
        return None
    dcs = data[start + 3 + length : start + 4 + length]
    if not dcs or (sum(body) + dcs[0]) % 0x100:
        return None
    return body


class Pn532Chip(SimChip):
    """A PN532 as the host sees it: a frame in; ACK and response frames out behind a status byte."""

    name = "PN532"

    def __init__(self, firmware: tuple[int, int, int, int] = (0x32, 1, 6, 0x07)) -> None:
        super().__init__()
        self.firmware = firmware  # IC, Ver, Rev, Support
        self.never_ready = False  # the status byte never shows ready (not even for the ACK)
        self.hang_after_ack = False  # ACK commands, then never answer them
        self.tamper: Callable[[bytes], bytes] | None = None  # rewrites every frame it sends
        self.commands: list[int] = []  # command codes received, in order
        self.aborts = 0  # ACK frames from the host (abort of the command in progress)
        self.sam_mode: int | None = None
        self._card: bytes | None = None
        self._outbox: deque[bytes] = deque()
        self._last_response = b""

    def present_card(self, uid: str) -> None:
        """A card with this UID (hex, 4, 7 or 10 bytes) enters the field and stays there."""
        raw = bytes.fromhex(uid)
        if len(raw) not in SENS_RES:
            raise ValueError(f"UID {uid} has {len(raw)} bytes; ISO 14443A UIDs have 4, 7 or 10")
        self._card = raw

    def remove_card(self) -> None:
        """The card leaves the field."""
        self._card = None

    @property
    def card_uid(self) -> str | None:
        """UID of the card in the field, upper-case hex."""
        return self._card.hex().upper() if self._card is not None else None

    def write(self, data: bytes) -> None:
        """A host frame: ACK aborts, NACK asks for the last response again, a command runs."""
        if data.startswith(ACK):
            self.aborts += 1
            self._outbox.clear()
            return
        if data.startswith(NACK):
            self._outbox.append(self._last_response)
            return
        body = host_frame_body(data)
        if body is None or len(body) < 2 or body[0] != 0xD4:
            return  # the PN532 drops frames it cannot parse: no ACK
        self.commands.append(body[1])
        self._outbox.clear()
        self._outbox.append(ACK)
        if not self.hang_after_ack:
            self._last_response = frame(self._answer(body[1], body[2:]))
            self._outbox.append(self._last_response)

    def read(self, length: int) -> bytes:
        """Status byte, then (when ready and more was asked for) the next frame, zero-padded."""
        ready = bool(self._outbox) and not self.never_ready
        if not ready or length == 1:
            return bytes([0x01 if ready else 0x00]) + bytes(length - 1)
        out = self._outbox.popleft()
        if self.tamper is not None:
            out = self.tamper(out)
        return (bytes([0x01]) + out + bytes(length))[:length]

    def _answer(self, command: int, params: bytes) -> bytes:
        """TFI D5, command + 1 and the response parameters; the error frame if unsupported."""
        if command == 0x02:  # GetFirmwareVersion
            return bytes([0xD5, 0x03, *self.firmware])
        if command == 0x14 and params and 1 <= params[0] <= 4:  # SAMConfiguration
            self.sam_mode = params[0]
            return bytes([0xD5, 0x15])
        if command == 0x32 and params:  # RFConfiguration
            return bytes([0xD5, 0x33])
        if command == 0x4A and len(params) >= 2 and params[0] in (1, 2) and self.sam_mode == 1:
            return bytes([0xD5, 0x4B, *self._targets(params[1])])
        return SYNTAX_ERROR_BODY

    def _targets(self, baud_rate_and_type: int) -> bytes:
        """InListPassiveTarget data: NbTg, then Tg, SENS_RES, SEL_RES, NFCIDLength, NFCID1."""
        if self._card is None or baud_rate_and_type != 0x00:
            return bytes([0x00])
        card = self._card
        return bytes(
            [0x01, 0x01, *SENS_RES[len(card)], SEL_RES_MIFARE_CLASSIC_1K, len(card), *card]
        )
