"""Pydantic models of a ChargeOS profile, one module per concern; `Profile` is the root."""

from schemas.profile import Profile

__all__ = ["Profile"]
