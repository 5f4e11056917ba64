"""The policy engine: every rule over a site file, or over one stack or all of them.

The policy pack (``policy/``), ``gigafactory plan/check SITE`` and ``gigafactory check
--stack / --all-stacks`` all run what is defined here, so a pull request sees the same
verdict offline as ``pulumi preview`` gives:

- site rules (gigafactory.policy.site_rules) run for a site file, and as stack policies
  for the stack's site, keeping the findings whose subject concerns the stack's cluster;
- resource rules (gigafactory.policy.resource_rules) run over the resources the stack declares.

Levels and thresholds come from the policy file (gigafactory.policy.config), checked
against the thresholds each rule declares. Nothing here imports pulumi at module import
time; checking a stack imports the renderer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources as package_files
from pathlib import Path
from typing import Any

from gigafactory.errors import StackConfigError
from gigafactory.planning.plan import SitePlan
from gigafactory.planning.plan import plan as make_plan
from gigafactory.policy.config import (
    Declared,
    PolicyConfig,
    RuleConfig,
    Threshold,
    parse_policy,
    read_policy_data,
)
from gigafactory.policy.resource_rules import RESOURCE_RULES, run_rule
from gigafactory.policy.resources import Resource
from gigafactory.policy.rule import (
    Rule,
    Scope,
    SiteFinding,
    StackContext,
    Violation,
    has_mandatory,
    resource_subject,
    stack_subject,
)
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.project import project_dir
from gigafactory.site.model import Site

__all__ = [
    "PACK_NAME",
    "PolicyInfo",
    "StackReport",
    "catalogue",
    "check_stack",
    "check_stacks",
    "declared_thresholds",
    "default_policy",
    "evaluate",
    "evaluate_stack",
    "has_mandatory",
    "load_policy",
    "report_for",
    "schemas_parsed_once",
    "site_findings",
    "stack_context",
]

PACK_NAME = "gigafactory"
DEFAULT_POLICY = "policy.yaml"
"""The packaged policy file, in gigafactory/data."""

# ---------------------------------------------------------------------------------------
# The catalogue and the policy file
# ---------------------------------------------------------------------------------------


def declared_thresholds() -> Declared:
    """What every rule declares, by policy-file section: the schema of a policy file."""
    return {
        "rules": {name: r.thresholds for name, r in SITE_RULES.items()},
        "resource_rules": {name: r.thresholds for name, r in RESOURCE_RULES.items()},
    }


@functools.cache
def default_policy() -> PolicyConfig:
    """The packaged, versioned policy file (gigafactory/data/policy.yaml)."""
    path = package_files.files("gigafactory.data").joinpath(DEFAULT_POLICY)
    with package_files.as_file(path) as file:
        data = read_policy_data(file)
    return parse_policy(data, "gigafactory/data/policy.yaml", declared_thresholds())


def load_policy(path: str | Path | None) -> PolicyConfig:
    """A policy file checked against the rules' declarations, or the packaged default when
    ``path`` is None. A resource rule the file leaves out takes the packaged entry.
    Raises PolicyConfigError naming the file and the field."""
    if path is None:
        return default_policy()
    return parse_policy(read_policy_data(path), str(path), declared_thresholds(), default_policy())


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    """A rule as the pack and the docs show it: with its level and thresholds."""

    name: str
    kind: Scope
    """site: a site rule (a stack policy in the pack); stack / resource: a resource rule's scope."""
    checks: str
    config: RuleConfig
    declared: Mapping[str, Threshold]
    """The thresholds the rule reads, with their types."""
    needs_context: bool

    @property
    def level(self) -> str:
        return self.config.level

    @property
    def thresholds(self) -> dict[str, Any]:
        """Threshold values as JSON-ready data."""
        return self.config.plain_thresholds()


def _info(rule: Rule[Any], config: RuleConfig) -> PolicyInfo:
    return PolicyInfo(rule.name, rule.scope, rule.checks, config, rule.thresholds, rule.needs_context)


def catalogue(config: PolicyConfig | None = None) -> list[PolicyInfo]:
    """Every policy of the pack, site rules first, each with its level and thresholds."""
    cfg = config or default_policy()
    out = [_info(r, cfg.rules[name]) for name, r in SITE_RULES.items()]
    out += [_info(r, cfg.resource_rules[name]) for name, r in RESOURCE_RULES.items()]
    return out


# ---------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------


def evaluate(site: Site, plan: SitePlan, config: PolicyConfig | None = None) -> list[Violation]:
    """Every site rule over a site, in a stable order; disabled rules are skipped."""
    cfg = config or default_policy()
    out: list[Violation] = []
    for name, rule in SITE_RULES.items():
        rc = cfg.rules[name]
        if rc.level == "disabled":
            continue
        out.extend(
            Violation(name, rc.level, subject, message) for subject, message in rule.check(site, plan, rc)
        )
    return out


def site_findings(name: str, ctx: StackContext, rc: RuleConfig) -> Iterator[SiteFinding]:
    """(subject, message) of site rule ``name`` that concern the stack's cluster."""
    for subject, message in SITE_RULES[name].check(ctx.site, ctx.plan, rc):
        if subject.concerns(ctx.cluster.name):
            yield subject, message


_NO_CONTEXT = (
    "cannot tell which site and cluster this stack deploys (stack config gigafactory:site and "
    "gigafactory:cluster), so the site rules cannot run; they fail closed"
)


def evaluate_stack(
    stack: str, ctx: StackContext | None, resources: Sequence[Resource], config: PolicyConfig | None = None
) -> list[Violation]:
    """Every policy over one stack, in catalogue order; disabled policies are skipped."""
    cfg = config or default_policy()
    out: list[Violation] = []
    for name in SITE_RULES:
        rc = cfg.rules[name]
        if rc.level == "disabled":
            continue
        if ctx is None:
            out.append(Violation(name, rc.level, stack_subject(stack), _NO_CONTEXT))
            continue
        out.extend(Violation(name, rc.level, s, m) for s, m in site_findings(name, ctx, rc))
    for name, rule in RESOURCE_RULES.items():
        rc = cfg.resource_rules[name]
        if rc.level == "disabled":
            continue
        for r, message in run_rule(rule, resources, rc, ctx):
            subject = resource_subject(r) if r is not None else stack_subject(stack)
            out.append(Violation(name, rc.level, subject, message))
    return out


# ---------------------------------------------------------------------------------------
# What a stack deploys
# ---------------------------------------------------------------------------------------


def _stamp(path: Path) -> tuple[int, int]:
    """(mtime in ns, size) of a file; (0, 0) when it is missing (the resolver says why)."""
    try:
        st = path.stat()
    except OSError:
        return 0, 0
    return st.st_mtime_ns, st.st_size


_PLANS: dict[tuple[Path, tuple[int, int]], SitePlan] = {}


def _plan_of(path: Path, stamp: tuple[int, int], site: Site) -> SitePlan:
    """The plan of a site file, once per file version: every stack of a site shares it."""
    key = (path, stamp)
    if key not in _PLANS:
        _PLANS[key] = make_plan(site)
    return _PLANS[key]


@functools.lru_cache(maxsize=64)
def _context(
    stack: str, site_file: str, cluster: str, platform: str | None, root: Path, stamp: tuple[int, int]
) -> StackContext:
    from gigafactory.stack.render import resolve_target

    site, c = resolve_target(site_file, cluster, platform, root)
    path = Path(site_file) if Path(site_file).is_absolute() else root / site_file
    return StackContext.build(stack, site, c, _plan_of(path.resolve(), stamp, site))


def stack_context(stack: str, site_file: str, cluster: str, platform: str | None, root: Path) -> StackContext:
    """The site and cluster a stack deploys (its config gigafactory:site, :cluster and
    :platform), resolved as the Pulumi program resolves them
    (gigafactory.stack.render.resolve_target); a relative site file is taken from the
    project ``root``. A stack is resolved once per version of its site file (path, mtime,
    size), and the stacks of one site file share its plan.
    Raises StackConfigError or SiteFileError saying what is missing or wrong."""
    for key, value in (("site", site_file), ("cluster", cluster)):
        if not value:
            raise StackConfigError(f"stack {stack}: config gigafactory:{key} is not set")
    path = Path(site_file) if Path(site_file).is_absolute() else root / site_file
    return _context(stack, site_file, cluster, platform, root, _stamp(path))


# ---------------------------------------------------------------------------------------
# Offline check of stacks (the render of the Pulumi program under mocks)
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


def report_for(
    ctx: StackContext, rendered: Sequence[Mapping[str, Any]], config: PolicyConfig | None = None
) -> StackReport:
    """Run every policy over the rendered resources of a stack (RenderResult.resources)."""
    resources = tuple(Resource.from_render(r) for r in rendered)
    return StackReport(ctx.stack, ctx, resources, evaluate_stack(ctx.stack, ctx, resources, config))


@contextlib.contextmanager
def schemas_parsed_once() -> Iterator[None]:
    """Parse each Kubernetes JSON schema file once while stacks are checked.

    kubernetes_validate re-reads and re-parses its schema files, the 1.7 MB definitions
    file included, for every object it validates: about 80 % of an all-stacks check. The
    files are read-only package data, so one parse serves every object of every stack.
    """
    from kubernetes_validate import utils

    original = utils.schema_contents
    utils.schema_contents = functools.cache(original)
    try:
        yield
    finally:
        utils.schema_contents = original


def check_stacks(
    names: Sequence[str] | None = None, config: PolicyConfig | None = None, root: Path | None = None
) -> list[StackReport]:
    """Render stacks ``names`` (None: every stack in stacks/) offline, in this process, and
    run every policy over each. No Pulumi CLI, cluster or cloud account.

    Raises StackConfigError for an unknown stack or a bad stack config, SiteFileError for a
    bad site file (both before anything renders), and the renderer's
    ManifestValidationError when an object fails the Kubernetes schema.
    """
    from gigafactory.stack.config import load_stack_config, stacks
    from gigafactory.stack.render import render_stack  # imports pulumi lazily

    base = root or project_dir()
    known = stacks(base)
    for name in names or []:
        if name not in known:
            raise StackConfigError(
                f"stack {name!r}: no file stacks/Pulumi.{name}.yaml; allowed: {', '.join(known) or '(none)'}"
            )
    chosen = list(names) if names else known
    if not chosen:
        raise StackConfigError("no stacks: stacks/ has no Pulumi.<stack>.yaml")
    configs = [load_stack_config(name, base) for name in chosen]
    contexts = [stack_context(c.stack, c.site, c.cluster, c.platform, base) for c in configs]
    reports = []
    with schemas_parsed_once():
        for ctx in contexts:
            rendered = render_stack(ctx.stack, root=base)
            reports.append(report_for(ctx, rendered.resources, config))
    return reports


def check_stack(stack: str, config: PolicyConfig | None = None, root: Path | None = None) -> StackReport:
    """``check_stacks`` for one stack."""
    return check_stacks([stack], config, root)[0]
