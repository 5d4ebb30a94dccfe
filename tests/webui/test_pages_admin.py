"""Admin page: System Update verdicts in plain words (never a fake success, the upload deleted),
a signed update verified against the system under `system_root` (installing it: see
test_pages_update), the size cap, the free space before and while receiving, server-chosen file
names, Service Control against a real supervisord, the EV login refused Service Control, and
System Logs as a valid .tar.gz.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from multidict import CIMultiDictProxy

from image.builder.update_zip import write_update_zip
from runtime.boot.slots import SlotSet
from runtime.privileged.server import HelperConfig, PrivilegedHelper
from runtime.supervisor import ProgramState, Supervisor
from runtime.update import RunningSystem, Verdict, verify_update
from tests.runtime.update.fakes import FIELDS, PAYLOAD, write_system_root
from tests.webui.inprocess import Agent, Site, open_site
from webui import restarts
from webui import upload as receiving
from webui.pages import admin, update
from webui.sessions import COOKIE

MB = 1024 * 1024
SUPERVISORD = Path(sys.executable).parent / "supervisord"
POLL_S = 0.1
POLLS = 100  # every wait is bounded: at most 100 x 100 ms
DUMMY_PROGRAMS = """
[program:evse]
command=sleep 600
startsecs=0
autorestart=true
stopasgroup=true
[program:webapp]
command=sleep 600
startsecs=0
autorestart=true
stopasgroup=true
"""


@dataclass(frozen=True)
class Raw:
    """An answer read as bytes."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def send(agent: Agent, method: str, path: str, **kwargs: Any) -> Raw:
    """A request with the agent's session cookie and CSRF header; the answer as bytes."""
    headers = {
        "Cookie": f"{COOKIE}={agent.cookie}",
        "X-CSRF-Token": agent.csrf_token,
        **kwargs.pop("headers", {}),
    }

    async def go() -> Raw:
        url = agent.site.url(path)
        async with agent.http.request(
            method, url, headers=headers, allow_redirects=False, **kwargs
        ) as response:
            return Raw(response.status, response.headers, await response.read())

    answer: Raw = agent.site.run(go())
    return answer


def upload(
    agent: Agent, content: bytes, filename: str = "update.zip", *, chunked: bool = False
) -> Raw:
    """Install Update as admin.js sends it: multipart, CSRF header, JSON wanted."""
    agent.get("/admin")  # the page the browser is on
    writer = aiohttp.MultipartWriter("form-data")
    body: Any = pieces(content) if chunked else content
    part = writer.append(body, {"Content-Type": "application/zip"})
    part.set_content_disposition("form-data", name="update", filename=filename)
    return send(agent, "POST", "/admin/update", data=writer, headers={"Accept": "application/json"})


async def pieces(content: bytes) -> AsyncIterator[bytes]:
    """The content in 1 MiB pieces (sent chunked: no length announced)."""
    for start in range(0, len(content), MB):
        yield content[start : start + MB]


def update_zip(manifest: bool = True) -> bytes:
    """A small zip shaped like an update (or a plain zip without manifest.json)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest:
            archive.writestr("manifest.json", json.dumps({"version": "9.9.9", "board": "sim"}))
        archive.writestr("rootfs.img", bytes(range(256)) * 4096)
    return buffer.getvalue()


def leftovers(site: Site) -> list[str]:
    """Whatever is left in the uploads directory."""
    uploads = site.state.settings.uploads_dir
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


# ----- system update ------------------------------------------------------------------------
REFUSED = [
    ("truncated", update_zip()[: len(update_zip()) // 2], r"incomplete \(truncated\)"),
    ("not a zip", b"this is a text file, not an update\n" * 100, r"not a zip file"),
    ("empty", b"", r"empty"),
    ("no marker", update_zip(manifest=False), r"not a ChargeOS update: it does not start with"),
]


@pytest.mark.parametrize(("what", "content", "summary"), REFUSED, ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize("role", ["installer", "ev"])
def test_an_upload_that_is_not_an_update_gets_a_clear_verdict_and_is_deleted(
    site: Site, role: str, what: str, content: bytes, summary: str
) -> None:
    answer = upload(site.logged_in(role), content)
    assert answer.status == 200, answer.body
    verdict = Verdict.model_validate(answer.json())
    assert not verdict.ok
    assert re.search(summary, verdict.summary), verdict.summary
    assert any("was deleted" in detail for detail in verdict.details), verdict.details
    assert leftovers(site) == []


@pytest.fixture
def image_site(site: Site, tmp_path: Path) -> tuple[Site, bytes]:
    """The site on a fake image root (ChargeOS 0.2.0 with a 1 MiB slot trusting a new key) and
    a signed update 0.3.0 for it."""
    key = Ed25519PrivateKey.generate()
    root = write_system_root(tmp_path / "root", [key.public_key()])
    slot = root / "dev/disk/by-partlabel/rootfs-a"
    slot.parent.mkdir(parents=True)
    slot.write_bytes(b"\0" * MB)
    site.state.settings = replace(site.state.settings, system_root=root)
    payload, zip_path = tmp_path / "rootfs.squashfs", tmp_path / "update.zip"
    payload.write_bytes(PAYLOAD)
    write_update_zip(zip_path, FIELDS, {"rootfs": payload}, [key])
    return site, zip_path.read_bytes()


def test_a_signed_update_is_verified_and_not_pretended_installed(
    image_site: tuple[Site, bytes],
) -> None:
    """No slots (not a running image): the update is verified, said so, and nothing installs."""
    site, content = image_site
    answer = upload(site.logged_in("installer"), content)
    verdict = Verdict.model_validate(answer.json())
    assert answer.status == 200 and verdict.ok is False
    assert "chargeos,qemu-x86_64 is signed by key" in verdict.summary
    assert verdict.summary.endswith(f" and {update.ONLY_ON_AN_IMAGE}.")
    assert "version 0.3.0 (running 0.2.0, version floor 0.1.0)" in verdict.details
    assert verdict.details[-1].startswith("Nothing was installed")
    assert leftovers(site) == []


def test_a_flipped_payload_byte_is_named_in_the_verdict(image_site: tuple[Site, bytes]) -> None:
    site, content = image_site
    damaged = bytearray(content)
    damaged[damaged.index(PAYLOAD[:64]) + 100] ^= 0xFF
    verdict = upload(site.logged_in("installer"), bytes(damaged)).json()
    assert verdict["ok"] is False
    assert "rootfs.squashfs is damaged or was changed after signing" in verdict["summary"]
    assert leftovers(site) == []


def test_an_update_larger_than_the_slot_is_refused(image_site: tuple[Site, bytes]) -> None:
    site, content = image_site
    (site.state.settings.system_root / "dev/disk/by-partlabel/rootfs-a").write_bytes(b"\0" * 4096)
    verdict = upload(site.logged_in("installer"), content).json()
    assert "larger than this charger's system slot" in verdict["summary"]


def test_a_development_system_says_it_verifies_no_update(site: Site, tmp_path: Path) -> None:
    site.state.settings = replace(site.state.settings, system_root=tmp_path / "checkout")
    verdict = upload(site.logged_in("installer"), update_zip_signed(tmp_path)).json()
    assert verdict["summary"] == (
        "This charger has no update signing keys: it cannot verify any update."
    )


def update_zip_signed(tmp_path: Path) -> bytes:
    """A well-formed signed update (by a key no charger here trusts)."""
    payload, zip_path = tmp_path / "rootfs.squashfs", tmp_path / "signed.zip"
    payload.write_bytes(PAYLOAD)
    write_update_zip(zip_path, FIELDS, {"rootfs": payload}, [Ed25519PrivateKey.generate()])
    return zip_path.read_bytes()


def test_a_damaged_system_description_is_said_plainly(site: Site, tmp_path: Path) -> None:
    root = write_system_root(tmp_path / "root", [], version="one")
    site.state.settings = replace(site.state.settings, system_root=root)
    verdict = upload(site.logged_in("installer"), update_zip_signed(tmp_path)).json()
    assert verdict["summary"].startswith("This charger cannot check updates")
    assert "version: 'one' is not a version" in verdict["details"][0]


def test_without_javascript_the_verdict_is_shown_on_the_admin_page(site: Site) -> None:
    agent = site.logged_in("installer")
    agent.get("/admin")
    writer = aiohttp.MultipartWriter("form-data")
    writer.append(b"PK\x03\x04 cut short").set_content_disposition(
        "form-data", name="update", filename="update.zip"
    )
    answer = send(agent, "POST", "/admin/update", data=writer)
    page = answer.body.decode()
    assert answer.status == 200 and 'role="alert"' in page
    assert "The zip file is incomplete (truncated)" in page


@pytest.fixture
def capped_site(tmp_path: Path) -> Iterator[Site]:
    """A charger that accepts update files of at most 16 MB (the profile's smallest cap)."""
    opened = open_site(tmp_path / "data", edit={"webui.upload_limit_mb": 16})
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["announced length", "chunked"])
def test_an_upload_over_the_cap_gets_413_and_leaves_nothing(
    capped_site: Site, chunked: bool
) -> None:
    too_big = b"\0" * (17 * MB)
    answer = upload(capped_site.logged_in("installer"), too_big, chunked=chunked)
    assert answer.status == 413
    assert "larger than the 16 MB this charger accepts" in answer.json()["summary"]
    assert leftovers(capped_site) == []
    # the charger still takes an update of the right size afterwards
    assert upload(capped_site.logged_in("ev"), update_zip()).status == 200


@pytest.mark.parametrize(
    "filename", ["../../etc/passwd", "..\\..\\windows\\update.zip", "/tmp/x.zip", "update.zip"]
)
def test_the_browsers_file_name_never_becomes_a_path(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filename: str
) -> None:
    seen: list[Path] = []

    def recording(path: Path, system: RunningSystem) -> Verdict:
        seen.append(path)
        return verify_update(path, system)

    monkeypatch.setattr(update, "verify_update", recording)
    escape = str(tmp_path / "escaped.zip") if filename == "/tmp/x.zip" else filename
    verdict = upload(site.logged_in("installer"), update_zip(), filename=escape).json()
    assert verdict["ok"] is False and "not a ChargeOS update" in verdict["summary"]
    (path,) = seen
    assert path.parent == site.state.settings.uploads_dir
    assert re.fullmatch(r"update-[0-9a-f]{16}\.zip", path.name), path.name
    assert not (tmp_path / "escaped.zip").exists()
    assert leftovers(site) == []


def test_an_announced_length_that_would_fill_the_data_partition_is_refused(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = SimpleNamespace(total=512 * MB, used=492 * MB, free=20 * MB)
    monkeypatch.setattr("webui.upload.shutil.disk_usage", lambda path: usage)
    answer = upload(site.logged_in("installer"), b"\0" * (8 * MB))
    assert answer.status == 507
    verdict = answer.json()
    assert verdict["summary"] == "Not enough free space on the charger for this update."
    assert "20 MB free" in verdict["details"][0] and "16 MB stay free" in verdict["details"][0]
    assert leftovers(site) == []


@pytest.mark.parametrize("chunked", [False, True], ids=["announced length", "chunked"])
def test_an_upload_stops_when_the_disk_fills_meanwhile_and_leaves_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    """Other writers (logs, transactions) or a lying length: the reserve is kept while streaming."""
    uploads = site.state.settings.uploads_dir
    sizes: list[int] = []

    def shrinking(path: Path) -> SimpleNamespace:
        written = sum(p.stat().st_size for p in uploads.glob("update-*.zip"))
        sizes.append(written)
        return SimpleNamespace(total=512 * MB, used=0, free=26 * MB - 2 * written)

    monkeypatch.setattr("webui.upload.shutil.disk_usage", shrinking)
    answer = upload(site.logged_in("installer"), b"\0" * (8 * MB), chunked=chunked)
    assert answer.status == 507
    assert answer.json()["summary"].startswith("The charger's storage is too full for this update")
    assert 0 < max(sizes) < 8 * MB  # stopped midway
    assert leftovers(site) == []


def test_a_second_upload_waits_for_the_first(site: Site) -> None:
    uploads = site.state.settings.uploads_dir
    uploads.mkdir(parents=True)
    installer = site.logged_in("installer")
    with receiving.upload_slot(uploads) as free:
        assert free
        answer = upload(installer, update_zip())
    assert answer.status == 409
    assert "Another update is being uploaded" in answer.json()["summary"]
    assert upload(installer, update_zip()).status == 200


# ----- service control ----------------------------------------------------------------------
@contextmanager
def supervisord(run_dir: Path, programs: str = DUMMY_PROGRAMS) -> Iterator[Path]:
    """A real supervisord with dummy programs on run_dir/supervisor.sock (as the webapp's)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "supervisor.sock"
    conf = run_dir / "supervisord.conf"
    conf.write_text(
        f"[unix_http_server]\nfile={socket_path}\nchmod=0700\n\n"
        f"[supervisord]\nnodaemon=true\nlogfile={run_dir / 'supervisord.log'}\n"
        f"pidfile={run_dir / 'supervisord.pid'}\nchildlogdir={run_dir}\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        + programs,
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [str(SUPERVISORD), "-n", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(POLLS):
            states = asyncio.run(_states_or_none(socket_path))
            if states is not None and states.get("evse") == "RUNNING":
                break
            assert process.poll() is None, f"supervisord exited: {process.returncode}"
            time.sleep(POLL_S)
        else:
            raise AssertionError(f"supervisord did not start evse on {socket_path}")
        yield socket_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def _states_or_none(socket_path: Path) -> dict[str, str] | None:
    try:
        return {p.name: p.state for p in await Supervisor(socket_path).programs()}
    except ConnectionError:
        return None


def programs(site: Site) -> dict[str, ProgramState]:
    """What supervisord reports now, through the webapp's own client."""
    listed = site.run(Supervisor(site.state.settings.supervisor_socket).programs())
    return {program.name: program for program in listed}


def wait_for(site: Site, check: Any, what: str) -> None:
    """Let the site's loop run (delayed tasks live there) until `check()` holds."""
    for _ in range(POLLS):
        if check():
            return
        site.run(asyncio.sleep(POLL_S))
    raise AssertionError(f"waited in vain for {what}")


def command(agent: Agent, name: str) -> tuple[int, str]:
    """Press a Service Control button."""
    agent.get("/admin")
    answer = agent.post("/admin/service", {"command": name})
    return answer.status, answer.text


def test_service_control_restarts_programs_and_reports_states_and_versions(site: Site) -> None:
    with supervisord(site.data_dir / "run"):
        installer = site.logged_in("installer")
        page = installer.get("/admin").text
        assert "Service Control" in page and "EVSE(s)" in page and "RUNNING" in page
        assert "Service control not available" not in page
        assert site.state.settings.version in page
        scc_row = page[page.index("SCC client") :].split("</tr>")[0]
        assert "not available" in scc_row

        before = programs(site)["evse"].pid
        status, text = command(installer, "evse.restart")
        assert status == 200 and "evse: restarted, now RUNNING" in text
        assert programs(site)["evse"].pid not in (0, before)

        status, text = command(installer, "sshd.start")  # not a ChargeOS program
        assert status == 409 and "Debug SSH exists only on a ChargeOS device" in text
        assert "scc is not available on this charger" in command(installer, "scc.start")[1]

        evse_pid, webapp_pid = programs(site)["evse"].pid, programs(site)["webapp"].pid
        status, text = command(installer, "os.restart")
        assert status == 200 and "evse: restarted, now RUNNING" in text
        assert "The web app restarts in a few seconds" in text
        after = programs(site)
        assert after["evse"].pid not in (0, evse_pid)
        assert after["webapp"].pid == webapp_pid  # the web app goes last, after the answer
        wait_for(
            site,
            lambda: programs(site)["webapp"].pid not in (0, webapp_pid),
            "supervisord to start the web app again",
        )


def test_service_control_says_so_when_supervisord_does_not_answer(site: Site) -> None:
    installer = site.logged_in("installer")
    assert "Service control not available" in installer.get("/admin").text
    status, text = command(installer, "evse.restart")
    assert status == 503
    assert "Service control not available" in text


def test_an_unknown_service_command_is_refused(site: Site) -> None:
    assert command(site.logged_in("installer"), "evse.format-disk")[0] == 400


def test_the_ev_login_is_refused_service_control(site: Site) -> None:
    with supervisord(site.data_dir / "run"):
        before = programs(site)["evse"].pid
        ev = site.logged_in("ev")
        page = ev.get("/admin").text
        assert "System Update" in page and "System Logs" in page
        assert "Service Control" not in page and "/admin/service" not in page
        for name in ("evse.restart", "os.restart", "webapp.restart", "sshd.start"):
            assert command(ev, name)[0] == 403, name
        assert programs(site)["evse"].pid == before


def test_only_a_running_image_may_reboot(tmp_path: Path) -> None:
    marker = tmp_path / "chargeos-image"
    assert not admin.running_image(marker, {})
    assert admin.running_image(marker, {"CHARGEOS_IMAGE": "1"})
    marker.touch()
    assert admin.running_image(marker, {})


def test_on_an_image_restart_os_reboots_through_the_privileged_helper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARGEOS_IMAGE", "1")
    monkeypatch.setattr(restarts, "REBOOT_COMMAND", ("false",))  # never this host's reboot
    reboots: list[str] = []

    async def reboot() -> str:
        reboots.append("reboot")
        return "reboot requested (exit status 0)"

    async def restart_os() -> str:
        with tempfile.TemporaryDirectory(prefix="helper-", dir="/tmp") as folder:
            config = HelperConfig(
                socket_path=Path(folder) / "helper.sock", group_id=os.getgid(),
                group_name="testers", uploads_dir=tmp_path, update_dir=tmp_path / "update",
                slots=SlotSet(devices={}, grubenv=tmp_path / "grubenv"), reboot=reboot,
            )  # fmt: skip
            async with await PrivilegedHelper(config).serve():
                return await restarts.reboot_image(config.socket_path)

    assert asyncio.run(restart_os()) == "reboot requested (exit status 0)"
    assert reboots == ["reboot"]
    gone = asyncio.run(restarts.reboot_image(tmp_path / "no-helper.sock"))
    assert gone.startswith(f"reboot failed: the privileged helper does not answer on {tmp_path}")


# ----- system logs --------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["installer", "ev"])
def test_system_logs_download_as_a_valid_tar_gz_and_leave_nothing_behind(
    site: Site, role: str
) -> None:
    logs = site.data_dir / "log"
    (logs / "old").mkdir(parents=True)
    (logs / "evse.log").write_text("evse started\n" * 1000, encoding="utf-8")
    (logs / "old" / "webapp.log.1").write_bytes(b"rotated\n")
    agent = site.logged_in(role)
    answer = send(agent, "GET", "/admin/logs.tar.gz")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/gzip"
    assert answer.headers["Content-Security-Policy"]  # headers set before streaming
    name = re.search(r'filename="([^"]+)"', answer.headers["Content-Disposition"])
    assert name and re.fullmatch(r"chargeos-logs_VT_\d{7}_\d{8}T\d{6}Z\.tar\.gz", name.group(1))
    root = name.group(1).removesuffix(".tar.gz")
    with tarfile.open(fileobj=io.BytesIO(answer.body), mode="r:gz") as archive:
        names = set(archive.getnames())
        assert {f"{root}/about.txt", f"{root}/event-log.txt", f"{root}/log/evse.log"} <= names
        assert f"{root}/log/old/webapp.log.1" in names
        evse_log = archive.extractfile(f"{root}/log/evse.log")
        assert evse_log is not None and evse_log.read() == b"evse started\n" * 1000
        about = archive.extractfile(f"{root}/about.txt")
        assert about is not None and site.state.settings.version in about.read().decode()
    assert leftovers(site) == []
