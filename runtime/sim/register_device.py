"""What a simulated Modbus device offers the simulated bus: register reads and writes.

Register models (power board, meters) implement `RegisterDevice`; they refuse bad requests
with `RegisterError`s that the server sends as Modbus exception responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class RegisterError(Exception):
    """A request the device refuses; `code` is the Modbus exception code it answers with."""

    code = 4


class IllegalFunction(RegisterError):
    """Exception code 1: a function code the device does not implement."""

    code = 1


class IllegalAddress(RegisterError):
    """Exception code 2: a register outside the device's map."""

    code = 2


class IllegalValue(RegisterError):
    """Exception code 3: a value the device does not accept."""

    code = 3


@dataclass(frozen=True)
class RegisterSpan:
    """A contiguous block of register addresses: `first` .. `first + count - 1`."""

    first: int
    count: int

    def covers(self, address: int, count: int) -> bool:
        """True when `count` registers from `address` all lie in this span."""
        return self.first <= address and address + count <= self.first + self.count


class RegisterDevice(Protocol):
    """A register-level device model that a simulated bus serves live."""

    @property
    def input_span(self) -> RegisterSpan: ...

    @property
    def holding_span(self) -> RegisterSpan: ...

    def read_input_registers(self, address: int, count: int) -> list[int]: ...

    def read_holding_registers(self, address: int, count: int) -> list[int]: ...

    def write_holding_registers(self, address: int, values: Sequence[int]) -> None: ...


def check_span(span: RegisterSpan, address: int, count: int, what: str) -> None:
    """Raise `IllegalAddress` unless the request lies inside `span`."""
    if not span.covers(address, count):
        last = span.first + span.count - 1
        raise IllegalAddress(
            f"{count} {what} register(s) at {address} are outside {span.first}..{last}"
        )
