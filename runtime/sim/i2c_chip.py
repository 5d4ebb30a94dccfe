"""What every simulated I2C chip is to the SMBus double: a write and a read per message.

A chip sees the bytes of each message of a transaction, as the real chip sees them on the wire
after its address; one that is absent (`answering = False`) does not acknowledge its address.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class SimChip(ABC):
    """A simulated chip behind one I2C address."""

    name = "I2C chip"

    def __init__(self) -> None:
        self.answering = True  # False: unplugged or dead, its address is not acknowledged

    @abstractmethod
    def write(self, data: bytes) -> None:
        """One write message (the bytes after the address)."""

    @abstractmethod
    def read(self, length: int) -> bytes:
        """One read message of exactly `length` bytes."""
