"""Shared building blocks of every profile model.

All profile sections derive from `ProfileModel`: unknown keys are errors, instances are frozen,
and cross-field rules are methods marked with `@cross_field_rule` that yield every violation
they find, so a profile with several broken rules reports all of them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, model_validator

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Violation:
    """One broken cross-field rule: the field it points at (relative to the model) and why."""

    field: FieldPath
    message: str
    rule: str = ""


class RuleViolations(ValueError):
    """Raised by a model when one or more cross-field rules fail; carries every violation."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(v.message for v in violations))


RuleMethod = Callable[[Any], Iterator[Violation]]
JsonDict = dict[str, Any]


def json_schema_rules(*rules: tuple[JsonDict, JsonDict]) -> JsonDict:
    """JSON Schema `if`/`then` pairs mirroring cross-field rules, for editors and linters."""
    return {"allOf": [{"if": condition, "then": consequence} for condition, consequence in rules]}


def when(**conditions: JsonDict) -> JsonDict:
    """JSON Schema condition: each named key is present and matches its schema."""
    return {"properties": conditions, "required": list(conditions)}


def cross_field_rule(method: RuleMethod) -> RuleMethod:
    """Mark a method as a named cross-field rule; it yields `Violation`s."""
    method.__chargeos_rule__ = True  # type: ignore[attr-defined]
    return method


class ProfileModel(BaseModel):
    """Base of every profile section: strict keys, immutable, rules checked after fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    _rule_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = (
            name
            for klass in reversed(cls.__mro__)
            for name, member in vars(klass).items()
            if getattr(member, "__chargeos_rule__", False)
        )
        cls._rule_names = tuple(dict.fromkeys(names))

    @model_validator(mode="after")
    def _enforce_cross_field_rules(self) -> Self:
        violations: list[Violation] = []
        for name in self._rule_names:
            for violation in getattr(self, name)():
                violations.append(
                    Violation(violation.field, violation.message, violation.rule or name)
                )
        if violations:
            raise RuleViolations(violations)
        return self
