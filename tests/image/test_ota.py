"""OTA updates on the booted image under TCG, through the Admin page like an owner does it:
0.1.0 → 0.2.0 from slot A to slot B, committed by the new system's health check with every
piece of data kept; a broken release that falls back to the old slot by itself and says so;
and power cuts (kill -9 of qemu) at random instants of an install that always leave a good slot.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from runtime.boot.scheme import MAX_TRIES
from tests.image.machine import (
    READY,
    Boot,
    BuiltImage,
    booted,
    build,
    log_in,
    read_boot_environment,
    sticker_from_serial,
)
from tests.image.releases import broken_release, signed
from tests.soak import rounds

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
INSTALL_TIMEOUT_MS = 240_000  # upload of ~90 MB and the install, under TCG
# One cut in each third of the install (upload, verify and write, read back and activate) in
# `make test`; ten times as many under `make soak`. Each cut costs a whole boot (~60 s).
POWER_CUTS = rounds(3, 30)
SOAK_TIMEOUT_S = 3600 + POWER_CUTS * 300  # a boot, a login, an upload and a cut each


@pytest.fixture(scope="session")
def release(built_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """ChargeOS 0.2.0 built like the image (same cache and key), with its update zip."""
    root = tmp_path_factory.mktemp("release")
    return build(root / "out", built_image.cache_dir, built_image.keys_dir,
                 "--version", "0.2.0", "--min-version", "0.1.0")  # fmt: skip


@pytest.fixture(scope="session")
def passwords(built_image: BuiltImage) -> dict[str, str]:
    """The logins the first boot printed (the test_image tests booted it first)."""
    first = built_image.out_dir / "serial-first.log"
    return sticker_from_serial(first.read_text(errors="replace"))


@pytest.fixture(scope="module")
def install_lengths() -> list[float]:
    """Seconds from "Install Update" to the charger's own restart of each uncut install here
    (upload, verify, write, read back, activate, shut down): where the power cuts fall."""
    return []


def upload_update(page: Page, boot: Boot, update_zip: Path) -> None:
    """Admin → System Update: choose the zip and install it."""
    page.goto(f"{boot.base_url}/admin")
    page.locator('input[type="file"]').first.set_input_files(str(update_zip))
    page.get_by_role("button", name="Install Update").click()


def test_an_update_from_the_admin_page_runs_from_the_other_slot_with_the_data_kept(
    built_image: BuiltImage,
    release: BuiltImage,
    passwords: dict[str, str],
    page: Page,
    install_lengths: list[float],
) -> None:
    update_zip = release.out_dir / "chargeos-0.2.0-update.zip"
    with booted(built_image, "update") as boot:
        boot.wait_for(READY)
        log_in(page, boot, passwords["installer"])
        page.goto(f"{boot.base_url}/installer")
        limit = page.locator('[name="electrical.current_limit_a"]').input_value()
        upload_update(page, boot, update_zip)
        clicked = time.monotonic()
        expect(page.get_by_text("restarts into it now")).to_be_visible(timeout=INSTALL_TIMEOUT_MS)
        assert boot.wait_until_off(timeout_s=180) == 0  # the charger rebooted itself
        install_lengths.append(time.monotonic() - clicked)
    environment = read_boot_environment(built_image.image)
    assert (environment["ORDER"], environment["B_OK"], environment["B_TRY"]) == ("B A", "1", "0")
    with booted(built_image, "updated") as boot:
        serial = boot.wait_for(READY)
        assert "ChargeOS: booting slot B (rootfs-b), try 1" in serial
        assert "update 0.2.0 committed on slot B" in serial
        assert "ChargeOS 0.2.0: evse available" in serial
        assert "ChargeOS first boot" not in serial  # the same data partition, nothing made
        log_in(page, boot, passwords["installer"])  # the same logins
        expect(page.locator("main")).to_contain_text("0.2.0")
        page.goto(f"{boot.base_url}/installer")
        expect(page.locator('[name="electrical.current_limit_a"]')).to_have_value(limit)
        page.goto(f"{boot.base_url}/admin")
        expect(page.get_by_text("Updated to 0.2.0.")).to_be_visible()
    environment = read_boot_environment(built_image.image)
    assert (environment["ORDER"], environment["B_TRY"]) == ("B A", "0")


def test_a_release_that_fails_its_health_check_falls_back_by_itself(
    built_image: BuiltImage,
    release: BuiltImage,
    passwords: dict[str, str],
    page: Page,
    tmp_path: Path,
) -> None:
    broken = broken_release(built_image, release.squashfs, "0.3.0", tmp_path)
    with booted(built_image, "broken", reboot_ends_qemu=False) as boot:
        boot.wait_for(READY)
        log_in(page, boot, passwords["installer"])
        upload_update(page, boot, broken)
        expect(page.get_by_text("restarts into it now")).to_be_visible(timeout=INSTALL_TIMEOUT_MS)
        serial = boot.wait_for("failed and was rolled back", timeout_s=(MAX_TRIES + 1) * 300)
        for attempt in range(1, MAX_TRIES + 1):
            assert f"ChargeOS: booting slot A (rootfs-a), try {attempt}" in serial
        assert "update 0.3.0 failed and was rolled back to slot B" in serial
        boot.wait_for(READY, after=serial.index("failed and was rolled back"))
        log_in(page, boot, passwords["installer"])
        page.goto(f"{boot.base_url}/admin")
        expect(page.get_by_text("Update 0.3.0 failed and was rolled back.")).to_be_visible()
    environment = read_boot_environment(built_image.image)
    assert (environment["ORDER"], environment["A_OK"], environment["B_OK"]) == ("B A", "0", "1")


def install_and_cut(
    built_image: BuiltImage,
    name: str,
    browser: Browser,
    password: str,
    update_zip: Path,
    cut_after_s: float | None,
) -> float:
    """Boot, install `update_zip` from the Admin page, then cut the power `cut_after_s` seconds
    after "Install Update" (None: let the install run until the charger restarts itself); the
    seconds from the click to qemu's end."""
    context = browser.new_context(ignore_https_errors=True)
    try:
        with booted(built_image, name) as boot:
            boot.wait_for(READY)  # the previous cut left a slot that boots and is healthy
            page = context.new_page()
            log_in(page, boot, password)
            upload_update(page, boot, update_zip)
            clicked = time.monotonic()
            if cut_after_s is None:
                assert boot.wait_until_off(INSTALL_TIMEOUT_MS / 1000) == 0, "the install failed"
                return time.monotonic() - clicked
            while time.monotonic() < clicked + cut_after_s and boot.process.poll() is None:
                time.sleep(0.2)
            return time.monotonic() - clicked  # leaving the block kills qemu: the power cut
    finally:
        context.close()


def cut_instants(whole_s: float, count: int, seed: int) -> list[float]:
    """`count` random instants of an install lasting `whole_s`, one in each of `count` equal
    stretches: a few cuts still reach every phase of the install, many still reach every one
    at random."""
    rng = random.Random(seed)
    stretch_s = whole_s / count
    return [(number + rng.random()) * stretch_s for number in range(count)]


@pytest.mark.soak
@pytest.mark.timeout(SOAK_TIMEOUT_S)
def test_power_cuts_at_random_instants_of_an_install_always_leave_a_good_slot(
    built_image: BuiltImage,
    release: BuiltImage,
    passwords: dict[str, str],
    browser: Browser,
    tmp_path: Path,
    install_lengths: list[float],
) -> None:
    # The 0.2.0 system under another version number: installable again and again.
    update_zip = signed(built_image, release.squashfs, "0.2.1", tmp_path / "again.zip")
    # The install's length on this machine: the A->B update's (the same payload, the same way),
    # or, when this test runs alone, one install of its own left to finish.
    if not install_lengths:
        whole = install_and_cut(built_image, "install-timed", browser, passwords["installer"],
                                update_zip, None)  # fmt: skip
        install_lengths.append(whole)
    instants = cut_instants(max(install_lengths), POWER_CUTS, seed=2026)
    for number, instant in enumerate(instants):
        install_and_cut(built_image, f"power-cut-{number}", browser, passwords["installer"],
                        update_zip, instant)  # fmt: skip
        environment = read_boot_environment(built_image.image)
        assert any(
            environment[f"{slot}_OK"] == "1" and int(environment[f"{slot}_TRY"]) < MAX_TRIES
            for slot in environment["ORDER"].split()
        ), (instant, environment)
    with booted(built_image, "after-power-cuts") as boot:
        boot.wait_for(READY)
