"""Resource rules: plain functions over the resources one Pulumi stack declares.

The policy pack (``policy/``) wraps each rule in a ``ResourceValidationPolicy`` (scope
``resource``) or a ``StackValidationPolicy`` (scope ``stack``); ``gigafactory check --stack``
runs the same functions over the offline render of the stack. Nothing here imports pulumi
or pulumi_policy; the resource model is gigafactory.policy.resources.

A rule that needs a value unknown at preview fails closed: it reports a violation naming
the value it could not see, so the SDK never downgrades a mandatory policy to an advisory
"can't run policy ... during preview".

Levels and thresholds come from the ``resource_rules`` section of the versioned policy
file (gigafactory/data/policy.yaml), never from code; each rule declares the thresholds it
reads and their types.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from gigafactory.policy.config import RuleConfig, Threshold
from gigafactory.policy.resources import (
    UNKNOWN,
    PropPath,
    Resource,
    chart_name,
    fmt_path,
    get_in,
    is_helm,
    is_local_chart,
    is_workload,
    iter_images,
    k8s_name,
    last_key,
    quantity,
    walk,
)
from gigafactory.policy.rule import ResourceCheck, ResourceFinding, ResourceRule, Rule, StackContext
from gigafactory.site.model import GPU_RESOURCE, GPU_TAINT_KEY, LABEL_CLUSTER, LABEL_POOL, LABEL_TENANT

RESOURCE_RULES: dict[str, ResourceRule] = {}
"""Every resource rule by name, in registration order (the catalogue and docs order)."""

Finding = ResourceFinding
_STRINGS: Final = Threshold("strings")


def _register(
    name: str,
    scope: Literal["resource", "stack"],
    checks: str,
    thresholds: Mapping[str, Threshold] | None = None,
    *,
    needs_context: bool = False,
) -> Callable[[ResourceCheck], ResourceCheck]:
    def register(fn: ResourceCheck) -> ResourceCheck:
        RESOURCE_RULES[name] = Rule(name, scope, checks, dict(thresholds or {}), fn, needs_context)
        return fn

    return register


def run_rule(
    rule: ResourceRule, resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    """Every finding of one rule, each once. A rule that needs the site model fails closed without it."""
    if rule.needs_context and ctx is None:
        yield (
            None,
            "cannot tell which site and cluster this stack deploys (stack config gigafactory:site and "
            "gigafactory:cluster), so the rule cannot run; it fails closed",
        )
        return
    seen: set[tuple[int, str]] = set()
    for r, message in rule.check(resources, cfg, ctx):
        key = (id(r), message)
        if key not in seen:
            seen.add(key)
            yield r, message


def _unknown(path: PropPath, what: str) -> str:
    return (
        f"{fmt_path(path)} is unknown at preview, so {what} cannot be checked; the policy fails closed: "
        "give it a value known before deployment"
    )


_EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


@_register(
    "helm-chart-version-pinned",
    "resource",
    "Every Helm release or chart from a chart repository or registry names an exact chart version "
    "(no version, a range or a wildcard fails); charts from this repository's charts/ are pinned by the commit.",
    {"allow_local_charts": Threshold("boolean")},
)
def _chart_pinned(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    allow_local = cfg.flag("allow_local_charts")
    for r in resources:
        if not is_helm(r):
            continue
        chart, version = r.props.get("chart"), r.props.get("version")
        if chart is UNKNOWN:
            yield r, _unknown(("chart",), "the chart")
            continue
        if allow_local and isinstance(chart, str) and is_local_chart(chart):
            continue
        if version is UNKNOWN:
            yield r, _unknown(("version",), "the chart version")
        elif version is None or version == "":
            yield (
                r,
                f"chart {chart} has no version: Helm would install whatever is newest at deploy time; "
                "pin an exact chart version",
            )
        elif not _EXACT_VERSION.match(str(version)):
            yield (
                r,
                f"chart {chart} version {version!r} is not an exact version (a range or wildcard); pin one "
                "version so every deployment installs the same chart",
            )


# Keys whose value, when unknown at preview, may hide an image: in any resource the image
# fields themselves; in workloads and Helm releases also what holds the pod spec or values.
_IMAGE_FIELDS: Final = frozenset({"image", "tag", "digest"})
_IMAGE_CARRIERS: Final = frozenset(
    {"values", "spec", "template", "jobTemplate", "containers", "initContainers", "ephemeralContainers"}
)


@_register(
    "image-tag-pinned",
    "resource",
    "No container image in a workload's pod spec or a Helm release's values uses a forbidden tag "
    "(latest) or no tag at all; a digest pins too.",
    {"forbidden_tags": _STRINGS},
)
def _image_pinned(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    forbidden = set(cfg.strings("forbidden_tags"))
    for r in resources:
        carriers = _IMAGE_FIELDS | _IMAGE_CARRIERS if is_helm(r) or is_workload(r) else _IMAGE_FIELDS
        for path, v in walk(r.props):
            if v is UNKNOWN and last_key(path) in carriers:
                yield r, _unknown(path, "the images it sets")
        for path, ref, tag, digest in iter_images(r.props):
            where = fmt_path(path)
            if digest:
                continue
            if tag is UNKNOWN or ref is UNKNOWN:
                yield r, _unknown(path, "the image tag")
            elif isinstance(tag, str) and tag in forbidden:
                yield r, f"{where}: image {ref} uses tag {tag!r}, which moves; pin a release tag or a digest"
            elif tag is None:
                yield (
                    r,
                    f"{where}: image {ref} has no tag, so it resolves to 'latest', which moves; pin a "
                    "release tag or a digest",
                )


def _tolerates_gpu(t: Any) -> bool | None:
    """True when a toleration lets a pod onto GPU nodes; None when it is unknown at preview."""
    if t is UNKNOWN:
        return None
    if not isinstance(t, Mapping):
        return False
    key, op = t.get("key"), t.get("operator")
    if key is UNKNOWN or op is UNKNOWN:
        return None
    # A toleration with no key and operator Exists tolerates every taint, the GPU taint included.
    return key == GPU_TAINT_KEY or (not key and op == "Exists")


@_register(
    "gpu-taint-toleration-restricted",
    "resource",
    f"Only GPU-operator, GPU-monitoring and node-level GPU/network workloads (an allow-list of charts, "
    f"chart parts (chart/values key) and namespaces) tolerate the GPU pool taint {GPU_TAINT_KEY} (or every taint); other work reaches GPU "
    "nodes only through Kueue. Kueue ResourceFlavors are not workloads and are not checked.",
    {"allowed_charts": _STRINGS, "allowed_namespaces": _STRINGS},
)
def _gpu_tolerations(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    charts = set(cfg.strings("allowed_charts"))
    namespaces = set(cfg.strings("allowed_namespaces"))
    for r in resources:
        allowed_parts: set[str] = set()
        if is_helm(r):
            chart = r.props.get("chart")
            name = chart_name(chart) if isinstance(chart, str) else ""
            if name in charts:
                continue
            # "chart/key": only the part of the chart configured under values.<key> may.
            allowed_parts = {c.split("/", 1)[1] for c in charts if c.startswith(f"{name}/")}
            what = f"chart {chart}" if isinstance(chart, str) else "this chart"
        elif is_workload(r):
            ns = get_in(r.props, "metadata", "namespace")
            if isinstance(ns, str) and ns in namespaces:
                continue
            what = f"{r.kind} {k8s_name(r)} in namespace {ns or 'default'}"
        else:
            continue
        for path, v in walk(r.props):
            key = path[-1] if path else None
            if v is UNKNOWN and key in {"values", "spec", "template", "jobTemplate", "tolerations"}:
                yield r, _unknown(path, "its tolerations")
            if key != "tolerations" or not isinstance(v, list):
                continue
            if len(path) > 1 and path[0] == "values" and path[1] in allowed_parts:
                continue
            for i, t in enumerate(v):
                hit = _tolerates_gpu(t)
                if hit is None:
                    yield r, _unknown((*path, i), "the toleration")
                elif hit:
                    yield (
                        r,
                        f"{fmt_path((*path, i))}: {what} tolerates the GPU pool taint {GPU_TAINT_KEY}; only "
                        "allow-listed GPU operator and monitoring workloads may, everything else reaches GPU "
                        "nodes through Kueue",
                    )


@_register(
    "simulated-gpu-no-driver",
    "resource",
    "On kind and minikube stacks (simulated GPUs) no GPU driver or container toolkit is installed: "
    "the GPU operator runs with driver.enabled and toolkit.enabled false and no workload runs a driver "
    "or toolkit image.",
    {"platforms": _STRINGS, "gpu_operator_charts": _STRINGS, "driver_images": _STRINGS},
    needs_context=True,
)
def _no_driver(resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None) -> Iterator[Finding]:
    if ctx is None or ctx.platform not in cfg.strings("platforms"):
        return
    operators = set(cfg.strings("gpu_operator_charts"))
    driver_images = cfg.strings("driver_images")
    for r in resources:
        if is_helm(r):
            chart = r.props.get("chart")
            if chart is UNKNOWN:
                yield r, _unknown(("chart",), "whether it installs a GPU driver")
                continue
            if not (isinstance(chart, str) and chart_name(chart) in operators):
                continue
            for part in ("driver", "toolkit"):
                enabled = get_in(r.props.get("values"), part, "enabled")
                if enabled is UNKNOWN:
                    yield r, _unknown(("values", part, "enabled"), f"whether the {part} is installed")
                elif enabled is not False:
                    yield (
                        r,
                        f"{chart_name(chart)} installs the GPU {part} on a {ctx.platform} stack "
                        f"(values.{part}.enabled is {'not set' if enabled is None else repr(enabled)}; the chart default "
                        "is true): a laptop has no "
                        f"GPU, set {part}.enabled=false",
                    )
        elif is_workload(r):
            for path, ref, _tag, _digest in iter_images(r.props):
                if isinstance(ref, str) and any(p in ref for p in driver_images):
                    yield (
                        r,
                        f"{fmt_path(path)}: image {ref} installs a GPU driver or toolkit on a {ctx.platform} stack",
                    )


def _flavor_pool(flavor: Resource, ctx: StackContext) -> tuple[int | None, str]:
    """(GPUs of the pool the flavor selects, or None, description of the mapping or the problem)."""
    labels = get_in(flavor.props, "spec", "nodeLabels")
    if labels is UNKNOWN:
        return None, _unknown(("spec", "nodeLabels"), "the pool it selects")
    if not isinstance(labels, Mapping) or not isinstance(labels.get(LABEL_POOL), str):
        return (
            None,
            f"ResourceFlavor {k8s_name(flavor)} has no spec.nodeLabels[{LABEL_POOL}], so no pool backs it",
        )
    cluster, pool = labels.get(LABEL_CLUSTER, ctx.cluster.name), labels[LABEL_POOL]
    if cluster != ctx.cluster.name:
        return (
            None,
            f"ResourceFlavor {k8s_name(flavor)} selects cluster {cluster!r}, but this stack is {ctx.cluster.name!r}",
        )
    try:
        p = ctx.cluster.pool(pool)
    except KeyError:
        return (
            None,
            f"ResourceFlavor {k8s_name(flavor)} selects pool {pool!r}, which cluster {cluster} does not have",
        )
    return p.gpus, f"pool {cluster}/{pool} ({p.gpus} GPUs)"


@_register(
    "kueue-gpu-quota-within-pool",
    "stack",
    f"The {GPU_RESOURCE} nominal quota Kueue ClusterQueues give on a flavor, alone and summed over the "
    "queues, never exceeds the GPUs of the pool the flavor selects (its nodeLabels; GPUs from the site model).",
    needs_context=True,
)
def _kueue_quota(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    if ctx is None:
        return
    flavors: dict[str, Resource] = {}
    for r in resources:
        if r.type.startswith("kubernetes:kueue.x-k8s.io/") and r.kind == "ResourceFlavor":
            name = k8s_name(r)
            if name is UNKNOWN:
                yield r, _unknown(("metadata", "name"), "which quota draws on this flavor")
            else:
                flavors[str(name)] = r
    # flavor name -> [(queue, GPUs)]
    given: dict[str, list[tuple[Resource, float]]] = {}
    for q in resources:
        if not (q.type.startswith("kubernetes:kueue.x-k8s.io/") and q.kind == "ClusterQueue"):
            continue
        groups = get_in(q.props, "spec", "resourceGroups")
        if groups is UNKNOWN:
            yield q, _unknown(("spec", "resourceGroups"), "its GPU quota")
            continue
        for gi, g in enumerate(groups or []):
            fl = get_in(g, "flavors")
            if g is UNKNOWN or fl is UNKNOWN:
                yield q, _unknown(("spec", "resourceGroups", gi), "its GPU quota")
                continue
            for fi, f in enumerate(fl or []):
                base: PropPath = ("spec", "resourceGroups", gi, "flavors", fi)
                fname, res = get_in(f, "name"), get_in(f, "resources")
                if f is UNKNOWN or fname is UNKNOWN or res is UNKNOWN:
                    yield q, _unknown(base, "its GPU quota")
                    continue
                for ri, rq in enumerate(res or []):
                    rname, quota = get_in(rq, "name"), get_in(rq, "nominalQuota")
                    if rq is UNKNOWN or rname is UNKNOWN:
                        yield q, _unknown((*base, "resources", ri), "its GPU quota")
                        continue
                    if rname != GPU_RESOURCE:
                        continue
                    if quota is UNKNOWN:
                        yield q, _unknown((*base, "resources", ri, "nominalQuota"), "its GPU quota")
                        continue
                    n = quantity(quota)
                    if n is None:
                        yield (
                            q,
                            f"{fmt_path((*base, 'resources', ri, 'nominalQuota'))}: {quota!r} is not a quantity",
                        )
                        continue
                    given.setdefault(str(fname), []).append((q, n))
    for fname, quotas in given.items():
        flavor = flavors.get(fname)
        if flavor is None:
            for q, _ in quotas:
                yield (
                    q,
                    f"quota on flavor {fname!r}, which no ResourceFlavor of this stack defines, so no pool backs it",
                )
            continue
        gpus, what = _flavor_pool(flavor, ctx)
        if gpus is None:
            for q, _ in quotas:
                yield q, f"quota on flavor {fname!r}: {what}"
            continue
        for q, n in quotas:
            if n > gpus:
                yield q, f"ClusterQueue {k8s_name(q)} gives {n:g} GPUs of flavor {fname}, but {what}"
        total = sum(n for _, n in quotas)
        if total > gpus and all(n <= gpus for _, n in quotas):
            names = ", ".join(str(k8s_name(q)) for q, _ in quotas)
            for q, _ in quotas:
                yield q, f"ClusterQueues {names} together give {total:g} GPUs of flavor {fname}, but {what}"


def _deny_all(policy: Resource, types: set[str]) -> bool | None:
    """True when a NetworkPolicy selects every pod and allows nothing for ``types``; None if unknown."""
    spec = policy.props.get("spec")
    if spec is UNKNOWN:
        return None
    selector = get_in(spec, "podSelector")
    ptypes = get_in(spec, "policyTypes")
    if selector is UNKNOWN or ptypes is UNKNOWN:
        return None
    if isinstance(selector, Mapping) and (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    if not isinstance(ptypes, list) or not types <= {str(t) for t in ptypes}:
        return False
    for t in types:
        rules = get_in(spec, t.lower())
        if rules is UNKNOWN:
            return None
        if rules:
            return False
    return True


def _tenant_releases(
    resources: Sequence[Resource], charts: set[str], expected: Mapping[str, str]
) -> Iterator[tuple[Resource, str | None, str]]:
    """Releases of the project's tenant chart: (release, tenant it onboards or None, problem or "").

    The chart's contract (charts/tenant, tested there): the namespace is tenant.namespace or
    the tenant name, labelled gigafactory.io/tenant=<tenant.name>, with a default-deny
    NetworkPolicy for ingress and egress unless networkPolicy.enabled is false.
    """
    for r in resources:
        chart = r.props.get("chart") if is_helm(r) else None
        if not (isinstance(chart, str) and chart_name(chart) in charts):
            continue
        values = r.props.get("values")
        name, ns = get_in(values, "tenant", "name"), get_in(values, "tenant", "namespace")
        if values is UNKNOWN or name is UNKNOWN or ns is UNKNOWN:
            yield r, None, _unknown(("values", "tenant"), "which tenant it onboards")
            continue
        if not isinstance(name, str) or not name:
            yield r, None, "tenant chart release without values.tenant.name"
            continue
        namespace = ns or name
        if name in expected and namespace != expected[name]:
            yield (
                r,
                name,
                f"tenant {name} gets namespace {namespace}, but the site model names it {expected[name]}: "
                "Kueue and the site policies look for the model's name",
            )
        for key in ("namespaceLabels", "commonLabels"):
            where = ("values", "tenant", key) if key == "namespaceLabels" else ("values", key)
            label = get_in(values, *where[1:], LABEL_TENANT)
            if label is UNKNOWN:
                yield r, name, _unknown((*where, LABEL_TENANT), "the tenant label")
            elif label is not None and label != name:
                yield r, name, f"{fmt_path(where)} sets {LABEL_TENANT}={label!r} on tenant {name}'s namespace"
        enabled = get_in(values, "networkPolicy", "enabled")
        if enabled is UNKNOWN:
            yield r, name, _unknown(("values", "networkPolicy", "enabled"), "the default-deny NetworkPolicy")
        elif enabled is False:
            yield (
                r,
                name,
                f"values.networkPolicy.enabled is false: tenant namespace {namespace} gets no default-deny "
                "NetworkPolicy, so pods of other tenants could reach its pods",
            )
        else:
            yield r, name, ""


@_register(
    "tenant-namespace-isolation",
    "stack",
    f"Every tenant of the cluster (site model) has its namespace (tenant-<name>), labelled "
    f"{LABEL_TENANT}=<tenant> and closed by a default-deny NetworkPolicy (empty pod selector, no rules for "
    "the denied policy types), either as Namespace and NetworkPolicy resources or through a release of "
    f"the project's tenant chart; any namespace labelled {LABEL_TENANT} is held to the same.",
    {"deny_policy_types": _STRINGS, "tenant_charts": _STRINGS},
    needs_context=True,
)
def _tenant_isolation(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    if ctx is None:
        return
    deny_types = set(cfg.strings("deny_policy_types"))
    charts = set(cfg.strings("tenant_charts"))
    expected = {t.name: t.namespace for t in ctx.site.tenants if t.cluster == ctx.cluster.name}
    by_namespace = {ns: t for t, ns in expected.items()}
    onboarded: set[str] = set()
    for r, tenant, problem in _tenant_releases(resources, charts, expected):
        if tenant is not None:
            onboarded.add(tenant)
        if problem:
            yield r, problem

    namespaces: dict[str, Resource] = {}
    policies: dict[str, list[Resource]] = {}
    unknown_ns = False
    for r in resources:
        if r.type == "kubernetes:core/v1:Namespace":
            name = k8s_name(r)
            if name is UNKNOWN:
                yield r, _unknown(("metadata", "name"), "whether it is a tenant namespace")
            else:
                namespaces[str(name)] = r
        elif r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy":
            ns = get_in(r.props, "metadata", "namespace")
            if ns is UNKNOWN:
                unknown_ns = True
            else:
                policies.setdefault(str(ns or "default"), []).append(r)
    for ns, r in namespaces.items():
        label = get_in(r.props, "metadata", "labels", LABEL_TENANT)
        if label is UNKNOWN:
            yield r, _unknown(("metadata", "labels", LABEL_TENANT), "the tenant label")
            continue
        tenant = by_namespace.get(ns)
        if tenant is None and label is None:
            continue  # not a tenant namespace
        if tenant is not None and label != tenant:
            yield (
                r,
                f"tenant namespace {ns} carries {LABEL_TENANT}={label!r}, expected {tenant!r}: quotas, "
                "network policies and dashboards select tenants by this label",
            )
        onboarded.add(tenant or str(label))
        verdicts = [_deny_all(p, deny_types) for p in policies.get(ns, [])]
        if any(v is True for v in verdicts):
            continue
        if unknown_ns or any(v is None for v in verdicts):
            yield (
                r,
                _unknown(
                    ("metadata", "namespace"), f"whether namespace {ns} has a default-deny NetworkPolicy"
                ),
            )
            continue
        yield (
            r,
            f"tenant namespace {ns} has no default-deny NetworkPolicy ({', '.join(sorted(deny_types))}): "
            "pods of other tenants could reach its pods",
        )
    for tenant, ns in expected.items():
        if tenant not in onboarded:
            yield (
                None,
                f"tenant {tenant} of cluster {ctx.cluster.name} has no namespace {ns} in this stack (neither a "
                "Namespace resource nor a tenant chart release)",
            )


@_register(
    "ipoib-pool-subnets-disjoint",
    "stack",
    "The IPoIB address pools (NVIDIA IPAM IPPools) of a stack have subnets that do not overlap: each "
    "GPU pool's pods get addresses of their own, so no two nodes can be handed the same address.",
)
def _ipoib_disjoint(
    resources: Sequence[Resource], cfg: RuleConfig, ctx: StackContext | None
) -> Iterator[Finding]:
    seen: list[tuple[Any, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for r in resources:
        if not (r.type.startswith("kubernetes:nv-ipam.nvidia.com/") and r.kind == "IPPool"):
            continue
        subnet = get_in(r.props, "spec", "subnet")
        if subnet is UNKNOWN:
            yield r, _unknown(("spec", "subnet"), "whether its addresses overlap another pool's")
            continue
        try:
            net = ipaddress.ip_network(str(subnet))
        except ValueError:
            yield r, f"spec.subnet: {subnet!r} is not a network address range (CIDR)"
            continue
        for other_name, other_net in seen:
            if net.version == other_net.version and net.overlaps(other_net):
                yield (
                    r,
                    f"IPPool {k8s_name(r)} subnet {net} overlaps IPPool {other_name}'s {other_net}: "
                    "give each GPU pool its own IPoIB subnet",
                )
        seen.append((k8s_name(r), net))
