"""The policy objects of the gigafactory pack: thin wrappers of the library's rules.

No rule logic lives here. Each site rule (gigafactory.policy.site_rules) becomes a StackValidationPolicy;
each resource rule (gigafactory.policy.resource_rules) a ResourceValidationPolicy or a
StackValidationPolicy, by its scope. Levels, thresholds and their JSON schema come from the
versioned policy file; ``--policy-pack-config`` may override them.

Values unknown at preview never reach a rule as an SDK proxy: ``plain`` turns each into
``UNKNOWN``, and the rules fail closed on the ones they need, so no mandatory policy is
downgraded to an advisory "can't run policy ... during preview".

__main__.py builds the PolicyPack from ``policies()``; tests call each policy's ``validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from gigafactory.errors import GigafactoryError, StackConfigError
from gigafactory.policy.config import RuleConfig, with_overrides
from gigafactory.policy.docs import threshold_schema
from gigafactory.policy.engine import PACK_NAME, PolicyInfo, catalogue, site_findings, stack_context
from gigafactory.policy.resource_rules import RESOURCE_RULES, run_rule
from gigafactory.policy.resources import UNKNOWN, Resource, normalize
from gigafactory.policy.rule import StackContext
from gigafactory.project import project_dir
from gigafactory.stack.config import from_strings

__all__ = ["PACK_NAME", "plain", "policies", "stack_config_context"]

# Returns the stack's site and cluster, or raises GigafactoryError saying why it cannot.
ContextLoader = Callable[[], StackContext]


def plain(value: Any) -> Any:
    """Inputs as plain dicts and lists; each value the SDK reports unknown becomes UNKNOWN."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:  # iterating keys never raises; reading a value may
            try:
                item = value[key]
            except UnknownValueError:
                out[str(key)] = UNKNOWN
                continue
            out[str(key)] = plain(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                item = value[i]
            except UnknownValueError:
                items.append(UNKNOWN)
                continue
            items.append(plain(item))
        return items
    return normalize(value)


def _engine_config(full_key: str) -> str | None:
    """A config value the Pulumi CLI handed to the pack (``gigafactory:site``), or None."""
    namespace, _, key = full_key.partition(":")
    value = pulumi.Config(namespace).get(key)
    return None if value is None else str(value)


def stack_config_context() -> StackContext:
    """The stack's site and cluster from its config, which the Pulumi CLI hands to the pack,
    read through the typed stack config (gigafactory.stack.config); relative site files are
    taken from the project the pack runs in (gigafactory.project.project_dir)."""
    try:
        stack = pulumi.get_stack()
    except Exception as exc:  # the SDK raises plain exceptions when the engine gave no settings
        raise StackConfigError(f"cannot read the stack config: {exc}") from None
    root = project_dir()
    config = from_strings(stack, _engine_config, root)
    return stack_context(stack, config.site, config.cluster, config.platform, root)


def _context(load: ContextLoader) -> tuple[StackContext | None, str]:
    try:
        return load(), ""
    except GigafactoryError as exc:
        return None, f"cannot load the stack's site model: {exc}; the policy fails closed"


def _level(info: PolicyInfo) -> EnforcementLevel:
    return EnforcementLevel(info.level)


def _schema(info: PolicyInfo) -> PolicyConfigSchema | None:
    props = threshold_schema(info)
    return PolicyConfigSchema(props) if props else None


def _config(
    info: PolicyInfo, overrides: Mapping[str, Any] | None, report: ReportViolation
) -> RuleConfig | None:
    """The rule's config with the pack config's thresholds; a bad threshold fails closed."""
    try:
        return with_overrides(info.config, info.declared, overrides, info.name)
    except GigafactoryError as exc:
        report(f"{exc}; the policy fails closed", None)
        return None


def _site_policy(info: PolicyInfo, load: ContextLoader) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        ctx, why = _context(load)
        if ctx is None:
            report(why, None)
            return
        rc = _config(info, args.get_config(), report)
        if rc is None:
            return
        for subject, message in site_findings(info.name, ctx, rc):
            report(f"{subject}: {message}", None)

    return StackValidationPolicy(
        name=info.name,
        description=info.checks,
        validate=validate,
        enforcement_level=_level(info),
        config_schema=_schema(info),
    )


def _resources(args: StackValidationArgs) -> list[Resource]:
    return [Resource(r.resource_type, r.name, plain(r.props), r.urn) for r in args.resources]


def _resource_rule_policy(info: PolicyInfo, load: ContextLoader) -> Policy:
    rule = RESOURCE_RULES[info.name]

    def context() -> tuple[StackContext | None, str]:
        return _context(load) if rule.needs_context else (None, "")

    if rule.scope == "resource":

        def validate_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
            ctx, why = context()
            if why:
                report(why, None)
                return
            rc = _config(info, args.get_config(), report)
            if rc is None:
                return
            resource = Resource(args.resource_type, args.name, plain(args.props), args.urn)
            for _, message in run_rule(rule, [resource], rc, ctx):
                report(message, None)

        return ResourceValidationPolicy(
            name=info.name,
            description=info.checks,
            validate=validate_resource,
            enforcement_level=_level(info),
            config_schema=_schema(info),
        )

    def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
        ctx, why = context()
        if why:
            report(why, None)
            return
        rc = _config(info, args.get_config(), report)
        if rc is None:
            return
        for r, message in run_rule(rule, _resources(args), rc, ctx):
            report(message, r.urn if r is not None and r.urn else None)

    return StackValidationPolicy(
        name=info.name,
        description=info.checks,
        validate=validate_stack,
        enforcement_level=_level(info),
        config_schema=_schema(info),
    )


def policies(load: ContextLoader = stack_config_context) -> list[Policy]:
    """Every policy of the pack, in catalogue order (site rules first)."""
    return [
        _site_policy(info, load) if info.kind == "site" else _resource_rule_policy(info, load)
        for info in catalogue()
    ]
