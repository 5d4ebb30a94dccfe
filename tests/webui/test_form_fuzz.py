"""Every settings form as the browser sees it, submitted with hostile values: never a 500.

The forms are read from the rendered pages (not from the page modules), so a page added later
is fuzzed too. Whatever is typed, the answer is a page (2xx) or a refusal (4xx/503), and the
profile on disk stays a valid profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.config.loader import load_profile
from tests.webui.inprocess import Site
from tests.webui.test_route_table import route_cases

# Actions that end the session or restart processes: their own tests cover them.
SKIPPED_ACTIONS = frozenset({"/logout", "/admin/service", "/admin/update", "/account"})
HOSTILE = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "-1",
            "0",
            "1e309",
            "nan",
            "inf",
            "99999999999999999999",
            "1,5",
            "0x10",
            "<script>",
            "../../etc/passwd",
            "on",
            "true",
            "null",
            "~",
            "[]",
            "{}",
            "*",
            "&a",
        ]
    ),
    st.text(max_size=30),
)


@dataclass
class FormSeen:
    """A POST form of a page: its action and its fields with the values the page shows."""

    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)  # name -> offered values


class Forms(HTMLParser):
    """Collects the POST forms of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[FormSeen] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("method", "").lower() == "post":
            self.forms.append(FormSeen(attributes.get("action", "")))
        if not self.forms:
            return
        current = self.forms[-1]
        name = attributes.get("name")
        if tag in ("input", "button") and name:
            current.fields.setdefault(name, []).append(attributes.get("value", ""))
        elif tag == "select" and name:
            self._select = name
            current.fields.setdefault(name, [])
        elif tag == "option" and self._select:
            current.fields[self._select].append(attributes.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


@pytest.mark.slow
def test_no_form_submission_gives_a_server_error(site: Site) -> None:
    installer = site.logged_in("installer")
    forms: list[FormSeen] = []
    for case in route_cases(site):
        if case.is_page and case.path not in ("/", "/login"):
            parser = Forms()
            parser.feed(installer.get(case.path).text)
            forms += [f for f in parser.forms if f.action not in SKIPPED_ACTIONS]
    assert len(forms) >= 5, [f.action for f in forms]

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(forms), st.data())
    def submit(form: FormSeen, data: st.DataObject) -> None:
        names = sorted(set(form.fields) - {"csrf_token", "form"})
        hostile = data.draw(
            st.sets(st.sampled_from(names), max_size=3) if names else st.just(set())
        )
        values = {"form": form.fields["form"][0]} if "form" in form.fields else {}
        for name in names:  # a few fields hostile, the others as the page offers them
            offered = form.fields[name] or [""]
            choice = HOSTILE if name in hostile else st.sampled_from(offered)
            values[name] = data.draw(choice, label=name)
        answer = installer.post(form.action, values)
        assert answer.status < 500, f"POST {form.action} {values}: {answer.text[:300]}"
        load_profile(site.profile_path)  # still a valid profile on disk

    submit()
