"""The config store: an edit changes exactly its line, an invalid edit changes nothing."""

from __future__ import annotations

import difflib
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.config import store as store_module
from runtime.config.atomic import temp_prefix
from runtime.config.errors import ProfileError, ProfileInvalid
from runtime.config.loader import parse_profile
from runtime.config.store import ConfigStore
from runtime.config.yaml_edit import ConfigPathError, lookup

REPO = Path(__file__).resolve().parents[3]
SMALL = Path(__file__).parent / "fixtures" / "small.yaml"
PROFILES = [*sorted((REPO / "profiles").glob("*.yaml")), SMALL]

# A scalar to change in any profile: the first of these the file sets, and a valid new value.
ONE_LINE_EDITS: tuple[tuple[str, Callable[[int], int]], ...] = (
    ("electrical.current_limit_a", lambda a: a + 1 if a < 63 else a - 1),
    ("safety.tilt_bump.tilt_angle_deg", lambda deg: deg + 1 if deg < 80 else deg - 1),
    ("csms.heartbeat_interval_s", lambda s: s + 1),
)


def copy_to(tmp_path: Path, source: Path) -> Path:
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    return path


def changed_lines(before: str, after: str) -> list[tuple[list[str], list[str]]]:
    """(old lines, new lines) of every block that differs."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    return [
        (old[i1:i2], new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def comment_of(line: str) -> str:
    return line.partition("#")[2]


def an_edit_for(store: ConfigStore) -> tuple[str, int]:
    document = parse_profile(store.text, str(store.path)).document
    for path, new_value in ONE_LINE_EDITS:
        try:
            current = lookup(document, path)
        except ConfigPathError:
            continue
        return path, new_value(int(current))
    raise AssertionError(f"no path of {[p for p, _ in ONE_LINE_EDITS]} is set in the profile")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return copy_to(tmp_path, SMALL)


@pytest.mark.parametrize("source", PROFILES, ids=lambda p: p.name)
def test_changing_one_value_changes_exactly_its_line(tmp_path: Path, source: Path) -> None:
    path = copy_to(tmp_path, source)
    before = path.read_text()
    store = ConfigStore.open(path)
    key, value = an_edit_for(store)

    store.set(key, value)
    store.save()

    after = path.read_text()
    [(old, new)] = changed_lines(before, after)
    assert len(old) == len(new) == 1
    assert key.rsplit(".", 1)[-1] in new[0]
    assert comment_of(new[0]) == comment_of(old[0])
    assert ConfigStore.open(path).get(key) == value


@pytest.mark.parametrize("source", PROFILES, ids=lambda p: p.name)
def test_every_profile_round_trips_byte_for_byte(source: Path) -> None:
    assert ConfigStore.open(source).text == source.read_text()


def test_out_of_range_value_is_refused_and_nothing_changes(small: Path) -> None:
    before = small.read_bytes()
    store = ConfigStore.open(small)

    with pytest.raises(ProfileInvalid) as refused:
        store.set("electrical.current_limit_a", 99)

    assert "electrical.current_limit_a" in str(refused.value)
    assert store.get("electrical.current_limit_a") == 25
    assert store.text == before.decode()
    store.save()
    assert small.read_bytes() == before


def test_error_points_at_the_line_of_the_bad_value(small: Path) -> None:
    store = ConfigStore.open(small)

    with pytest.raises(ProfileInvalid) as refused:
        store.set("electrical.current_limit_a", 99)

    [error] = refused.value.errors
    assert error == ProfileError(
        str(small), 8, error.column, "electrical.current_limit_a", error.message
    )


def test_update_applies_changes_that_are_only_valid_together(small: Path) -> None:
    store = ConfigStore.open(small)
    one_phase = {
        "electrical.phases": 1,
        "metering.external.clamps.1.enabled": False,
        "metering.external.clamps.2.enabled": False,
    }
    with pytest.raises(ProfileInvalid, match="site clamp"):
        store.set("electrical.phases", 1)

    store.update(one_phase)
    store.save()

    reopened = ConfigStore.open(small)
    assert {key: reopened.get(key) for key in one_phase} == one_phase
    changes = changed_lines(SMALL.read_text(), small.read_text())
    assert [(len(old), len(new)) for old, new in changes] == [(1, 1)] * 3


def test_failed_update_leaves_the_store_exactly_as_it_was(small: Path) -> None:
    store = ConfigStore.open(small)
    store.set("safety.tilt_bump.tilt_angle_deg", 30)
    text, profile = store.text, store.profile

    with pytest.raises(ProfileInvalid, match=r"electrical\.current_limit_a"):
        store.update({"safety.tilt_bump.tilt_angle_deg": 40, "electrical.current_limit_a": 5})

    assert store.text == text
    assert store.profile == profile
    assert store.get("safety.tilt_bump.tilt_angle_deg") == 30


def test_edits_reach_the_disk_only_on_save(small: Path) -> None:
    before = small.read_bytes()
    store = ConfigStore.open(small)

    store.set("electrical.current_limit_a", 16)

    assert small.read_bytes() == before
    assert store.profile.electrical.current_limit_a == 16
    store.save()
    assert small.read_text() == store.text


def test_save_validates_again_and_rolls_back_to_the_saved_profile(
    small: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = small.read_bytes()
    store = ConfigStore.open(small)
    store.set("electrical.current_limit_a", 16)
    refusal = ProfileInvalid([ProfileError(str(small), 1, 1, "(profile)", "refused")])

    def refuse(text: str, source: str) -> Any:
        raise refusal

    monkeypatch.setattr(store_module, "parse_profile", refuse)

    with pytest.raises(ProfileInvalid, match="refused"):
        store.save()

    assert small.read_bytes() == before
    assert store.get("electrical.current_limit_a") == 25
    assert store.text == before.decode()


def test_missing_valid_key_is_added_at_the_end_of_its_section(small: Path) -> None:
    store = ConfigStore.open(small)

    store.set("electrical.frequency_hz", 60)
    store.save()

    [(old, new)] = changed_lines(SMALL.read_text(), small.read_text())
    assert (old, new) == ([], ["  frequency_hz: 60\n"])
    lines = small.read_text().splitlines()
    assert lines[lines.index("  frequency_hz: 60") - 1] == "  cable_limit_a: 32"


def test_missing_section_is_added_with_its_key(small: Path) -> None:
    store = ConfigStore.open(small)

    store.set("balancing.site_limit_a", 63)
    store.save()

    [(old, new)] = changed_lines(SMALL.read_text(), small.read_text())
    assert (old, new) == ([], ["balancing:\n", "  site_limit_a: 63\n"])
    assert small.read_text().endswith("# end of profile\n")


def test_unknown_key_is_refused_with_the_key_that_was_meant(small: Path) -> None:
    store = ConfigStore.open(small)

    with pytest.raises(ProfileInvalid, match="did you mean 'current_limit_a'"):
        store.set("electrical.current_limt_a", 20)

    assert store.text == SMALL.read_text()


def test_list_items_are_addressed_by_index(small: Path) -> None:
    store = ConfigStore.open(small)

    store.set("metering.external.clamps.1.rating_a", 100)

    assert store.get("metering.external.clamps.1.rating_a") == 100
    assert store.get("metering.external.clamps.0.rating_a") == 80
    assert store.profile.metering.external.clamps[1].rating_a == 100  # type: ignore[union-attr]


def test_quoted_strings_stay_quoted(small: Path) -> None:
    store = ConfigStore.open(small)

    store.set("csms.ocpp_version", "2.0.1")
    store.save()

    [([old], [new])] = changed_lines(SMALL.read_text(), small.read_text())
    assert new.startswith('  ocpp_version: "2.0.1" ')
    assert new.index("# quoted") == old.index("# quoted")


def test_get_gives_the_default_of_a_key_the_file_omits(small: Path) -> None:
    store = ConfigStore.open(small)

    assert store.get("electrical.frequency_hz") == 50
    assert store.get("balancing.site_limit_a") == 100.0


def test_get_of_an_unknown_path_names_it(small: Path) -> None:
    store = ConfigStore.open(small)

    with pytest.raises(ConfigPathError, match=r"electrical\.nonsense"):
        store.get("electrical.nonsense")


def test_values_a_profile_cannot_hold_are_refused(small: Path) -> None:
    store = ConfigStore.open(small)

    with pytest.raises(TypeError, match=r"electrical\.current_limit_a"):
        store.set("electrical.current_limit_a", object())

    assert store.text == SMALL.read_text()


def test_reset_to_replaces_the_profile_but_refuses_an_invalid_one(small: Path) -> None:
    store = ConfigStore.open(small)
    default = "schema_version: 1\n"

    with pytest.raises(ProfileInvalid):
        store.reset_to("schema_version: 2\n")
    assert small.read_text() == SMALL.read_text()

    store.reset_to(default)
    assert small.read_text() == default
    assert store.get("electrical.current_limit_a") == 32


def test_save_keeps_the_file_mode(small: Path) -> None:
    small.chmod(0o640)
    store = ConfigStore.open(small)

    store.set("electrical.current_limit_a", 16)
    store.save()

    assert stat.S_IMODE(small.stat().st_mode) == 0o640


def test_open_removes_temp_files_a_crashed_save_left(small: Path) -> None:
    stale = small.parent / f"{temp_prefix(small)}k3j2h1"
    stale.write_text("electrical:\n  current_li")

    ConfigStore.open(small)

    assert sorted(small.parent.iterdir()) == [small]
