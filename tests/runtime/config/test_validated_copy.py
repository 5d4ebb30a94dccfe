"""evse and the simulation read the active profile through a validated copy: the same model as
the full YAML path, without the YAML parser when neither the text nor the schema changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.config.errors import ProfileInvalid
from runtime.config.loader import load_profile
from runtime.config.validated_copy import copy_path, load_active_profile, schema_fingerprint

REPO = Path(__file__).resolve().parents[3]
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))
# A fresh interpreter: which modules one load imported, and the value it read.
LOAD = """
import sys
from pathlib import Path
from runtime.config.validated_copy import load_active_profile
profile = load_active_profile(Path(sys.argv[1]))
print("ruamel" in sys.modules, profile.station.model)
"""


def data_dir_with(tmp_path: Path, profile: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    shutil.copyfile(profile, data / "profile.yaml")
    return data


def load_in_a_new_process(data_dir: Path) -> tuple[bool, str]:
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(data_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    imported, model = done.stdout.split()
    return imported == "True", model


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.name)
def test_the_copy_gives_the_very_model_the_yaml_gives(tmp_path: Path, profile: Path) -> None:
    data = data_dir_with(tmp_path, profile)
    parsed = load_profile(data / "profile.yaml").profile
    first = load_active_profile(data)  # parses the YAML and leaves the copy
    assert copy_path(data).exists()
    again = load_active_profile(data)  # from the copy
    assert first == parsed
    assert again == parsed
    assert again.model_dump(mode="python") == parsed.model_dump(mode="python")  # secrets too


def test_a_start_with_the_same_text_imports_no_yaml_parser(tmp_path: Path) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    model = load_profile(data / "profile.yaml").profile.station.model
    assert load_in_a_new_process(data) == (True, model)  # the first start parses
    assert load_in_a_new_process(data) == (False, model)  # the next one does not


def test_a_changed_text_is_parsed_again_and_the_copy_follows(tmp_path: Path) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    assert load_active_profile(data).station.model == "Source"
    text = (data / "profile.yaml").read_text()
    (data / "profile.yaml").write_text(text.replace("model: Source", "model: Changed", 1))
    assert load_active_profile(data).station.model == "Changed"
    assert load_in_a_new_process(data) == (False, "Changed")


def test_a_copy_made_by_another_schema_is_not_used(tmp_path: Path) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    model = load_active_profile(data).station.model
    copy = json.loads(copy_path(data).read_text())
    assert copy["schema_fingerprint"] == schema_fingerprint()
    copy["schema_fingerprint"] = "0" * 64  # as left by a release with another schema
    copy["document"]["station"]["model"] = "FROM-THE-OLD-COPY"
    copy_path(data).write_text(json.dumps(copy))
    assert load_active_profile(data).station.model == model
    assert json.loads(copy_path(data).read_text())["schema_fingerprint"] == schema_fingerprint()


@pytest.mark.parametrize("garbage", ["", '{"text_sha256": "ab', "[]", '{"text_sha256": 1}'])
def test_a_garbled_copy_is_replaced_and_the_yaml_read(tmp_path: Path, garbage: str) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    model = load_active_profile(data).station.model
    copy_path(data).write_text(garbage)  # e.g. a disk that lost the file's last blocks
    assert load_active_profile(data).station.model == model
    assert load_in_a_new_process(data) == (False, model)


def test_an_invalid_profile_is_refused_as_the_loader_refuses_it_and_leaves_no_copy(
    tmp_path: Path,
) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    text = (data / "profile.yaml").read_text()
    (data / "profile.yaml").write_text(
        text.replace("current_limit_a: 32", "current_limit_a: 99", 1)
    )
    with pytest.raises(ProfileInvalid) as from_the_loader:
        load_profile(data / "profile.yaml")
    with pytest.raises(ProfileInvalid) as from_the_copy:
        load_active_profile(data)
    assert str(from_the_copy.value) == str(from_the_loader.value)
    assert not copy_path(data).exists()


def test_a_missing_profile_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(ProfileInvalid, match="cannot read the profile"):
        load_active_profile(tmp_path)


def test_the_copy_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    load_active_profile(data)
    assert copy_path(data).stat().st_mode & 0o777 == 0o600


def test_a_reader_that_must_not_keep_a_copy_only_reads_one(tmp_path: Path) -> None:
    data = data_dir_with(tmp_path, REPO / "profiles" / "simulated.yaml")
    parsed = load_active_profile(data, keep_copy=False)  # the health check, as root
    assert not copy_path(data).exists()
    load_active_profile(data)  # evse leaves one
    copy_path(data).chmod(0o400)
    assert load_active_profile(data, keep_copy=False) == parsed
