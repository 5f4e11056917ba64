"""The one rule type of the policy engine, what a finding is about, and what a stack deploys.

A rule has a stable kebab-case name, a scope and the thresholds it reads:

- ``site``: a function of a site and its plan (gigafactory.policy.site_rules); it runs for a
  site file and, as a stack policy, for every stack of the site;
- ``resource``: judges the resources of a stack one at a time (gigafactory.policy.resource_rules);
- ``stack``: needs several resources of a stack together.

A finding names its subject as a ``Subject`` (kind, cluster, pool, name), never as a
string to be parsed back: the engine keeps a site finding in a stack when
``subject.concerns(cluster)``, and the reports render ``str(subject)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from gigafactory.planning.plan import SitePlan
from gigafactory.planning.plan import plan as make_plan
from gigafactory.policy.config import RuleConfig, Threshold
from gigafactory.policy.resources import Resource
from gigafactory.site.model import Cluster, Site

Scope = Literal["site", "stack", "resource"]
SubjectKind = Literal["site", "grid", "hall", "cluster", "pool", "stack", "resource"]


@dataclass(frozen=True, slots=True)
class Subject:
    """What a violation is about.

    ``cluster`` and ``pool`` are set for the kinds that belong to one cluster (cluster,
    pool); ``name`` is the site, grid zone, hall, stack or resource (``type::name``).
    """

    kind: SubjectKind
    name: str = ""
    cluster: str | None = None
    pool: str | None = None

    def concerns(self, cluster: str) -> bool:
        """Whether a finding about this subject belongs in a stack of ``cluster``: findings
        about the site, its grid or a hall belong in every stack; about a cluster or a
        pool only in that cluster's."""
        return self.cluster is None or self.cluster == cluster

    def __str__(self) -> str:
        if self.kind == "resource":
            return self.name
        if self.kind == "cluster":
            return f"cluster/{self.cluster}"
        if self.kind == "pool":
            return f"pool/{self.cluster}/{self.pool}"
        return f"{self.kind}/{self.name}"


def site_subject(name: str) -> Subject:
    return Subject("site", name)


def grid_subject(zone: str) -> Subject:
    return Subject("grid", zone)


def hall_subject(name: str) -> Subject:
    return Subject("hall", name)


def cluster_subject(cluster: str) -> Subject:
    return Subject("cluster", cluster=cluster)


def pool_subject(cluster: str, pool: str) -> Subject:
    return Subject("pool", cluster=cluster, pool=pool)


def stack_subject(stack: str) -> Subject:
    return Subject("stack", stack)


def resource_subject(r: Resource) -> Subject:
    """A resource as the tail of its URN: ``<type>::<name>``."""
    return Subject("resource", f"{r.type}::{r.name}")


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    level: str
    about: Subject
    """What the violation concerns: the site, its grid, a hall, a cluster, a pool, a stack or a resource."""
    message: str
    """What is wrong and why it matters."""

    @property
    def subject(self) -> str:
        """``about`` as the reports print it (``pool/c1/train``, ``kubernetes:...::name``)."""
        return str(self.about)

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "level": self.level, "subject": self.subject, "message": self.message}


def has_mandatory(violations: Sequence[Violation]) -> bool:
    return any(v.level == "mandatory" for v in violations)


@dataclass(frozen=True)
class StackContext:
    """What a stack deploys: one cluster of one site, and the site's plan."""

    stack: str
    site: Site
    cluster: Cluster
    plan: SitePlan = field(repr=False)

    @classmethod
    def build(
        cls, stack: str, site: Site, cluster: str | Cluster, plan: SitePlan | None = None
    ) -> StackContext:
        """``cluster``: a name, or the Cluster itself (e.g. with the stack's platform override);
        ``plan``: the site's plan when the caller has it already."""
        c = site.cluster(cluster) if isinstance(cluster, str) else cluster
        return cls(stack, site, c, plan if plan is not None else make_plan(site))

    @property
    def platform(self) -> str:
        return self.cluster.platform


# A site rule's finding: its subject and the message.
SiteFinding = tuple[Subject, str]
SiteCheck = Callable[[Site, SitePlan, RuleConfig], Iterator[SiteFinding]]
# A resource rule's finding: the resource it concerns (None: the stack as a whole) and the message.
ResourceFinding = tuple[Resource | None, str]
ResourceCheck = Callable[[Sequence[Resource], RuleConfig, StackContext | None], Iterator[ResourceFinding]]

CheckT = TypeVar("CheckT", SiteCheck, ResourceCheck)


@dataclass(frozen=True, slots=True)
class Rule(Generic[CheckT]):
    """One policy rule. Its level and threshold values come from the policy file."""

    name: str
    scope: Scope
    checks: str
    """One sentence: what the rule checks (policy description and docs)."""
    thresholds: Mapping[str, Threshold]
    """The thresholds it reads, with their types (the policy file's schema)."""
    check: CheckT
    needs_context: bool = False
    """True when a resource rule reads the site model (which cluster, platform, pools, tenants)."""


SiteRule = Rule[SiteCheck]
ResourceRule = Rule[ResourceCheck]
