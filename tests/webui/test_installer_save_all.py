"""The Installer page's "save all configuration + calibrate" saves every section in one go."""

from __future__ import annotations

import difflib
import re
from html.parser import HTMLParser

from tests.webui.inprocess import Site


class Inputs(HTMLParser):
    """The values the Installer page's one form would submit as it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        name = found.get("name", "")
        if tag == "input" and name and name != "csrf_token":
            if found.get("type") == "checkbox":
                if "checked" in found:
                    self.values[name] = "on"
            else:
                self.values[name] = found.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def test_save_all_writes_changes_of_several_sections_and_nothing_else(site: Site) -> None:
    installer = site.logged_in("installer")
    page = installer.get("/installer")
    assert "Save all configuration + calibrate" in page.text
    parser = Inputs()
    parser.feed(page.text)
    before = site.profile_path.read_text()
    submitted = dict(parser.values)
    submitted["electrical.current_limit_a"] = "20"
    submitted["safety.tilt_bump.tilt_angle_deg"] = "25"
    submitted["form"] = "all"
    answer = installer.post("/installer", submitted)
    assert answer.status == 200, answer.text[:200]
    changed = [
        line
        for line in difflib.unified_diff(
            before.splitlines(), site.profile_path.read_text().splitlines(), lineterm="", n=0
        )
        if re.match(r"^[+-] ", line)
    ]
    assert len(changed) == 4, changed  # two lines out, two lines in
    assert any("current_limit_a: 20" in line for line in changed)
    assert any("tilt_angle_deg: 25" in line for line in changed)


def test_save_all_with_one_bad_value_saves_nothing(site: Site) -> None:
    installer = site.logged_in("installer")
    parser = Inputs()
    parser.feed(installer.get("/installer").text)
    before = site.profile_path.read_text()
    submitted = dict(parser.values, form="all")
    submitted["electrical.current_limit_a"] = "20"
    submitted["safety.tilt_bump.bump_acceleration_g"] = "99"
    answer = installer.post("/installer", submitted)
    assert answer.status == 400
    assert "Bump Acceleration [1 - 15g]" in answer.text
    assert site.profile_path.read_text() == before
