"""Site policy rules: plain functions over a site and its plan, returning violations.

Each rule has a stable kebab-case name. Its level and thresholds come from a versioned
policy configuration file (default: gigafactory/data/policy.yaml), never from code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gigafactory.errors import PolicyConfigError
from gigafactory.planning.plan import SitePlan
from gigafactory.site.addressing import address_plan_findings
from gigafactory.site.model import Site

Level = Literal["mandatory", "advisory", "disabled"]


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    level: str
    subject: str
    """What the violation concerns: the site, a hall, a cluster, a pool or a resource."""
    message: str
    """What is wrong and why it matters."""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    level: Level
    source: str = Field(min_length=1)

    def threshold(self, key: str) -> Any:
        extra = self.model_extra or {}
        if key not in extra:
            raise PolicyConfigError(f"policy config: rule needs threshold {key!r}")
        return extra[key]


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str
    rules: dict[str, RuleConfig]
    resource_rules: dict[str, RuleConfig] = Field(default_factory=dict)
    """Levels and thresholds of the resource rules (gigafactory.policy.resource_rules). Optional in a
    user's file: a rule without an entry here takes the packaged default."""

    def rule(self, name: str) -> RuleConfig:
        try:
            return self.rules[name]
        except KeyError:
            raise PolicyConfigError(f"policy config {self.version}: no entry for rule {name!r}") from None


DEFAULT_POLICY = "policy.yaml"


@functools.cache
def default_policy() -> PolicyConfig:
    text = resources.files("gigafactory.data").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
    return _parse_policy(yaml.safe_load(text), "gigafactory/data/policy.yaml")


def load_policy(path: str | Path | None) -> PolicyConfig:
    """Load a policy config file, or the packaged default when ``path`` is None."""
    if path is None:
        return default_policy()
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyConfigError(f"{path}: cannot read policy config: {exc.__class__.__name__}") from None
    except yaml.YAMLError as exc:
        raise PolicyConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return _parse_policy(data, str(path))


def _parse_policy(data: Any, file: str) -> PolicyConfig:
    try:
        cfg = PolicyConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PolicyConfigError(f"{file}: {where}: {err['msg']}") from None
    unknown = sorted(set(cfg.rules) - set(SITE_RULES))
    if unknown:
        raise PolicyConfigError(f"{file}: rules.{unknown[0]}: unknown rule; allowed: {', '.join(SITE_RULES)}")
    missing = [r for r in SITE_RULES if r not in cfg.rules]
    if missing:
        raise PolicyConfigError(f"{file}: rules: no entry for rule {missing[0]!r}")
    from gigafactory.policy.resource_rules import RESOURCE_RULES  # imports this module: not at the top

    unknown = sorted(set(cfg.resource_rules) - set(RESOURCE_RULES))
    if unknown:
        raise PolicyConfigError(
            f"{file}: resource_rules.{unknown[0]}: unknown rule; allowed: {', '.join(RESOURCE_RULES)}"
        )
    return cfg


# A rule yields (subject, message) pairs; the level comes from the config.
Finding = tuple[str, str]
RuleFn = Callable[[Site, SitePlan, RuleConfig], Iterator[Finding]]
SITE_RULES: dict[str, RuleFn] = {}
SITE_RULE_CHECKS: dict[str, str] = {}
"""One sentence per rule: what it checks (the policy docs table and the pack descriptions)."""


def rule(name: str, checks: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        SITE_RULES[name] = fn
        SITE_RULE_CHECKS[name] = checks
        return fn

    return register


@rule(
    "region-grid-carbon-max",
    "The site's grid zone averages at most the life-cycle carbon-intensity limit.",
)
def _grid_carbon(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = float(cfg.threshold("max_g_per_kwh"))
    if plan.carbon_g_per_kwh > limit:
        yield (
            f"grid/{plan.zone}",
            f"grid zone {plan.zone} averages {plan.carbon_g_per_kwh:g} g CO2eq/kWh, above the "
            f"{limit:g} g limit: GPUs here would not run on low-carbon power",
        )


@rule(
    "region-renewable-share-min",
    "The grid zone's renewable share is at least the minimum.",
)
def _renewable_share(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    minimum = float(cfg.threshold("min_share"))
    if plan.renewable_share < minimum:
        yield (
            f"grid/{plan.zone}",
            f"grid zone {plan.zone} is {plan.renewable_share:.0%} renewable, below the "
            f"{minimum:.0%} minimum for a renewable-powered site",
        )


@rule(
    "renewable-claim-evidence",
    "The site names the guarantee-of-origin or PPA reference behind its renewable claim.",
)
def _evidence(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    if not site.grid.renewable_evidence.strip():
        yield (
            f"site/{site.name}",
            "grid.renewable_evidence is empty: a renewable claim needs a guarantee-of-origin or PPA "
            "reference, since power bought without one carries the residual mix",
        )


@rule(
    "site-power-envelope",
    "Facility power (IT power x design PUE) fits the grid allocation of the active phase.",
)
def _envelope(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    if plan.facility_mw > plan.envelope_mw:
        yield (
            f"site/{site.name}",
            f"facility power {plan.facility_mw:.3f} MW (IT {plan.it_mw:.3f} MW x PUE {plan.design_pue:g}) "
            f"exceeds the {plan.envelope_mw:g} MW grid allocation of phase {plan.phase}",
        )


@rule(
    "design-pue-max",
    "The design PUE is at most the limit.",
)
def _pue(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = float(cfg.threshold("max_pue"))
    if site.power.design_pue > limit:
        yield (
            f"site/{site.name}",
            f"design PUE {site.power.design_pue:g} is above {limit:g}: the facility would waste "
            "more energy than the limit for new data centres allows",
        )


@rule(
    "rack-power-within-hall",
    "No pool's racks draw more power than its hall delivers per rack.",
)
def _rack_power(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    for c in site.clusters:
        for p in c.pools:
            hall = site.hall(p.hall)
            if p.spec.rack_kw > hall.max_rack_kw:
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"{p.sku} racks draw up to {p.spec.rack_kw:g} kW but hall {hall.name} delivers at "
                    f"most {hall.max_rack_kw:g} kW per rack",
                )


@rule(
    "liquid-cooling-required",
    "Liquid-cooled SKUs, and racks above the air-cooling limit, sit in liquid-cooled halls.",
)
def _liquid(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    air_max = float(cfg.threshold("max_air_rack_kw"))
    for c in site.clusters:
        for p in c.pools:
            hall = site.hall(p.hall)
            if hall.cooling == "liquid":
                continue
            if p.spec.cooling == "liquid":
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"{p.sku} is liquid cooled but hall {hall.name} is air cooled",
                )
            elif p.spec.rack_kw > air_max:
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"{p.sku} racks draw {p.spec.rack_kw:g} kW, above the {air_max:g} kW that air "
                    f"cooling removes, but hall {hall.name} is air cooled",
                )


@rule(
    "heat-reuse-plan",
    "A site above the power threshold has a plan for its waste heat.",
)
def _heat(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    minimum = float(cfg.threshold("min_facility_mw"))
    if plan.facility_mw > minimum and site.heat_reuse is None:
        yield (
            f"site/{site.name}",
            f"facility power {plan.facility_mw:.3f} MW is above {minimum:g} MW, so the site must use "
            "its waste heat or say why not: add heat_reuse.plan",
        )


@rule(
    "fabric-plane-size",
    "A cluster's GPU endpoints fit one non-blocking three-tier fat tree of its switch.",
)
def _fabric(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    for c in plan.clusters:
        f = c.fabric
        if not f.fits:
            yield (
                f"cluster/{c.name}",
                f"{f.design_endpoints} GPU endpoints do not fit one non-blocking plane of {f.switch} "
                f"(radix {f.radix}: at most {f.max_endpoints} in three tiers); split the cluster",
            )


@rule(
    "k8s-cluster-size",
    "A cluster stays within the upstream node limit, or the exception limit with a documented exception.",
)
def _k8s_size(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = int(cfg.threshold("max_nodes"))
    hard = int(cfg.threshold("max_nodes_with_exception"))
    for c in site.clusters:
        nodes = c.nodes
        if nodes <= limit:
            continue
        if c.kubernetes_node_limit_exception.strip() and nodes <= hard:
            continue
        why = (
            f"even with the documented exception the limit is {hard}"
            if c.kubernetes_node_limit_exception.strip()
            else f"above the upstream {limit}-node limit; split it or document an exception "
            f"(kubernetes_node_limit_exception, up to {hard})"
        )
        yield (f"cluster/{c.name}", f"cluster {c.name} has {nodes} nodes, {why}")


@rule(
    "gpu-commitment-cap",
    "The planned GPUs stay within the contracted GPUs of the active phase.",
)
def _commitment(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    if plan.gpus > site.commitments.gpus:
        yield (
            f"site/{site.name}",
            f"the plan has {plan.gpus} GPUs but only {site.commitments.gpus} are contracted for "
            f"phase {plan.phase}",
        )


@rule(
    "hall-rack-positions",
    "A pool's racks exist in its hall.",
)
def _positions(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    for c in site.clusters:
        for p in c.pools:
            hall = site.hall(p.hall)
            if p.last_rack_position > hall.rack_positions:
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"racks {p.first_rack_position}-{p.last_rack_position} do not exist: hall "
                    f"{hall.name} has {hall.rack_positions} rack positions",
                )


@rule(
    "whole-scalable-units",
    "GPU pools are built in whole scalable units starting on an SU boundary.",
)
def _whole_su(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    for c in plan.clusters:
        for p in c.pools:
            if p.role in ("training", "inference") and not p.su_aligned:
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"{p.nodes} nodes from rack {p.first_rack} are {p.scalable_units:.2f} scalable units; "
                    "build GPU pools in whole SUs starting on an SU boundary",
                )


@rule(
    "tenant-quota-within-pool",
    "Tenants are not promised more GPUs of a pool than it has.",
)
def _tenant_quota(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    promised: dict[tuple[str, str], int] = {}
    for t in site.tenants:
        for q in t.quotas:
            promised[(t.cluster, q.pool)] = promised.get((t.cluster, q.pool), 0) + q.gpus
    for (cluster, pool), gpus in promised.items():
        have = site.cluster(cluster).pool(pool).gpus
        if gpus > have:
            yield (
                f"pool/{cluster}/{pool}",
                f"tenants are promised {gpus} GPUs of pool {cluster}/{pool}, which has {have}",
            )


@rule(
    "address-plan-capacity",
    "Each hall's management and BMC networks hold a 32-address block per rack position plus its control-plane hosts.",
)
def _address_plan(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    yield from address_plan_findings(site)


def evaluate(site: Site, plan: SitePlan, config: PolicyConfig | None = None) -> list[Violation]:
    """Every site rule, in a stable order; disabled rules are skipped."""
    cfg = config or default_policy()
    out: list[Violation] = []
    for name, fn in SITE_RULES.items():
        rc = cfg.rule(name)
        if rc.level == "disabled":
            continue
        out.extend(Violation(name, rc.level, subject, message) for subject, message in fn(site, plan, rc))
    return out


def has_mandatory(violations: list[Violation]) -> bool:
    return any(v.level == "mandatory" for v in violations)
