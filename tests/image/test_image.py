"""The appliance image end to end: built from a clean cache by `build.py image`, its partition
table and root filesystem as described, reproducible, and booted under TCG to a web
configurator that logs in with the first boot's credentials, where no ChargeOS program but the
privileged helper is root, which keeps its configuration across a "restart OS" (through the
helper) on a read-only root, and whose GRUB falls back to the other slot after three tries.

The checks that only read share the first boot; the last of them restarts it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from image.builder.context import sha256_file
from image.builder.layout import ESP_TYPE, ROOT_TYPES, disk_layout
from runtime.config.loader import load_model
from schemas.image import Board, size_bytes
from tests.image.machine import (
    READY,
    REPO,
    Boot,
    BuiltImage,
    booted,
    build,
    log_in,
    read_boot_environment,
    sticker_from_serial,
    write_boot_environment,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
BOARD = load_model(REPO / "image" / "boards" / "qemu-x86_64" / "board.yaml", Board)
SERVICES_UID = 900  # the board's chargeos user
PROGRAMS = ("supervisord", "runtime.sim", "runtime.evse", "webui")


def test_the_build_shows_its_steps_and_describes_what_it_made(built_image: BuiltImage) -> None:
    assert "[ 1/14] base" in built_image.log and "[14/14] ota" in built_image.log
    info = built_image.info
    assert info["board"] == "qemu-x86_64" and info["compatible"] == BOARD.compatible
    assert info["base_cached"] is False  # the fixture starts from an empty cache
    assert info["sha256"] == {"rootfs.squashfs": sha256_file(built_image.squashfs)}
    trim = info["trim"]
    assert isinstance(trim, dict) and trim["kernel_modules_bytes"] > 100 * 2**20
    assert (built_image.out_dir / "build.log").read_text().count("\n$ mmdebstrap") == 1
    assert built_image.image.with_suffix(".bmap").exists()
    update_zip = built_image.out_dir / f"chargeos-{info['version']}-update.zip"
    assert update_zip.exists() and info["update_zip"]["file"] == update_zip.name  # type: ignore[index]
    inputs = info["inputs"]
    assert isinstance(inputs, dict) and len(inputs["requirements_lock_sha256"]) == 64


def test_the_partition_table_matches_the_board_description(built_image: BuiltImage) -> None:
    listed = subprocess.run(
        ["sfdisk", "--json", str(built_image.image)], capture_output=True, check=True
    )
    table = json.loads(listed.stdout)["partitiontable"]
    layout = disk_layout(BOARD)
    assert table["label"] == "gpt" and table["id"] == layout.disk_id
    assert len(table["partitions"]) == len(BOARD.partitions)
    for row, described, placed in zip(
        table["partitions"], BOARD.partitions, layout.partitions, strict=True
    ):
        assert row["name"] == described.label
        assert row["uuid"] == str(described.uuid).upper()
        assert row["size"] * 512 == size_bytes(described.size)
        assert row["start"] * 512 == placed.start
        expected_type = {"boot": ESP_TYPE, "rootfs": ROOT_TYPES["amd64"]}.get(described.role)
        assert row["type"] == (expected_type or "0FC63DAF-8483-4772-8E79-3D69D8477DE4")


def squashfs_listing(squashfs: Path) -> str:
    """`unsquashfs -lls`: every path with owner and mode."""
    listed = subprocess.run(
        ["unsquashfs", "-lls", "-d", "", str(squashfs)], capture_output=True, text=True, check=True
    )
    return listed.stdout


def squashfs_paths(listing: str) -> list[str]:
    """The paths of a listing (a symlink's own path, not its target)."""
    return [line.split(" -> ")[0].split(" ")[-1] for line in listing.splitlines()]


def squashfs_file(squashfs: Path, path: str) -> str:
    """One file's content from the slot image."""
    read = subprocess.run(
        ["unsquashfs", "-cat", str(squashfs), path], capture_output=True, text=True, check=True
    )
    return read.stdout


def test_the_root_filesystem_holds_the_app_and_no_per_device_state(
    built_image: BuiltImage,
) -> None:
    listing = squashfs_listing(built_image.squashfs)
    assert " /opt/chargeos/venv/bin/supervisord" in listing
    assert " /opt/chargeos/factory/profile.yaml" in listing
    assert "/boot/vmlinuz -> vmlinuz-" in listing
    assert "ssh_host_" not in listing  # host keys are made per device, never shipped
    paths = squashfs_paths(listing)
    for trimmed in ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/de/"):
        assert not [p for p in paths if p.startswith(trimmed)], trimmed
    modules = [p for p in paths if "/kernel/" in p and p.endswith(".ko")]
    assert modules and not [p for p in modules if "/kernel/sound/" in p or "/drivers/gpu/" in p]
    assert squashfs_file(built_image.squashfs, "etc/machine-id") == ""
    conf = squashfs_file(built_image.squashfs, "etc/chargeos/supervisord.conf")
    for program in ("sim", "evse", "webapp"):
        assert f"[program:{program}]" in conf
    assert "--data-dir /data" in conf
    factory = squashfs_file(built_image.squashfs, "opt/chargeos/factory/profile.yaml")
    assert "bind_address: 0.0.0.0" in factory  # the board's override
    assert "chargeos:x:900:" in squashfs_file(built_image.squashfs, "etc/passwd")
    system = json.loads(squashfs_file(built_image.squashfs, "etc/chargeos/system.json"))
    assert system["compatible"] == BOARD.compatible
    keyring = [p for p in paths if p.startswith("/etc/chargeos/keyring/")]
    (public,) = built_image.keys_dir.glob("*.pub")
    assert keyring == [f"/etc/chargeos/keyring/{public.name}"]  # public keys only
    assert not [p for p in paths if "/signing-" in p]  # no private key


def test_two_builds_of_the_same_inputs_give_a_byte_identical_squashfs(
    built_image: BuiltImage, tmp_path: Path
) -> None:
    # Same inputs: the same cached base, sources and SOURCE_DATE_EPOCH (by default the last
    # commit's time, which a commit made meanwhile would change).
    epoch = built_image.info["source_date_epoch"]
    assert isinstance(epoch, int)
    again = build(
        tmp_path / "out", built_image.cache_dir, built_image.keys_dir, source_date_epoch=epoch
    )
    assert again.info["base_cached"] is True
    assert sha256_file(again.squashfs) == sha256_file(built_image.squashfs)


def new_page(browser: Browser) -> Page:
    """A page in a fresh browser profile that accepts the device's own certificate."""
    return browser.new_context(ignore_https_errors=True).new_page()


@pytest.fixture(scope="module")
def guests() -> Iterator[ExitStack]:
    """The guests this module's tests boot and share; whatever still runs is stopped at the end
    of the module, or by `disk_at_rest` before a test that works on the stopped disk."""
    with ExitStack() as running:
        yield running


@pytest.fixture(scope="module")
def first_guest(built_image: BuiltImage, guests: ExitStack) -> Boot:
    """The image's first boot, healthy; the tests that only read share it, and the last of them
    restarts it from the Admin page."""
    boot = guests.enter_context(booted(built_image, "first"))
    boot.wait_for(READY)
    return boot


@pytest.fixture
def disk_at_rest(guests: ExitStack) -> None:
    """No guest of this module runs: the test reads or writes the disk itself."""
    guests.close()


def first_logins(built: BuiltImage) -> dict[str, str]:
    """The logins the first boot printed on its console."""
    return sticker_from_serial((built.out_dir / "serial-first.log").read_text(errors="replace"))


def health_line(serial: str, check: str) -> str:
    """The health report's line of one check."""
    # after the journal's "[uptime] python[pid]: " prefix on the console
    match = re.search(rf"health: {re.escape(check)}: .*$", serial, re.MULTILINE)
    assert match, f"no health line for {check!r} on the console"
    return match.group(0).rstrip()


def test_first_boot_serves_the_configurator_with_the_printed_logins(
    built_image: BuiltImage, first_guest: Boot, browser: Browser
) -> None:
    serial = first_guest.serial()
    assert "ChargeOS first boot: device secrets created in /data/secrets" in serial
    # systemd arms the board's hardware watchdog: a hung system (or reboot) resets itself
    assert "health: watchdog: ok (watchdog0, i6300ESB timer, timeout 30 s)" in serial
    assert "slot A marked good" in serial
    passwords = sticker_from_serial(serial)
    page = new_page(browser)
    log_in(page, first_guest, passwords["installer"])
    expect(page.locator("main")).to_contain_text(str(built_image.info["version"]))
    page.context.close()


def test_only_the_privileged_helper_may_run_as_root_and_the_services_cannot_open_a_slot(
    first_guest: Boot,
) -> None:
    line = health_line(first_guest.serial(), "least privilege")
    assert line.startswith("health: least privilege: ok (chargeos.service: ")
    for program in PROGRAMS:
        assert re.search(rf"\b{re.escape(program)} \d+ uid {SERVICES_UID}\b", line), line
    assert " uid 0" not in line.split("; chargeos-privileged.service:")[0]
    # socket-activated: nothing asked it yet, so no root process of ChargeOS runs
    assert "chargeos-privileged.service: not running;" in line
    assert line.endswith(
        "the services cannot open slot A, slot B, grubenv, the system's login hashes)"
    )


def test_a_saved_setting_survives_restart_os_which_reboots_through_the_privileged_helper(
    built_image: BuiltImage, first_guest: Boot, browser: Browser
) -> None:
    assert "health: root read-only: ok" in first_guest.serial()
    page = new_page(browser)
    log_in(page, first_guest, first_logins(built_image)["installer"])
    page.goto(f"{first_guest.base_url}/installer")
    field = page.locator('[name="electrical.current_limit_a"]')
    new_limit = "13" if field.input_value() != "13" else "14"
    charger = page.locator(".settings").filter(has=field)
    field.fill(new_limit)
    charger.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    page.goto(f"{first_guest.base_url}/admin")
    page.once("dialog", Dialog.accept)
    page.locator('button[name="command"][value="os.restart"]').click()
    assert first_guest.wait_until_off(timeout_s=180) == 0  # the charger rebooted itself
    page.context.close()
    serial = first_guest.serial()
    helper = re.search(r"ChargeOS privileged helper: uid (\d+), pid \d+", serial)
    assert helper, "the helper never started"
    assert helper.group(1) == "0"
    assert "for group chargeos (gid 900): install, activate, reboot, debug-ssh" in serial
    assert read_boot_environment(built_image.image)["A_TRY"] == "0"  # the first boot's mark-good
    with booted(built_image, "after-reboot") as boot:
        serial = boot.wait_for(READY)
        assert "ChargeOS first boot" not in serial  # the data partition was kept: nothing made
        page = new_page(browser)
        log_in(page, boot, first_logins(built_image)["installer"])
        page.goto(f"{boot.base_url}/installer")
        expect(page.locator('[name="electrical.current_limit_a"]')).to_have_value(new_limit)
        page.context.close()


def test_grub_falls_back_to_the_other_slot_after_three_failed_tries(
    built_image: BuiltImage, disk_at_rest: None, tmp_path: Path
) -> None:
    before = read_boot_environment(built_image.image)
    write_boot_environment(
        built_image.image,
        {**before, "A_OK": "1", "A_TRY": "3", "B_OK": "1", "B_TRY": "0"},
        tmp_path,
    )
    try:
        with booted(built_image, "fallback") as boot:
            boot.wait_for("ChargeOS: booting slot B (rootfs-b), try 1", timeout_s=120)
            boot.wait_until_off()  # slot B is empty on a new disk: GRUB reports it and resets
        assert "slot B could not be booted" in boot.serial()
        after = read_boot_environment(built_image.image)
        assert (after["A_TRY"], after["B_TRY"]) == ("3", "1")
    finally:
        write_boot_environment(built_image.image, before, tmp_path)
