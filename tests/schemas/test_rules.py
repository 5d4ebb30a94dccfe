"""Property tests of the profile rules: current limits, phase rotation, misspelt keys.

Phase rotation follows manual 4.2.3: the setting names the grid phases that charger L1, L2
and L3 are wired to, and CT1, CT2, CT3 are clamped on those grid phases in that order.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from profile_cases import Section, profile_sections

from runtime.config.errors import ProfileError, ProfileInvalid
from runtime.config.loader import parse_profile
from runtime.config.yaml_io import dump_document
from schemas import Profile
from schemas.electrical import Electrical, PhaseRotation

PROPERTY = settings(max_examples=200, deadline=None)

# Manual 4.2.3, "Fasen rotatie": the grid phase each clamp goes on, CT1, CT2, CT3.
MANUAL_CLAMP_PHASES: dict[str, tuple[int, int, int]] = {
    "RST": (1, 2, 3),  # CT1 on L1, CT2 on L2, CT3 on L3
    "RTS": (1, 3, 2),  # CT1 on L1, CT2 on L3, CT3 on L2
    "SRT": (2, 1, 3),  # CT1 on L2, CT2 on L1, CT3 on L3
    "STR": (2, 3, 1),  # CT1 on L2, CT2 on L3, CT3 on L1
    "TRS": (3, 1, 2),  # CT1 on L3, CT2 on L1, CT3 on L2
    "TSR": (3, 2, 1),  # CT1 on L3, CT2 on L2, CT3 on L1
}

# `kind` selects the external metering member, so a misspelt `kind` is a separate case below.
DISCRIMINATOR = "kind"
SECTIONS = [
    section
    for section in profile_sections()
    if any(field != DISCRIMINATOR for field in section.fields)
]


def _errors_of(document: dict[str, Any]) -> tuple[ProfileError, ...]:
    try:
        parse_profile(dump_document(document), "rules.yaml")
    except ProfileInvalid as invalid:
        return invalid.errors
    return ()


@st.composite
def electrical_settings(draw: st.DrawFn) -> dict[str, Any]:
    phases = draw(st.sampled_from([1, 3]))
    rotation = PhaseRotation.RST if phases == 1 else draw(st.sampled_from(PhaseRotation))
    return {
        "phases": phases,
        "phase_rotation": rotation.value,
        "current_limit_a": draw(st.integers(min_value=6, max_value=63)),
        "cable_limit_a": draw(st.sampled_from([13, 20, 32, 63])),
    }


@PROPERTY
@given(electrical_settings())
def test_valid_electrical_settings_validate_within_their_limit(settings_: dict[str, Any]) -> None:
    electrical = Electrical.model_validate(settings_)
    profile = Profile.model_validate({"electrical": settings_})
    assert profile.electrical == electrical
    assert electrical.effective_limit_a <= electrical.current_limit_a
    assert electrical.effective_limit_a <= electrical.cable_limit_a
    assert electrical.effective_limit_a >= 6


@PROPERTY
@given(st.sampled_from(PhaseRotation))
def test_phase_rotation_maps_charger_phases_onto_a_permutation_of_grid_phases(
    rotation: PhaseRotation,
) -> None:
    grid_phases = tuple(rotation.grid_phase_of(phase) for phase in (1, 2, 3))
    assert sorted(grid_phases) == [1, 2, 3]
    assert grid_phases == MANUAL_CLAMP_PHASES[rotation.value]


def test_phase_rotation_offers_every_permutation_once() -> None:
    permutations = {"".join(p) for p in itertools.permutations("RST")}
    assert {rotation.value for rotation in PhaseRotation} == permutations
    assert set(MANUAL_CLAMP_PHASES) == permutations


OUT_OF_RANGE_CURRENTS = st.one_of(
    st.integers(max_value=5),
    st.integers(min_value=64),
    st.floats(max_value=6, exclude_max=True, allow_nan=False, allow_infinity=False),
    st.floats(min_value=63, exclude_min=True, allow_nan=False, allow_infinity=False),
)


@PROPERTY
@given(OUT_OF_RANGE_CURRENTS)
def test_current_limit_outside_6_to_63_is_rejected_at_its_key(current: float) -> None:
    errors = _errors_of({"electrical": {"current_limit_a": current}})
    assert [error.path for error in errors] == ["electrical.current_limit_a"]
    assert errors[0].line == 2


def _swaps(word: str) -> set[str]:
    return {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_slip_apart(typo: str, key: str) -> bool:
    """`typo` is `key` with two neighbours swapped, one letter dropped or one letter added."""
    return typo in _swaps(key) | _deletions(key) or key in _deletions(typo)


@st.composite
def misspellings(draw: st.DrawFn) -> tuple[Section, str, str]:
    """A section, one of its keys, and that key with two neighbours swapped or one deleted.

    A typo that is one slip from another key of the section too (`http_sport` is both
    `https_port` swapped and `http_port` plus an s) has no single right suggestion; those are
    left to `test_ambiguous_misspelling_suggests_one_of_the_close_keys`.
    """
    section = draw(st.sampled_from(SECTIONS))
    key = draw(st.sampled_from([f for f in section.fields if f != DISCRIMINATOR]))
    typo = draw(st.sampled_from(sorted(_swaps(key) | _deletions(key))))
    assume(typo and typo not in section.fields)
    assume(not any(_one_slip_apart(typo, other) for other in section.fields if other != key))
    return section, key, typo


@PROPERTY
@given(misspellings())
def test_misspelt_key_is_unknown_and_the_meant_key_is_suggested(
    case: tuple[Section, str, str],
) -> None:
    section, key, typo = case
    errors = _errors_of(section.document(typo, 1))
    suggestion = f"unknown key {typo!r}; did you mean {key!r}?"
    assert any(
        error.path == section.dotted(typo) and suggestion in error.message for error in errors
    ), "\n".join(map(str, errors))


@pytest.mark.parametrize("typo", ["http_sport", "httsp_port"])
def test_ambiguous_misspelling_suggests_one_of_the_close_keys(typo: str) -> None:
    errors = _errors_of({"webui": {typo: 8443}})
    assert [error.path for error in errors] == [f"webui.{typo}"]
    assert any(f"did you mean {key!r}?" in errors[0].message for key in ("https_port", "http_port"))


@pytest.mark.parametrize("typo", ["knid", "kid"])
def test_misspelt_external_metering_kind_is_unknown_and_suggested(typo: str) -> None:
    document = {"metering": {"external": {typo: "ct_clamps", "interface": "analog"}}}
    errors = _errors_of(document)
    suggestion = f"unknown key {typo!r}; did you mean 'kind'?"
    assert any(
        error.path == f"metering.external.{typo}" and suggestion in error.message
        for error in errors
    ), "\n".join(map(str, errors))
