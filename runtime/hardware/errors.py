"""Typed device errors: every one names the device, its bus and its address."""

from __future__ import annotations


class DeviceError(Exception):
    """A device did not answer, or answered something that cannot be right."""

    def __init__(self, device: str, where: str, problem: str) -> None:
        self.device = device
        self.where = where
        self.problem = problem
        super().__init__(f"{device} at {where}: {problem}")


class DeviceTimeout(DeviceError):
    """No reply within the bus timeout."""


class DeviceGarbage(DeviceError):
    """A reply arrived but is malformed or physically impossible."""
