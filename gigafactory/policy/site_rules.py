"""Site policy rules: plain functions over a site and its plan, returning findings.

Each rule has a stable kebab-case name and scope ``site``; it names the subject of each
finding structurally (gigafactory.policy.rule.Subject). Its level and thresholds come from
the versioned policy file (default: gigafactory/data/policy.yaml), never from code; each
rule declares the thresholds it reads and their types. The engine
(gigafactory.policy.engine) runs them for a site file or a stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from gigafactory.planning.plan import SitePlan
from gigafactory.policy.config import RuleConfig, Threshold
from gigafactory.policy.rule import (
    Rule,
    SiteCheck,
    SiteFinding,
    SiteRule,
    cluster_subject,
    grid_subject,
    hall_subject,
    pool_subject,
    site_subject,
)
from gigafactory.site.addressing import address_plan_findings
from gigafactory.site.model import Site

SITE_RULES: dict[str, SiteRule] = {}
"""Every site rule by name, in registration order (the evaluation, catalogue and docs order)."""

Finding = SiteFinding


def rule(
    name: str, checks: str, thresholds: Mapping[str, Threshold] | None = None
) -> Callable[[SiteCheck], SiteCheck]:
    """Register a site rule: ``checks`` says in one sentence what it checks."""

    def register(fn: SiteCheck) -> SiteCheck:
        SITE_RULES[name] = Rule(name, "site", checks, dict(thresholds or {}), fn)
        return fn

    return register


@rule(
    "region-grid-carbon-max",
    "The site's grid zone averages at most the life-cycle carbon-intensity limit.",
    {"max_g_per_kwh": Threshold("number", minimum=0)},
)
def _grid_carbon(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = cfg.number("max_g_per_kwh")
    if plan.carbon_g_per_kwh > limit:
        yield (
            grid_subject(plan.zone),
            f"grid zone {plan.zone} averages {plan.carbon_g_per_kwh:g} g CO2eq/kWh, above the "
            f"{limit:g} g limit: GPUs here would not run on low-carbon power",
        )


@rule(
    "region-renewable-share-min",
    "The grid zone's renewable share is at least the minimum.",
    {"min_share": Threshold("number", minimum=0, maximum=1)},
)
def _renewable_share(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    minimum = cfg.number("min_share")
    if plan.renewable_share < minimum:
        yield (
            grid_subject(plan.zone),
            f"grid zone {plan.zone} is {plan.renewable_share:.0%} renewable, below the "
            f"{minimum:.0%} minimum for a renewable-powered site",
        )


@rule(
    "renewable-claim-evidence",
    "The site's certificates (guarantees of origin or PPA) cover at least a share of its annual facility consumption.",
    {"min_coverage": Threshold("number", minimum=0)},
)
def _evidence(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    evidence = site.grid.renewable_evidence
    annual_mwh = plan.facility_mw * 8760  # hours in a (non-leap) year
    need_mwh = annual_mwh * cfg.number("min_coverage")
    if evidence is None:
        yield (
            site_subject(site.name),
            "grid.renewable_evidence is missing: a renewable claim needs guarantees of origin or a PPA "
            "for the consumption, since power bought without them carries the residual mix",
        )
    elif evidence.mwh < need_mwh:
        yield (
            site_subject(site.name),
            f"grid.renewable_evidence covers {evidence.mwh:,.0f} MWh, below {cfg.number('min_coverage'):.0%} "
            f"of the annual facility consumption of {annual_mwh:,.0f} MWh ({plan.facility_mw:.3f} MW x "
            "8,760 h): the rest carries the residual mix",
        )


@rule(
    "site-power-envelope",
    "Facility power (IT power x design PUE) fits the grid allocation of the active phase.",
)
def _envelope(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    if plan.facility_mw > plan.envelope_mw:
        yield (
            site_subject(site.name),
            f"facility power {plan.facility_mw:.3f} MW (IT {plan.it_mw:.3f} MW x PUE {plan.design_pue:g}) "
            f"exceeds the {plan.envelope_mw:g} MW grid allocation of phase {plan.phase}",
        )


@rule(
    "design-pue-max",
    "The design PUE is at most the limit.",
    {"max_pue": Threshold("number", minimum=1)},
)
def _pue(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = cfg.number("max_pue")
    if site.power.design_pue > limit:
        yield (
            site_subject(site.name),
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
                    pool_subject(c.name, p.name),
                    f"{p.sku} racks draw up to {p.spec.rack_kw:g} kW but hall {hall.name} delivers at "
                    f"most {hall.max_rack_kw:g} kW per rack",
                )


@rule(
    "liquid-cooling-required",
    "Liquid-cooled SKUs, and racks above the air-cooling limit, sit in liquid-cooled halls.",
    {"max_air_rack_kw": Threshold("number", minimum=0)},
)
def _liquid(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    air_max = cfg.number("max_air_rack_kw")
    for c in site.clusters:
        for p in c.pools:
            hall = site.hall(p.hall)
            if hall.cooling == "liquid":
                continue
            if p.spec.cooling == "liquid":
                yield (
                    pool_subject(c.name, p.name),
                    f"{p.sku} is liquid cooled but hall {hall.name} is air cooled",
                )
            elif p.spec.rack_kw > air_max:
                yield (
                    pool_subject(c.name, p.name),
                    f"{p.sku} racks draw {p.spec.rack_kw:g} kW, above the {air_max:g} kW that air "
                    f"cooling removes, but hall {hall.name} is air cooled",
                )


@rule(
    "heat-reuse-plan",
    "A site above the power threshold has a plan for its waste heat.",
    {"min_facility_mw": Threshold("number", minimum=0)},
)
def _heat(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    minimum = cfg.number("min_facility_mw")
    if plan.facility_mw > minimum and site.heat_reuse is None:
        yield (
            site_subject(site.name),
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
                cluster_subject(c.name),
                f"{f.design_endpoints} GPU endpoints do not fit one non-blocking plane of {f.switch} "
                f"(radix {f.radix}: at most {f.max_endpoints} in three tiers); split the cluster",
            )


@rule(
    "k8s-cluster-size",
    "A cluster stays within the upstream node limit, or the exception limit with a documented exception.",
    {
        "max_nodes": Threshold("integer", minimum=1),
        "max_nodes_with_exception": Threshold("integer", minimum=1),
    },
)
def _k8s_size(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    limit = cfg.integer("max_nodes")
    hard = cfg.integer("max_nodes_with_exception")
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
        yield (cluster_subject(c.name), f"cluster {c.name} has {nodes} nodes, {why}")


@rule(
    "gpu-commitment-cap",
    "The planned GPUs stay within the contracted GPUs of the active phase.",
)
def _commitment(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    if plan.gpus > site.commitments.gpus:
        yield (
            site_subject(site.name),
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
                    pool_subject(c.name, p.name),
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
                    pool_subject(c.name, p.name),
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
                pool_subject(cluster, pool),
                f"tenants are promised {gpus} GPUs of pool {cluster}/{pool}, which has {have}",
            )


@rule(
    "address-plan-capacity",
    "Each hall's management network holds a 32-address block and its BMC network a 64-address block per rack position, plus its control-plane hosts.",
)
def _address_plan(site: Site, plan: SitePlan, cfg: RuleConfig) -> Iterator[Finding]:
    for f in address_plan_findings(site):
        if f.hall is not None:
            yield hall_subject(f.hall), f.message
        elif f.cluster is not None and f.pool is not None:
            yield pool_subject(f.cluster, f.pool), f.message
        else:
            yield site_subject(site.name), f.message
