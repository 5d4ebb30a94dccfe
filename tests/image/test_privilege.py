"""Least privilege in the image: every ChargeOS program is configured to run as `chargeos`.

The booted image's own proof (the health check's least-privilege line, "restart OS" through the
privileged helper) is read from the first boot in test_image.py, which these checks share.
"""

from __future__ import annotations

import subprocess

import pytest

from runtime.programs import programs_for
from tests.image.machine import BuiltImage

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]


def test_every_program_is_configured_to_run_as_the_services_user(built_image: BuiltImage) -> None:
    conf = subprocess.run(
        ["unsquashfs", "-cat", str(built_image.squashfs), "etc/chargeos/supervisord.conf"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    sections = conf.split("\n[program:")[1:]
    names = {section.split("]", 1)[0] for section in sections}
    assert names == {program.name for program in programs_for(simulated=True)}
    assert {"sim", "evse", "webapp", "watchdog"} <= names
    assert all("\nuser=chargeos\n" in section for section in sections)
