"""Every policy of a stack in one place: the site rules and the resource rules.

The policy pack (``policy/``) and ``gigafactory check --stack`` both run what is defined
here, so a pull request sees the same verdict offline as ``pulumi preview`` gives:

- site rules (gigafactory.policy.site_rules) run as stack policies, for the stack's site, keeping
  the findings about the whole site and about the stack's cluster;
- resource rules (gigafactory.policy.resource_rules) run over the resources the stack declares.

The catalogue also yields the pack's config file (levels and thresholds of the versioned
policy file) with its JSON schema, and the policy table in docs/policies.md. Nothing
here imports pulumi at module import time; ``check_stack`` imports the renderer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gigafactory.errors import StackConfigError
from gigafactory.planning.plan import SitePlan
from gigafactory.policy.resource_rules import (
    RESOURCE_RULES,
    Resource,
    StackContext,
    rule_config,
    run_rule,
)
from gigafactory.policy.site_rules import (
    SITE_RULE_CHECKS,
    SITE_RULES,
    PolicyConfig,
    RuleConfig,
    Violation,
    default_policy,
)
from gigafactory.project import project_dir

PACK_NAME = "gigafactory"
# Stack configuration keys the Pulumi program reads (namespace "gigafactory").
CONFIG_SITE = "site"
CONFIG_CLUSTER = "cluster"
CONFIG_PLATFORM = "platform"

# ---------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    name: str
    kind: Literal["site", "stack", "resource"]
    """site: a site rule run as a stack policy; stack / resource: a resource rule's scope."""
    checks: str
    config: RuleConfig

    @property
    def level(self) -> str:
        return self.config.level

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.config.model_extra or {})


def catalogue(config: PolicyConfig | None = None) -> list[PolicyInfo]:
    """Every policy of the pack, site rules first, each with its level and thresholds."""
    cfg = config or default_policy()
    out = [PolicyInfo(name, "site", SITE_RULE_CHECKS[name], cfg.rule(name)) for name in SITE_RULES]
    out += [
        PolicyInfo(name, rule.scope, rule.checks, rule_config(cfg, name))
        for name, rule in RESOURCE_RULES.items()
    ]
    return out


def _json_type(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "integer"}
    if isinstance(value, float):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    if isinstance(value, list):
        items = _json_type(value[0]) if value else {}
        return {"type": "array", "items": items} if items else {"type": "array"}
    return {"type": "object"}


def threshold_schema(rc: RuleConfig) -> dict[str, dict[str, Any]]:
    """JSON schema properties of a rule's thresholds, typed by the versioned defaults."""
    return {key: {**_json_type(value), "default": value} for key, value in (rc.model_extra or {}).items()}


def with_overrides(rc: RuleConfig, overrides: Mapping[str, Any] | None) -> RuleConfig:
    """The rule config with thresholds from the pack's config (``--policy-pack-config``).

    Config arrives through protobuf, where every number is a float: a threshold whose
    default is an integer keeps integer type when the value is whole.
    """
    if not overrides:
        return rc
    extra = dict(rc.model_extra or {})
    for key, value in overrides.items():
        if key not in extra:
            continue  # enforcementLevel, or a key the schema does not know
        if isinstance(extra[key], int) and not isinstance(extra[key], bool) and isinstance(value, float):
            value = int(value) if value.is_integer() else value
        extra[key] = value
    return RuleConfig.model_validate({"level": rc.level, "source": rc.source, **extra})


def pack_config(config: PolicyConfig | None = None) -> dict[str, dict[str, Any]]:
    """The --policy-pack-config document: enforcement level and thresholds of every policy."""
    return {p.name: {"enforcementLevel": p.level, **p.thresholds} for p in catalogue(config)}


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


def concerns_cluster(subject: str, cluster: str) -> bool:
    """Whether a site-rule finding belongs in a stack of ``cluster``: findings about the
    site, its grid or a hall belong in every stack; those about a cluster or pool in its own."""
    kind, _, rest = subject.partition("/")
    if kind == "cluster":
        return rest == cluster
    if kind == "pool":
        return rest.split("/", 1)[0] == cluster
    return True


def site_findings(name: str, ctx: StackContext, rc: RuleConfig) -> Iterator[tuple[str, str]]:
    """(subject, message) of site rule ``name`` that concern the stack's cluster."""
    for subject, message in SITE_RULES[name](ctx.site, ctx.plan, rc):
        if concerns_cluster(subject, ctx.cluster.name):
            yield subject, message


def evaluate_stack(
    stack: str, ctx: StackContext | None, resources: Sequence[Resource], config: PolicyConfig | None = None
) -> list[Violation]:
    """Every policy over one stack, in catalogue order; disabled policies are skipped."""
    cfg = config or default_policy()
    out: list[Violation] = []
    for name in SITE_RULES:
        rc = cfg.rule(name)
        if rc.level == "disabled":
            continue
        if ctx is None:
            out.append(Violation(name, rc.level, f"stack/{stack}", _NO_CONTEXT))
            continue
        out.extend(Violation(name, rc.level, s, m) for s, m in site_findings(name, ctx, rc))
    for name, rule in RESOURCE_RULES.items():
        rc = rule_config(cfg, name)
        if rc.level == "disabled":
            continue
        for r, message in run_rule(rule, resources, rc, ctx):
            out.append(Violation(name, rc.level, r.subject if r is not None else f"stack/{stack}", message))
    return out


_NO_CONTEXT = (
    "cannot tell which site and cluster this stack deploys (stack config gigafactory:site and "
    "gigafactory:cluster), so the site rules cannot run; they fail closed"
)


def context_from_config(stack: str, get: Callable[[str], Any], root: Path | None = None) -> StackContext:
    """The site and cluster a stack deploys, from its config (``get`` reads gigafactory:<key>):
    the same resolution as the Pulumi program's (gigafactory.stack.render.resolve_target).

    A relative site path is taken from the project root ``root``. Raises StackConfigError
    or SiteFileError saying what is missing or wrong.
    """
    from gigafactory.stack.render import resolve_target  # no pulumi at import: it imports it lazily

    site_file, cluster = get(CONFIG_SITE), get(CONFIG_CLUSTER)
    for key, value in ((CONFIG_SITE, site_file), (CONFIG_CLUSTER, cluster)):
        if not value:
            raise StackConfigError(f"stack {stack}: config gigafactory:{key} is not set")
    site, c = resolve_target(str(site_file), str(cluster), get(CONFIG_PLATFORM) or None, root)
    return StackContext.build(stack, site, c)


# ---------------------------------------------------------------------------------------
# Offline check of a stack (the render of the Pulumi program under mocks)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackReport:
    stack: str
    ctx: StackContext
    resources: tuple[Resource, ...]
    violations: list[Violation]

    @property
    def plan(self) -> SitePlan:
        """The site plan, with only the stack's cluster."""
        plan = self.ctx.plan
        return dataclasses.replace(
            plan, clusters=tuple(c for c in plan.clusters if c.name == self.ctx.cluster.name)
        )


def stack_names() -> list[str]:
    """Stacks with a stacks/Pulumi.<stack>.yaml, sorted."""
    from gigafactory.stack.render import stacks

    return stacks(project_dir())


def check_stack(stack: str, config: PolicyConfig | None = None) -> StackReport:
    """Render ``stack`` offline (no Pulumi CLI, cluster or cloud) and run every policy over it.

    Raises StackConfigError / SiteFileError for a bad stack, and the renderer's
    ManifestValidationError when an object fails the Kubernetes schema.
    """
    from gigafactory.stack.render import load_stack_config, render_stack  # imports pulumi lazily

    root = project_dir()
    stack_config = load_stack_config(stack, root)
    ctx = context_from_config(stack, stack_config.get, root)
    rendered = render_stack(stack, root=root)
    return report_for(ctx, rendered.resources, config)


def report_for(
    ctx: StackContext, rendered: Sequence[Mapping[str, Any]], config: PolicyConfig | None = None
) -> StackReport:
    """Run every policy over the rendered resources of a stack (RenderResult.resources)."""
    resources = tuple(Resource.from_render(r) for r in rendered)
    return StackReport(ctx.stack, ctx, resources, evaluate_stack(ctx.stack, ctx, resources, config))


# ---------------------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------------------

_KIND_TEXT = {"site": "stack (site rule)", "stack": "stack", "resource": "resource"}


def _cell(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\n", " ")
    )


def _threshold_text(thresholds: Mapping[str, Any]) -> str:
    if not thresholds:
        return "-"
    parts = []
    for key, value in thresholds.items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
        parts.append(f"`{key}`: {_cell(shown)}")
    return "<br>".join(parts)


def policies_markdown(config: PolicyConfig | None = None) -> str:
    """docs/policies.md: one row per policy of the pack, generated from the code and the policy file."""
    cfg = config or default_policy()
    lines = [
        "# Policies",
        "",
        "<!-- Generated by `python scripts/policy_docs.py` from gigafactory/policy/site_rules.py,",
        "     gigafactory/policy/resource_rules.py and gigafactory/data/policy.yaml; do not edit by hand.",
        "     tests/policy/test_docs.py fails when this file and the code disagree. -->",
        "",
        f"Policy file version **{cfg.version}**. Every policy runs in the Pulumi policy pack (`policy/`) and in",
        "`gigafactory check --stack`; site rules also run in `gigafactory check SITE`. Levels and",
        "thresholds come from `gigafactory/data/policy.yaml`; `policy/policy-config.json` carries the",
        "same values for `pulumi preview --policy-pack-config`. See [policy.md](policy.md).",
        "",
        "| policy | kind | level | what it checks | threshold | source |",
        "|---|---|---|---|---|---|",
    ]
    for p in catalogue(cfg):
        lines.append(
            f"| `{p.name}` | {_KIND_TEXT[p.kind]} | {p.level} | {_cell(p.checks)} | "
            f"{_threshold_text(p.thresholds)} | {_cell(p.config.source)} |"
        )
    return "\n".join(lines) + "\n"
