"""Over-the-air updates: one verify-then-install path for every way an update arrives.

Today only the verify step exists (`verify_update`); the installer that writes the inactive root
slot, switches the bootloader for one trial boot and commits on health comes later (DESIGN.md,
"Image and updates").
"""

from __future__ import annotations

from runtime.update.verify import Verdict, verify_update

__all__ = ["Verdict", "verify_update"]
