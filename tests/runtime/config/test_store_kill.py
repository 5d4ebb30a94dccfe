"""Kills while saving: after a SIGKILL at any instant the profile is the old or the new one.

A helper process saves a profile in a loop, alternating one value; the test kills it after a
random (seeded) delay, fifty times, and checks the file on disk after every kill.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.config.loader import parse_profile
from runtime.config.store import ConfigStore
from tests.soak import rounds

REPO = Path(__file__).resolve().parents[3]
HELPER = Path(__file__).parent / "save_forever.py"
SMALL = Path(__file__).parent / "fixtures" / "small.yaml"
KEY = "electrical.current_limit_a"
VALUE_A, VALUE_B = 16, 20
RUNS = rounds(50, 500)  # `make soak`: ten times as many
MAX_SAVES = 100_000
READY_TIMEOUT_S = 60


def texts_for_both_values(path: Path) -> tuple[str, str]:
    store = ConfigStore.open(path)
    store.set(KEY, VALUE_A)
    text_a = store.text
    store.set(KEY, VALUE_B)
    return text_a, store.text


def start_saving(profile: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, str(HELPER), str(profile), KEY, str(VALUE_A), str(VALUE_B)]
    process = subprocess.Popen(
        [*command, str(MAX_SAVES)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_S)
    line = process.stdout.readline() if readable else b""
    if line != b"ready\n":
        process.kill()
        _, stderr = process.communicate(timeout=30)
        pytest.fail(f"save_forever.py did not start: {stderr.decode(errors='replace')}")
    return process


@pytest.mark.slow
@pytest.mark.soak
def test_kill_while_saving_leaves_the_old_or_the_new_profile(tmp_path: Path) -> None:
    profile = tmp_path / "profile.yaml"
    shutil.copyfile(SMALL, profile)
    text_a, text_b = texts_for_both_values(profile)
    assert text_a != text_b
    profile.write_text(text_a)
    rng = random.Random(61851)

    for run in range(RUNS):
        process = start_saving(profile)
        try:
            time.sleep(rng.uniform(0.005, 0.150))
        finally:
            process.kill()
            process.communicate(timeout=30)

        on_disk = profile.read_text()
        assert on_disk in (text_a, text_b), f"run {run}: torn profile after SIGKILL"
        parse_profile(on_disk, str(profile))
        assert sorted(tmp_path.glob("*.yaml")) == [profile]
        leftovers = [p.name for p in tmp_path.iterdir() if p != profile]
        assert all(name.startswith(".profile.yaml.tmp-") for name in leftovers), leftovers

    ConfigStore.open(profile)
    assert sorted(tmp_path.iterdir()) == [profile]
