"""Random damage to a valid update zip is never accepted and never crashes the verify step."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from image.builder.update_zip import write_update_zip
from runtime.update import verify_update
from tests.runtime.update.fakes import FIELDS, PAYLOAD, system_for

KEY = Ed25519PrivateKey.generate()
SYSTEM = system_for([KEY.public_key()])


def valid_zip() -> bytes:
    """One real signed update, written once for every example."""
    with tempfile.TemporaryDirectory() as folder:
        payload, path = Path(folder) / "rootfs", Path(folder) / "update.zip"
        payload.write_bytes(PAYLOAD[:4096])  # small: more of the damage lands in the headers
        write_update_zip(path, FIELDS, {"rootfs": payload}, [KEY])
        return path.read_bytes()


VALID = valid_zip()
overwrite = st.tuples(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=8)).map(
    lambda spot: VALID[: spot[0]] + spot[1] + VALID[spot[0] + len(spot[1]) :]
)
truncate = st.integers(0, len(VALID) - 1).map(lambda size: VALID[:size])
extend = st.binary(min_size=1, max_size=64).map(lambda tail: VALID + tail)
insert = st.tuples(st.integers(0, len(VALID)), st.binary(min_size=1, max_size=8)).map(
    lambda spot: VALID[: spot[0]] + spot[1] + VALID[spot[0] :]
)


def test_the_undamaged_zip_verifies() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "update.zip"
        path.write_bytes(VALID)
        assert verify_update(path, SYSTEM).ok


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(overwrite, truncate, extend, insert))
def test_damage_is_refused_and_never_raises(damaged: bytes) -> None:
    assume(damaged != VALID)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "update.zip"
        path.write_bytes(damaged)
        verdict = verify_update(path, SYSTEM)
    assert not verdict.ok, verdict.summary
    assert verdict.summary and verdict.manifest is None
