"""Simulated hardware: peers on the far side of the real buses, so the real drivers run in tests."""
