"""The manifest model and version numbers: what a valid format 1 manifest is."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from runtime.update.manifest import (
    UpdateManifest,
    VersionError,
    format_version,
    one_line,
    parse_version,
)

PAYLOAD: dict[str, Any] = {
    "name": "rootfs",
    "file": "rootfs.squashfs",
    "size": 1,
    "sha256": "0" * 64,
}
VALID: dict[str, Any] = {
    "format": 1,
    "compatible": "chargeos,qemu-x86_64",
    "version": "0.2.0",
    "min_version": "0.1.0",
    "payloads": [PAYLOAD],
    "build": {"board": "qemu-x86_64", "inputs": {"a": "b"}},
}


def problem(**changes: Any) -> str:
    """The one-line error of VALID changed as asked."""
    with pytest.raises(ValidationError) as raised:
        UpdateManifest.model_validate({**VALID, **changes})
    return one_line(raised.value)


def test_a_valid_manifest_round_trips_through_its_signed_bytes() -> None:
    manifest = UpdateManifest.model_validate(VALID)
    assert UpdateManifest.model_validate_json(manifest.to_bytes(), strict=True) == manifest
    assert manifest.parsed_version == (0, 2, 0)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"format": 2}, "format: Input should be 1"),
        ({"version": "1.2"}, "version: '1.2' is not a version"),
        ({"version": "01.2.3"}, "no leading zeros"),
        ({"min_version": "0.3.0"}, "min_version 0.3.0 is above version 0.2.0"),
        ({"compatible": "qemu"}, "compatible: String should match pattern"),
        ({"payloads": []}, "payloads: Tuple should have at least 1 item"),
        ({"payloads": [PAYLOAD, PAYLOAD]}, "payload name listed twice: rootfs"),
        ({"payloads": [{**PAYLOAD, "name": "kernel"}]}, "exactly one payload named rootfs"),
        ({"payloads": [{**PAYLOAD, "file": "manifest.json"}]}, "reserved for the update format"),
        ({"payloads": [{**PAYLOAD, "file": "manifest.sig.x"}]}, "reserved for the update format"),
        ({"payloads": [{**PAYLOAD, "file": "../rootfs"}]}, "payloads.0.file: String should"),
        ({"payloads": [{**PAYLOAD, "sha256": "A" * 64}]}, "payloads.0.sha256: String should"),
        ({"payloads": [{**PAYLOAD, "size": 0}]}, "payloads.0.size: Input should be greater"),
        ({"signer": "me"}, "signer: Extra inputs are not permitted"),
    ],
)
def test_invalid_manifests_name_the_field(changes: dict[str, Any], expected: str) -> None:
    assert expected in problem(**changes)


@pytest.mark.parametrize("text", ["", "1", "1.2", "1.2.3.4", "v1.2.3", "1.2.x", "1.-2.3", " 1.2.3"])
def test_what_is_not_a_version_says_what_is_expected(text: str) -> None:
    with pytest.raises(VersionError, match=r"expected MAJOR\.MINOR\.PATCH"):
        parse_version(text)


@given(st.tuples(*[st.integers(min_value=0, max_value=999_999)] * 3))
def test_versions_round_trip_through_text(version: tuple[int, int, int]) -> None:
    assert parse_version(format_version(version)) == version


@given(st.text(max_size=20))
def test_parse_version_only_ever_raises_version_error(text: str) -> None:
    with contextlib.suppress(VersionError):
        parse_version(text)
