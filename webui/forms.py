"""Settings forms as description tables: each field is a profile path with the manual's label.

A submitted form is converted field by field, applied to the config store in one update (the
whole profile is validated by the same pydantic models as the YAML), and saved atomically; any
error leaves the profile untouched and is shown next to its field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.config.errors import ProfileInvalid
from runtime.config.store import ConfigStore, ProfileNotSaved
from runtime.config.yaml_edit import ConfigPathError

log = logging.getLogger(__name__)

FieldKind = Literal["integer", "number", "text", "email", "password", "toggle", "select"]
UNCHANGED_SECRET = ""


@dataclass(frozen=True)
class FormField:
    """One input: where it lives in the profile and how the manual labels it."""

    path: str
    label: str
    kind: FieldKind = "text"
    options: tuple[tuple[str, str], ...] = ()  # select: (value, label)
    integer_choices: bool = False  # select whose values are numbers (phases 1 / 3)
    optional: bool = False  # empty means "not set" (None)
    hint: str = ""

    @property
    def name(self) -> str:
        """The HTML input name."""
        return self.path


@dataclass(frozen=True)
class Form:
    """A group of fields saved together."""

    name: str
    title: str
    fields: tuple[FormField, ...]
    intro: str = ""
    applies_to: tuple[str, ...] = ("evse",)  # supervisord programs that read these settings


@dataclass
class FormOutcome:
    """What a save did."""

    saved: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # by field path
    general: list[str] = field(default_factory=list)  # errors no field of this form shows
    not_written: bool = False  # the disk refused the write (the page answers 503)


def values_of(store: ConfigStore, form: Form) -> dict[str, Any]:
    """The current value of every field, ready for the template."""
    values: dict[str, Any] = {}
    for item in form.fields:
        value = store.get(item.path)
        if item.kind == "password":
            value = UNCHANGED_SECRET
        values[item.path] = "" if value is None else value
    return values


def convert(item: FormField, raw: str | None) -> Any:
    """One submitted string as the profile's type; ValueError with a person's message."""
    if item.kind == "toggle":
        return raw in ("on", "true", "1")
    text = (raw or "").strip()
    if text == "" and item.optional:
        return None
    if item.kind == "integer" or (item.kind == "select" and item.integer_choices):
        try:
            return int(text)
        except ValueError:
            raise ValueError("enter a whole number") from None
    if item.kind == "number":
        try:
            return float(text.replace(",", "."))  # the manual writes 0,1
        except ValueError:
            raise ValueError("enter a number") from None
    if item.kind == "select" and text not in {value for value, _ in item.options}:
        raise ValueError("choose one of the options")
    return text


def changes_from(form: Form, data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The profile changes a submission asks for, and the fields that could not be read."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in form.fields:
        raw = data.get(item.name)
        if item.kind == "password" and not raw:
            continue  # empty password field: keep the stored secret
        try:
            changes[item.path] = convert(item, raw)
        except ValueError as error:
            errors[item.path] = str(error)
    return changes, errors


@dataclass(frozen=True)
class MappedField(FormField):
    """A field whose form text stands for another profile type."""

    def shown(self, value: Any) -> Any:
        """The stored value as the form shows it."""
        return value

    def parsed(self, value: Any) -> Any:
        """The submitted value (after forms.convert) as the profile stores it; ValueError."""
        return value


def _stored(item: FormField, value: Any) -> Any:
    if isinstance(item, MappedField):
        value = item.parsed(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # "10" in a number field stays `10` in the file, not `10.0`
    return value


def _field_of(form: Form, path: str) -> tuple[FormField, str] | None:
    """The field an error path belongs to, and the rest of the path (a list entry)."""
    for item in form.fields:
        if path == item.path or path.startswith(item.path + "."):
            return item, path[len(item.path) + 1 :]
    return None


def _placed(form: Form, invalid: ProfileInvalid) -> FormOutcome:
    outcome = FormOutcome()
    for error in invalid.errors:
        found = _field_of(form, error.path)
        if found is None:
            outcome.general.append(f"{error.path}: {error.message}")
            continue
        item, rest = found
        message = f"entry {int(rest) + 1}: {error.message}" if rest.isdigit() else error.message
        outcome.errors.setdefault(item.path, message)
    return outcome


async def save(store: ConfigStore, form: Form, data: Mapping[str, str]) -> FormOutcome:
    """Save the fields whose value differs from the profile, all or nothing (saved: any written)."""
    changes, errors = changes_from(form, data)
    wanted: dict[str, Any] = {}
    for item in form.fields:
        if item.path in changes:
            try:
                wanted[item.path] = _stored(item, changes[item.path])
            except ValueError as error:
                errors[item.path] = str(error)
    if errors:
        return FormOutcome(errors=errors)
    changed = {path: value for path, value in wanted.items() if value != store.get(path)}
    if not changed:
        return FormOutcome()
    try:
        await asyncio.to_thread(store.apply, changed)
    except ProfileInvalid as invalid:
        return _placed(form, invalid)
    except ConfigPathError as error:
        return FormOutcome(general=[str(error)])
    except ProfileNotSaved as error:
        log.error("%s not saved: %s", form.name, error.reason)
        return FormOutcome(general=[str(error)], not_written=True)
    log.info("saved %s: %s", form.name, ", ".join(sorted(changed)))
    return FormOutcome(saved=True)


def shown_values(store: ConfigStore, form: Form) -> dict[str, Any]:
    """The stored value of every field as its input shows it."""
    values = values_of(store, form)
    for item in form.fields:
        if isinstance(item, MappedField) and item.kind != "password":
            values[item.path] = item.shown(values[item.path])
    return values


def typed_values(form: Form, data: Mapping[str, str]) -> dict[str, Any]:
    """What the user submitted, to show again with the errors (never a password)."""
    values: dict[str, Any] = {}
    for item in form.fields:
        if item.kind == "password":
            values[item.path] = ""
        elif item.kind == "toggle":
            values[item.path] = item.name in data
        else:
            values[item.path] = data.get(item.name, "")
    return values
