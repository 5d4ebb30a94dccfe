"""The configurator in a real browser (Debian's Chromium) against the whole running stack.

The acceptance of the web configurator issue: the installer changes the current limit and the
phase rotation and the YAML changes in exactly those lines; the EV login is refused the
Installer page; a corrupt update zip reads as a clear error; plug and card in the simulation turn
the General page to charging without a reload; every page is screenshotted at phone and laptop
size and nothing overflows sideways on the phone.
"""

from __future__ import annotations

import difflib
import io
import re
import ssl
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.webui.stack import Stack
from webui.roles import PAGES, Role, pages_for

pytestmark = pytest.mark.e2e

OWNER_CARD = "FB433810"  # on the local card list of profiles/simulated.yaml
PHONE = (390, 844)
LAPTOP = (1280, 800)
LIVE_TIMEOUT_MS = 20_000
UPDATE_VERDICT_TIMEOUT_MS = 60_000
CLEAR_UPDATE_ERROR = re.compile(
    r"corrupt|damaged|not a (valid )?(zip|update)|invalid|unreadable|cannot be (read|opened)"
    r"|truncated|bad zip|broken",
    re.IGNORECASE,
)
# Elements wider than the viewport, named for the failure message.
OVERFLOW_SCRIPT = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const node of document.querySelectorAll('body *')) {
    const box = node.getBoundingClientRect();
    if (box.right > width + 0.5 && box.width > 0) {
      const name = node.tagName.toLowerCase() + (node.id ? '#' + node.id : '')
        + (node.className && typeof node.className === 'string'
           ? '.' + node.className.trim().split(/\\s+/).join('.') : '');
      wide.push(name + ' right=' + Math.round(box.right));
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
          wide: wide.slice(0, 6)};
}"""


def new_context(browser: Browser, size: tuple[int, int] = LAPTOP) -> BrowserContext:
    """A fresh browser profile that accepts the device's self-signed certificate."""
    width, height = size
    return browser.new_context(
        ignore_https_errors=True, viewport={"width": width, "height": height}
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A laptop-sized browser profile for one test."""
    opened = new_context(browser)
    try:
        yield opened
    finally:
        opened.close()


def log_in(context: BrowserContext, stack: Stack, role: str) -> Page:
    """Log in through the login form with the sticker's password; lands on General."""
    page = context.new_page()
    page.goto(f"{stack.base_url}/login")
    form = page.locator('form[action="/login"]')
    form.locator('select[name="user"]').select_option(role)
    form.locator('input[name="password"]').fill(stack.passwords[role])
    form.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack.base_url}/general")
    return page


def test_plug_and_card_turn_the_general_page_charging_without_reload(
    stack: Stack, context: BrowserContext
) -> None:
    page = log_in(context, stack, "ev")
    state = page.locator('[data-live="state"]')
    expect(state).to_have_text("available", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator('[data-live="transaction"]')).to_have_text("none")
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    page.evaluate("window.chargeosSamePage = true")
    try:
        stack.sim("plug")
        stack.sim("card", OWNER_CARD)
        expect(state).to_have_text("charging", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator('[data-live="transaction"]')).to_have_text(re.compile(r"^#\d+ "))
        assert navigations == [], f"the page navigated: {navigations}"
        assert page.evaluate("window.chargeosSamePage === true"), "the page was reloaded"
    finally:
        stack.sim("unplug")
        wait_for_evse(stack, "available")


def test_sim_fault_led_shows_a_warning_on_the_general_page_without_reload(
    stack: Stack, context: BrowserContext
) -> None:
    page = log_in(context, stack, "ev")
    warnings = page.locator('[data-live="warnings"]')
    expect(warnings).to_have_text("none", timeout=LIVE_TIMEOUT_MS)
    try:
        stack.sim("fault", "led")
        expect(warnings).to_contain_text("LED driver does not answer", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator('[data-live="faults"]')).to_have_text("none")
        expect(page.locator('[data-live="state"]')).to_have_text("available")
    finally:
        stack.sim("clear")
    expect(warnings).to_have_text("none", timeout=LIVE_TIMEOUT_MS)


def wait_for_evse(stack: Stack, state: str, timeout_s: float = 20.0) -> None:
    """Wait (bounded) until the evse service reports `state`."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = stack.evse_state()
        if seen == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"evse did not reach {state} in {timeout_s} s (last: {seen})")


def test_the_installer_changes_current_limit_and_phase_rotation_in_exactly_two_lines(
    stack: Stack, context: BrowserContext
) -> None:
    before = stack.profile_path.read_text(encoding="utf-8")
    limit = re.search(r"^  current_limit_a: (\d+)", before, re.MULTILINE)
    rotation = re.search(r"^  phase_rotation: ([RST]{3})", before, re.MULTILINE)
    assert limit is not None and rotation is not None
    new_limit = "16" if limit.group(1) != "16" else "20"
    new_rotation = "TRS" if rotation.group(1) != "TRS" else "RTS"

    page = log_in(context, stack, "installer")
    page.goto(f"{stack.base_url}/installer")
    charger = page.locator(".settings").filter(
        has=page.locator('[name="electrical.current_limit_a"]')
    )
    charger.locator('[name="electrical.current_limit_a"]').fill(new_limit)
    charger.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("Saved")

    phases = page.locator(".settings").filter(
        has=page.locator('[name="electrical.phase_rotation"]')
    )
    phases.locator('[name="electrical.phase_rotation"]').select_option(new_rotation)
    phases.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    expect(page.locator('[name="electrical.phase_rotation"]')).to_have_value(new_rotation)
    expect(page.locator('[name="electrical.current_limit_a"]')).to_have_value(new_limit)

    after = stack.profile_path.read_text(encoding="utf-8")
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 4, "\n".join(changed)  # two lines out, two lines in
    expected = before.replace(
        f"  current_limit_a: {limit.group(1)} ", f"  current_limit_a: {new_limit} "
    ).replace(f"  phase_rotation: {rotation.group(1)} ", f"  phase_rotation: {new_rotation} ")
    assert after == expected, "\n".join(changed)  # same lines, same comments, same columns


def test_the_ev_login_is_refused_the_installer_page(stack: Stack, context: BrowserContext) -> None:
    page = log_in(context, stack, "ev")
    navigation = page.get_by_role("navigation", name="Pages")
    expect(navigation.get_by_role("link", name="Installer", exact=True)).to_have_count(0)
    answer = page.goto(f"{stack.base_url}/installer")
    assert answer is not None and answer.status == 403
    expect(page.locator("body")).to_contain_text("installer")
    expect(page.locator('[name="electrical.current_limit_a"]')).to_have_count(0)


def test_the_installer_clears_a_latched_tilt_on_the_installer_page(
    stack: Stack, context: BrowserContext
) -> None:
    wait_for_evse(stack, "available")
    stack.sim("fault", "tilt")
    try:
        wait_for_evse(stack, "faulted")
    finally:
        stack.sim("clear")  # straightened: the tilt stays latched
    page = log_in(context, stack, "installer")
    page.goto(f"{stack.base_url}/installer")
    latched = page.get_by_role("region", name="Latched faults")
    expect(latched.get_by_role("row").filter(has_text="tilt")).to_contain_text("Clear fault")
    latched.get_by_role("button", name="Clear fault").click()
    page.wait_for_load_state()
    expect(page.get_by_role("status").first).to_contain_text("The latched faults were cleared.")
    wait_for_evse(stack, "available")


def corrupt_zip() -> bytes:
    """A zip cut in half: local headers present, central directory missing."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", '{"version": "9.9.9"}')
        archive.writestr("rootfs.img", bytes(range(256)) * 4096)
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize("role", ["installer", "ev"])
def test_a_corrupt_update_zip_reads_as_a_clear_error(
    stack: Stack, context: BrowserContext, role: str, screenshot_dirs: tuple[Path, ...]
) -> None:
    page = log_in(context, stack, role)
    answer = page.goto(f"{stack.base_url}/admin")
    assert answer is not None and answer.status == 200, "the Admin page is missing"
    page.locator('input[type="file"]').first.set_input_files(
        {"name": "update.zip", "mimeType": "application/zip", "buffer": corrupt_zip()}
    )
    page.get_by_role("button", name="Install Update").click()
    verdict = page.locator('[role="alert"], .error').filter(has_text=CLEAR_UPDATE_ERROR)
    expect(verdict.first).to_be_visible(timeout=UPDATE_VERDICT_TIMEOUT_MS)
    text = verdict.first.inner_text()
    shoot(page, screenshot_dirs, f"{role}-admin-corrupt-update-{LAPTOP[0]}x{LAPTOP[1]}")
    assert not re.search(r"Traceback|Internal Server Error|\b500\b", text), text


def test_the_http_port_sends_the_browser_to_https(stack: Stack, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{stack.http_port}/general")
    assert page.url == f"{stack.base_url}/login"
    context_ = ssl.create_default_context(cafile=str(stack.certificate))
    with urllib.request.urlopen(f"{stack.base_url}/login", context=context_, timeout=5) as got:
        assert got.status == 200  # the device's own certificate, valid for 127.0.0.1


def shoot(page: Page, folders: tuple[Path, ...], name: str) -> None:
    """A full-page screenshot into every folder."""
    for folder in folders:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_every_page_is_screenshotted_and_nothing_overflows_on_a_phone(
    stack: Stack, browser: Browser, screenshot_dirs: tuple[Path, ...]
) -> None:
    licensed = "load_balancing_licensed: true" in stack.profile_path.read_text(encoding="utf-8")
    problems: list[str] = []
    for size in (PHONE, LAPTOP):
        label = f"{size[0]}x{size[1]}"
        context = new_context(browser, size)
        try:
            page = context.new_page()
            errors = watch_console(page)
            page.goto(f"{stack.base_url}/login")
            shoot(page, screenshot_dirs, f"login-{label}")
            problems += overflow(page, "login", size)
            problems += [f"login console: {message}" for message in errors]
            context.clear_cookies()
            for role in (Role.INSTALLER, Role.EV):
                page = log_in(context, stack, role.value)
                errors = watch_console(page)
                for spec in pages_for(role, licensed):
                    answer = page.goto(f"{stack.base_url}/{spec.slug}")
                    status = answer.status if answer is not None else 0
                    if status != 200:
                        problems.append(f"{role}/{spec.slug}: HTTP {status}")
                    page.wait_for_load_state("networkidle")
                    shoot(page, screenshot_dirs, f"{role}-{spec.slug}-{label}")
                    problems += overflow(page, f"{role}/{spec.slug}", size)
                if size == PHONE:
                    page.goto(f"{stack.base_url}/general")
                    page.locator("label.menu-button").click()
                    shoot(page, screenshot_dirs, f"{role}-menu-open-{label}")
                    problems += overflow(page, f"{role}/menu", size)
                problems += [f"{role} console: {message}" for message in errors]
                refused = [p for p in PAGES if role not in p.roles]
                for spec in refused[:1]:  # what a refused page looks like (403 expected)
                    page.goto(f"{stack.base_url}/{spec.slug}")
                    shoot(page, screenshot_dirs, f"{role}-{spec.slug}-refused-{label}")
                context.clear_cookies()
        finally:
            context.close()
    assert problems == [], "\n".join(problems)


def overflow(page: Page, name: str, size: tuple[int, int]) -> list[str]:
    """A problem line when the page is wider than a phone's screen."""
    if size != PHONE:
        return []
    found = page.evaluate(OVERFLOW_SCRIPT)
    if found["scrollWidth"] <= found["innerWidth"]:
        return []
    return [
        f"{name}: {found['scrollWidth']} px wide on a {found['innerWidth']} px phone;"
        f" wide: {', '.join(found['wide'])}"
    ]


def watch_console(page: Page) -> list[str]:
    """Collect console errors (CSP violations land there) and uncaught exceptions."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    return errors
