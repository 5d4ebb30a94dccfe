"""The device's wheel, built by the image build's own step: device code only (no build pipeline,
qemu runner, OTA writer, key creation or dev runner), everything the image runs, and the
simulator only on a board that runs it."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from image.builder.context import BuildContext, BuildError, BuildLog
from image.builder.rootfs import factory_profile_text
from image.builder.wheels import build_app_wheel
from runtime.config.loader import load_model
from runtime.programs import PROGRAMS, programs_for
from schemas.image import Board

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "image"
DEVICE_TOP_LEVEL = ("schemas/", "runtime/", "webui/")
# What only the build host does: private keys, squashfs, partition tables, GRUB images, qemu.
HOST_ONLY_CODE = ("Ed25519PrivateKey", "mksquashfs", "sfdisk", "grub-mkimage", "qemu-system")
HOST_ONLY_MODULES = ("builder", "devrun", "update_zip", "signing", "qemu", "runtime/image/")


def board(name: str) -> Board:
    """A committed board description."""
    return load_model(IMAGE_DIR / "boards" / name / "board.yaml", Board)


def context(root: Path, board_name: str, profile: str = "simulated.yaml") -> BuildContext:
    """The build context `build.py image` makes, with its folders under `root`."""
    return BuildContext(
        repo=REPO,
        board=board(board_name),
        board_dir=IMAGE_DIR / "boards" / board_name,
        image_dir=IMAGE_DIR,
        profile=REPO / "profiles" / profile,
        out_dir=root / "out",
        cache_dir=root / "cache",
        source_date_epoch=0,
        version="0.1.0",
        log=BuildLog(io.StringIO()),
    )


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """Board name → the files of its app wheel (name → bytes), built once per board."""
    files: dict[str, dict[str, bytes]] = {}
    for name in ("qemu-x86_64", "rpi-cm4"):
        ctx = context(tmp_path_factory.mktemp(name), name)
        with zipfile.ZipFile(build_app_wheel(ctx)) as archive:
            files[name] = {item: archive.read(item) for item in archive.namelist()}
    return files


def modules_the_image_runs(simulated: bool) -> set[str]:
    """Every `python -m X` of the image: systemd units, supervisord programs, the update CLI;
    and the X of `python -m runtime.after_evse ... -- X`, which it runs once evse has started."""
    units = "".join(p.read_text() for p in IMAGE_DIR.glob("overlays/**/*.service"))
    modules = set(re.findall(r"(?:-m|--) ([a-z_]+(?:\.[a-z_]+)*)", units))
    modules |= {program.module for program in programs_for(simulated)}
    modules |= {"runtime.after_evse"} if any(p.after_evse for p in PROGRAMS) else set()
    return modules | {"runtime.update"}


def module_file(names: dict[str, bytes], module: str) -> bool:
    """Whether the wheel holds `module` as a module or as a package that runs with -m."""
    path = module.replace(".", "/")
    return f"{path}.py" in names or f"{path}/__main__.py" in names


@pytest.mark.parametrize("board_name", ["qemu-x86_64", "rpi-cm4"])
def test_the_device_wheel_holds_only_device_packages(
    wheel_files: dict[str, dict[str, bytes]], board_name: str
) -> None:
    names = wheel_files[board_name]
    code = [n for n in names if ".dist-info/" not in n]
    assert code and all(n.startswith(DEVICE_TOP_LEVEL) for n in code), sorted(code)
    assert not [n for n in code if any(m in n for m in HOST_ONLY_MODULES)]
    for name in code:
        if name.endswith(".py"):
            text = names[name].decode()
            assert not [w for w in HOST_ONLY_CODE if w in text], f"{name} holds host-only code"


@pytest.mark.parametrize(("board_name", "simulated"), [("qemu-x86_64", True), ("rpi-cm4", False)])
def test_the_device_wheel_carries_every_module_the_image_runs(
    wheel_files: dict[str, dict[str, bytes]], board_name: str, simulated: bool
) -> None:
    names = wheel_files[board_name]
    modules = modules_the_image_runs(simulated)
    assert {"runtime.health", "runtime.firstboot", "runtime.evse", "webui"} <= modules
    assert [m for m in sorted(modules) if not module_file(names, m)] == []
    for shared in ("boot/scheme", "boot/grubenv", "boot/slots", "update/verify", "update/keys"):
        assert f"runtime/{shared}.py" in names
    assert any(n.startswith("webui/templates/") for n in names)


def test_only_a_board_that_runs_the_simulator_gets_it(
    wheel_files: dict[str, dict[str, bytes]],
) -> None:
    assert board("qemu-x86_64").simulator and not board("rpi-cm4").simulator
    assert "runtime/sim/__main__.py" in wheel_files["qemu-x86_64"]
    assert not [n for n in wheel_files["rpi-cm4"] if n.startswith("runtime/sim/")]
    rpi_record = next(n for n in wheel_files["rpi-cm4"] if n.endswith(".dist-info/RECORD"))
    assert b"runtime/sim/" not in wheel_files["rpi-cm4"][rpi_record]


def test_a_simulated_profile_is_refused_for_a_board_with_real_hardware(tmp_path: Path) -> None:
    ctx = context(tmp_path / "rpi", "rpi-cm4")
    with pytest.raises(BuildError, match=r"rpi-cm4 ships no simulator \(simulator: false"):
        factory_profile_text(ctx)
    real = context(tmp_path / "real", "rpi-cm4", profile="three-phase-22kw-ocpp16.yaml")
    assert "simulated: false" in factory_profile_text(real)
    assert "simulated: true" in factory_profile_text(context(tmp_path / "qemu", "qemu-x86_64"))
