"""Dotted-path edits of a round-trip document: comments stay with the lines they describe."""

from __future__ import annotations

from enum import Enum

import pytest

from runtime.config.yaml_edit import ConfigPathError, assign, lookup, split_path
from runtime.config.yaml_io import dump_document, load_document

DOCUMENT = """\
electrical:
  phases: 3              # Phase Selection
  current_limit_a: 32

# External metering
metering:
  external:
    kind: ct_clamps      # none | ct_clamps | p1
    interface: analog
    clamps:
      - enabled: true    # CT1
        rating_a: 80
      - enabled: true    # CT2
        rating_a: 80

# Safety
safety:
  tilt_bump:
    enabled: true
# end
"""


class Rotation(Enum):
    TRS = "TRS"


def edited(path: str, value: object) -> str:
    document = load_document(DOCUMENT)
    assign(document, path, value)
    text = dump_document(document)
    assert dump_document(load_document(text)) == text
    return text


def test_scalar_edit_keeps_the_end_of_line_comment() -> None:
    assert edited("electrical.phases", 1) == DOCUMENT.replace(
        "phases: 3              #", "phases: 1              #"
    )


def test_new_key_goes_after_the_last_key_before_the_next_sections_comment() -> None:
    assert edited("electrical.phase_rotation", "RST") == DOCUMENT.replace(
        "  current_limit_a: 32\n", "  current_limit_a: 32\n  phase_rotation: RST\n"
    )


def test_new_list_item_goes_after_the_last_item() -> None:
    assert edited("metering.external.clamps.2", {"enabled": False, "rating_a": 50}) == (
        DOCUMENT.replace(
            "        rating_a: 80\n\n# Safety",
            "        rating_a: 80\n      - enabled: false\n        rating_a: 50\n\n# Safety",
        )
    )


def test_replacing_a_section_drops_only_the_keys_it_no_longer_has() -> None:
    text = edited("metering.external", {"kind": "p1"})

    assert "    kind: p1             # none | ct_clamps | p1\n\n# Safety\n" in text
    assert "clamps:" not in text
    assert "interface" not in text


def test_new_section_goes_before_the_closing_comment() -> None:
    text = edited("balancing.site_limit_a", 63)

    assert text.endswith("    enabled: true\nbalancing:\n  site_limit_a: 63\n# end\n")


def test_enum_values_are_stored_as_their_value() -> None:
    assert "  phase_rotation: TRS\n" in edited("electrical.phase_rotation", Rotation.TRS)


def test_lookup_walks_mappings_and_lists() -> None:
    document = load_document(DOCUMENT)

    assert lookup(document, "metering.external.clamps.1.rating_a") == 80
    assert lookup(document, "electrical")["phases"] == 3


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("electrical.current_limit_a.max", "is a value, not a section"),
        ("metering.external.clamps.first", "indexed by number"),
        ("metering.external.clamps.5", "past the end"),
        ("metering.external.clamps.5.rating_a", "clamps.5: not in the profile"),
    ],
)
def test_paths_that_lead_nowhere_are_refused(path: str, message: str) -> None:
    document = load_document(DOCUMENT)

    with pytest.raises(ConfigPathError, match=message):
        if path.endswith("rating_a"):
            lookup(document, path)
        else:
            assign(document, path, 1)

    assert dump_document(document) == DOCUMENT


@pytest.mark.parametrize("path", ["", "electrical.", ".phases", "a..b"])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigPathError, match="not a dotted path"):
        split_path(path)
