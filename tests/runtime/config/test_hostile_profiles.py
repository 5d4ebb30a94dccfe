"""Hostile profile files are refused quickly, located, by every reader of a profile alike.

build.py validate, the config store and first boot all read through runtime.config.profile_text:
an alias bomb ("billion laughs"), a file over the size cap, text that is not UTF-8 and nesting
too deep are each refused with FILE:LINE:COL of the offending alias or byte. The work is bounded
by caps (bytes read, values counted), so the same refusal comes from a bomb of any size.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import build
from runtime import firstboot
from runtime.config.errors import ProfileError, ProfileInvalid
from runtime.config.loader import parse_profile
from runtime.config.profile_text import MAX_DEPTH, MAX_PROFILE_BYTES, MAX_VALUES
from runtime.config.store import ConfigStore

REPO = Path(__file__).resolve().parents[3]
SIMULATED = REPO / "profiles" / "simulated.yaml"


def alias_bomb(levels: int) -> bytes:
    """Each anchor a list of nine aliases of the one before: 9**levels values when expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return ("\n".join(lines) + "\n").encode()


def not_utf8() -> bytes:
    """The simulated profile with a Latin-1 comment on its third line."""
    lines = SIMULATED.read_bytes().splitlines(keepends=True)
    lines.insert(2, "# Größe\n".encode("latin-1"))
    return b"".join(lines)


def oversized() -> bytes:
    """The simulated profile padded with a comment to one byte over the cap."""
    text = SIMULATED.read_bytes()
    return text + b"#" + b"x" * (MAX_PROFILE_BYTES - len(text) - 1) + b"\n"


def control_character() -> bytes:
    """The simulated profile with a NUL byte in the station's model."""
    return SIMULATED.read_bytes().replace(b"model: Source", b"model: So\x00urce", 1)


def too_deep() -> bytes:
    """Lists nested far deeper than any profile."""
    return b"a: " + b"[" * 100 + b"]" * 100 + b"\n"


CONTROL_AT = (11, 12)
# Where each hostile file is refused: line, column, path, the message's words.
# The bomb: after a0..a3 (8307 values) line 5 passes the cap of 16384 at its second alias.
HOSTILE: dict[str, tuple[Callable[[], bytes], int, int, str, str]] = {
    "alias-bomb": (lambda: alias_bomb(9), 5, 15, "(yaml)", "alias *a3 expands the profile past"),
    "not-utf8": (not_utf8, 3, 5, "(file)", "byte 0xf6 is not UTF-8 text"),
    "control-char": (control_character, *CONTROL_AT, "(yaml)", "character 0x00 is not allowed"),
    "too-deep": (too_deep, 1, 4 + MAX_DEPTH - 1, "(yaml)", f"nested deeper than {MAX_DEPTH}"),
}


def oversized_location() -> tuple[int, int]:
    """Line and column of the first byte past the cap (in the padding comment)."""
    lines = SIMULATED.read_bytes().count(b"\n")
    return lines + 1, MAX_PROFILE_BYTES - len(SIMULATED.read_bytes()) + 1


HOSTILE["oversized"] = (oversized, *oversized_location(), "(file)", "larger than 64 KiB")


def refusal_by_validate(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert build.main(["validate", str(path)]) == 1
    return capsys.readouterr().out.splitlines()[0]


def refusal_by_store(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(ProfileInvalid) as refused:
        ConfigStore.open(path)
    return str(refused.value.errors[0])


def refusal_by_first_boot(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    data_dir = path.parent / "data"
    data_dir.mkdir()
    (data_dir / "profile.yaml").write_bytes(path.read_bytes())
    boot = firstboot.prepare_device(data_dir, SIMULATED)  # logins from the factory profile
    assert not boot.profile_valid
    return str(boot.errors[0]).replace(str(data_dir / "profile.yaml"), str(path))


READERS = {
    "build-validate": refusal_by_validate,
    "config-store": refusal_by_store,
    "first-boot": refusal_by_first_boot,
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", HOSTILE)
def test_every_profile_reader_refuses_a_hostile_file_at_its_offending_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, reader: str
) -> None:
    content, line, column, path, words = HOSTILE[case]
    hostile = tmp_path / f"{case}.yaml"
    hostile.write_bytes(content())
    refusal = READERS[reader](hostile, capsys)
    assert refusal.startswith(f"{hostile}:{line}:{column}: {path}: "), refusal
    assert words in refusal


def test_an_alias_bomb_of_any_size_is_refused_at_the_same_alias() -> None:
    """The count stops at the cap: 9**9 and 9**40 values cost the same few thousand events."""
    for levels in (9, 40):
        with pytest.raises(ProfileInvalid) as refused:
            parse_profile(alias_bomb(levels).decode(), "bomb.yaml")
        assert refused.value.errors == (
            ProfileError(
                "bomb.yaml",
                5,
                15,
                "(yaml)",
                f"alias *a3 expands the profile past {MAX_VALUES} values (an alias bomb?); "
                "write the values out or use fewer aliases",
            ),
        )


def test_a_huge_file_is_refused_after_reading_only_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as stream:
        stream.write(b"# " + b"x" * 100 + b"\n")
        os.ftruncate(stream.fileno(), 64 * 2**30)  # 64 GiB, sparse: reading it all never ends
    refusal = refusal_by_validate(huge, capsys)
    assert refusal.startswith(f"{huge}:2:{MAX_PROFILE_BYTES - 103 + 1}: (file): ")


def test_aliases_within_the_cap_still_load(tmp_path: Path) -> None:
    text = SIMULATED.read_text()
    assert "current_limit_a: 32" in text and "cable_limit_a: 32" in text
    text = text.replace("current_limit_a: 32", "current_limit_a: &limit 32", 1)
    text = text.replace("cable_limit_a: 32", "cable_limit_a: *limit", 1)
    path = tmp_path / "aliased.yaml"
    path.write_text(text)
    assert ConfigStore.open(path).profile.electrical.cable_limit_a == 32


def test_a_factory_profile_that_is_an_alias_bomb_stops_first_boot_located(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    factory = tmp_path / "factory.yaml"
    factory.write_bytes(alias_bomb(9))
    data_dir = tmp_path / "data"
    assert firstboot.main(["--data-dir", str(data_dir), "--factory-profile", str(factory)]) == 1
    assert f"{factory}:5:15: (yaml): alias *a3 expands the profile past" in capsys.readouterr().err
    assert not (data_dir / "secrets" / "device.json").exists()
