"""Policy configuration: the levels and thresholds of every rule, from a versioned file.

The packaged file is ``gigafactory/data/policy.yaml``; ``--policy FILE`` takes a file of
the same shape. A policy file is checked strictly at the boundary, so no rule ever sees a
value it cannot compare against:

- the YAML is bounded (size, depth, aliases) and duplicate keys are refused;
- every key is known: the top-level keys, the rules of each section, and each rule's
  ``level``, ``source`` and declared thresholds;
- every threshold has its declared type (a boolean is never a number) and every number is
  finite (NaN or infinity would silently disable a comparison) and within its bounds.

Each error is a PolicyConfigError, one line: ``<file>: <field path>: <what is wrong>``; the
CLI exits 2 on it, never 1 (the exit code of a violation).

This module knows nothing about the rules themselves: the caller passes what each rule
declares (``Declared``), so the rule modules can import it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from gigafactory.errors import PolicyConfigError, SiteFileError
from gigafactory.site.load import parse_yaml, read_text

Level = Literal["mandatory", "advisory", "disabled"]
LEVELS: tuple[str, ...] = get_args(Level)

ThresholdType = Literal["number", "integer", "boolean", "strings"]
"""number: a finite int or float; integer: an int; boolean; strings: a list of strings."""

ThresholdValue = float | int | bool | tuple[str, ...]

SECTIONS = ("rules", "resource_rules")
"""rules: the site rules (gigafactory.policy.site_rules); resource_rules: the rules over a
stack's resources (gigafactory.policy.resource_rules)."""
TOP_LEVEL_KEYS = ("version", *SECTIONS)
RULE_KEYS = ("level", "source")
MAX_POLICY_BYTES = 256 * 1024
"""The packaged policy file is a few kilobytes; anything above this is refused unread."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """What a rule declares about one of its thresholds."""

    type: ThresholdType
    minimum: float | None = None
    """Smallest allowed value (numbers and integers), inclusive; None: no bound."""
    maximum: float | None = None
    """Largest allowed value, inclusive; None: no bound."""


Declared = Mapping[str, Mapping[str, Mapping[str, Threshold]]]
"""Section (``rules``, ``resource_rules``) -> rule name -> threshold name -> Threshold."""


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One rule's level, the source of its figures, and its thresholds (already checked)."""

    level: Level
    source: str
    thresholds: Mapping[str, ThresholdValue] = field(default_factory=dict)

    def threshold(self, key: str) -> ThresholdValue:
        try:
            return self.thresholds[key]
        except KeyError:
            raise PolicyConfigError(f"policy config: rule needs threshold {key!r}") from None

    def number(self, key: str) -> float:
        value = self.threshold(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyConfigError(f"policy config: threshold {key!r} is not a number")
        return float(value)

    def integer(self, key: str) -> int:
        value = self.threshold(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyConfigError(f"policy config: threshold {key!r} is not an integer")
        return value

    def flag(self, key: str) -> bool:
        value = self.threshold(key)
        if not isinstance(value, bool):
            raise PolicyConfigError(f"policy config: threshold {key!r} is not a boolean")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.threshold(key)
        if not isinstance(value, tuple):
            raise PolicyConfigError(f"policy config: threshold {key!r} is not a list of strings")
        return value

    def plain_thresholds(self) -> dict[str, Any]:
        """Thresholds as JSON-ready values (lists, not tuples), in declaration order."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.thresholds.items()}


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    version: str
    rules: Mapping[str, RuleConfig]
    """Site rules by name."""
    resource_rules: Mapping[str, RuleConfig]
    """Resource rules by name."""

    def rule(self, name: str) -> RuleConfig:
        """The config of a site or resource rule."""
        found = self.rules.get(name) or self.resource_rules.get(name)
        if found is None:
            raise PolicyConfigError(f"policy config {self.version}: no entry for rule {name!r}")
        return found


# ---------------------------------------------------------------------------------------
# Reading and checking
# ---------------------------------------------------------------------------------------


def read_policy_data(path: str | Path) -> Any:
    """A policy file as YAML data: a bounded regular file, UTF-8, no duplicate keys."""
    try:
        text = read_text(path, "policy YAML file", MAX_POLICY_BYTES)
    except SiteFileError as exc:
        raise PolicyConfigError(f"{path}: cannot read policy config: {exc.message}") from None
    try:
        return parse_yaml(text, str(path))
    except SiteFileError as exc:  # not YAML, a duplicate key, too deep, too many aliases
        raise PolicyConfigError(str(exc)) from None


def _fail(file: str, where: str, message: str) -> PolicyConfigError:
    return PolicyConfigError(f"{file}: {where}: {message}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_threshold(file: str, where: str, spec: Threshold, value: Any) -> ThresholdValue:
    """``value`` as the declared type, or PolicyConfigError naming ``where``."""
    if spec.type == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _fail(file, where, f"{_short(value)} is not allowed; allowed: a list of non-empty strings")
        return tuple(value)
    if spec.type == "boolean":
        if not isinstance(value, bool):
            raise _fail(file, where, f"{_short(value)} is not allowed; allowed: true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        article = "an" if spec.type == "integer" else "a"
        raise _fail(file, where, f"{_short(value)} is not allowed; allowed: {article} {spec.type}")
    if spec.type == "integer" and not isinstance(value, int):
        raise _fail(file, where, f"{_short(value)} is not allowed; allowed: an integer")
    if not math.isfinite(value):
        raise _fail(file, where, f"{value} is not allowed; allowed: a finite number")
    if spec.minimum is not None and value < spec.minimum:
        raise _fail(file, where, f"{value} is below the minimum {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise _fail(file, where, f"{value} is above the maximum {spec.maximum:g}")
    return value


def _mapping(file: str, where: str, value: Any) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise _fail(file, where, f"expected a mapping, got {type(value).__name__}")
    return value


def _rule_config(file: str, where: str, data: Any, declared: Mapping[str, Threshold]) -> RuleConfig:
    entry = _mapping(file, where, data)
    allowed = (*RULE_KEYS, *declared)
    for key in entry:
        if key not in allowed:
            raise _fail(file, f"{where}.{key}", f"unknown key; allowed: {', '.join(allowed)}")
    for key in allowed:
        if key not in entry:
            raise _fail(file, f"{where}.{key}", "missing")
    level, source = entry["level"], entry["source"]
    if level not in LEVELS:
        raise _fail(file, f"{where}.level", f"{_short(level)} is not allowed; allowed: {', '.join(LEVELS)}")
    if not isinstance(source, str) or not source.strip():
        raise _fail(file, f"{where}.source", "allowed: a non-empty text naming where the figure comes from")
    thresholds = {
        name: check_threshold(file, f"{where}.{name}", spec, entry[name]) for name, spec in declared.items()
    }
    return RuleConfig(level=level, source=source, thresholds=thresholds)


def parse_policy(
    data: Any, file: str, declared: Declared, defaults: PolicyConfig | None = None
) -> PolicyConfig:
    """Check policy data against what the rules declare.

    Every rule of ``rules`` needs an entry; a rule of ``resource_rules`` without one takes
    its entry from ``defaults`` (the packaged file) when given.
    """
    top = _mapping(file, "(top level)", data)
    for key in top:
        if key not in TOP_LEVEL_KEYS:
            raise _fail(file, str(key), f"unknown key; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    version = top.get("version")
    if not isinstance(version, str) or not version.strip():
        raise _fail(
            file, "version", f"{_short(version)} is not allowed; allowed: a version string, e.g. '1.2.0'"
        )
    sections: dict[str, dict[str, RuleConfig]] = {}
    for section in SECTIONS:
        rules = declared.get(section, {})
        given = _mapping(file, section, top.get(section) or {}) if section in top else {}
        for name in given:
            if name not in rules:
                raise _fail(file, f"{section}.{name}", f"unknown rule; allowed: {', '.join(rules)}")
        out: dict[str, RuleConfig] = {}
        for name, thresholds in rules.items():
            if name in given:
                out[name] = _rule_config(file, f"{section}.{name}", given[name], thresholds)
            elif section == "resource_rules" and defaults is not None:
                out[name] = defaults.resource_rules[name]
            else:
                raise _fail(file, f"{section}.{name}", "missing: every rule needs an entry")
        sections[section] = out
    return PolicyConfig(version=version, rules=sections["rules"], resource_rules=sections["resource_rules"])


def with_overrides(
    rc: RuleConfig, declared: Mapping[str, Threshold], overrides: Mapping[str, Any] | None, where: str
) -> RuleConfig:
    """The rule config with thresholds from the pack's config (``--policy-pack-config``),
    checked like a policy file's (``where`` names the rule in errors).

    Config arrives through protobuf, where every number is a float: an integer threshold
    takes a whole float as an int. Keys other than declared thresholds (enforcementLevel)
    are left to the SDK.
    """
    if not overrides:
        return rc
    values = dict(rc.thresholds)
    for key, value in overrides.items():
        spec = declared.get(key)
        if spec is None:
            continue
        if spec.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        values[key] = check_threshold("policy pack config", f"{where}.{key}", spec, value)
    return RuleConfig(level=rc.level, source=rc.source, thresholds=values)
