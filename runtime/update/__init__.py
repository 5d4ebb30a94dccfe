"""Over-the-air updates: one verify-then-install path for every way an update arrives.

An update is a signed zip (runtime.update.manifest describes the format; the build host writes it
with image.builder.update_zip). `verify_update(path, running_system())` checks it without writing
anything; the installer writes the inactive root slot only after a verdict that is ok.
"""

from __future__ import annotations

from runtime.update.manifest import UpdateManifest
from runtime.update.system import RunningSystem, running_system
from runtime.update.verify import Verdict, verify_update

__all__ = ["RunningSystem", "UpdateManifest", "Verdict", "running_system", "verify_update"]
