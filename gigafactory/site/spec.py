"""The site file as written: the versioned input types (``apiVersion: gigafactory.io/v1alpha1``).

These types only check what each field may hold on its own (types, ranges, patterns,
catalog names). Cross-references between parts of the file (halls, clusters, pools,
tenants) are resolved by ``gigafactory.site.resolve``, which turns a spec into the frozen,
placed objects of ``gigafactory.site.model`` that every other layer reads. Nothing here
computes a pool fact: a spec pool has no site, no rack range and no labels.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from gigafactory.site import catalog
from gigafactory.site.kubernetes import KubernetesSpec

API_GROUP = "gigafactory.io"
API_VERSION = f"{API_GROUP}/v1alpha1"
KNOWN_API_VERSIONS = (API_VERSION,)
"""Site file versions this release reads, oldest first."""
KIND = "Site"

Role = Literal["training", "inference", "system", "storage"]
GPU_ROLES: frozenset[str] = frozenset({"training", "inference"})
Platform = Literal["baremetal", "kind", "minikube", "kwok"]
LAPTOP_PLATFORMS: tuple[str, ...] = ("kind", "minikube", "kwok")
"""Platforms without real GPUs: a laptop cluster (kind, minikube) or the local simulator (kwok)."""

NAME_MAX = 40
_NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAME_RULE = (
    f"lowercase letters, digits and '-', starting and ending alphanumeric, at most {NAME_MAX} characters"
)


def check_name(value: str) -> str:
    """A name that becomes part of host names, labels and Kubernetes object names."""
    if len(value) > NAME_MAX or not _NAME_RE.fullmatch(value):
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"{shown!r} is not a valid name; allowed: {NAME_RULE}")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank; allowed: text that says what it stands for")
    return value


Name = Annotated[str, AfterValidator(check_name)]
Text = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(_not_blank)]
"""Text that carries meaning: never empty or only blanks."""


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class EvidencePeriod(_Strict):
    start: date = Field(strict=False)
    """First day the certificates cover (YAML date, e.g. 2026-01-01)."""
    end: date = Field(strict=False)
    """Last day the certificates cover, inclusive."""

    @model_validator(mode="after")
    def _ordered(self) -> EvidencePeriod:
        if self.end < self.start:
            raise ValueError(
                f"end: {self.end} is before start {self.start}; allowed: a day on or after start"
            )
        return self


CertificateId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]
EVIDENCE_SHAPE = "a mapping with registry, certificates (a list of identifiers), mwh and period {start, end}"


class RenewableEvidence(_Strict):
    """The paperwork behind a renewable claim: guarantees of origin (or a PPA's certificates)
    cancelled in a registry for the site's consumption. Policy rule renewable-claim-evidence
    checks that ``mwh`` covers the site's annual facility consumption."""

    registry: Text
    """Registry the certificates are issued and cancelled in, e.g. the Norwegian GO registry (Statnett)."""
    certificates: list[CertificateId] = Field(min_length=1, max_length=10_000)
    """Certificate, cancellation-statement or PPA contract identifiers, as the registry writes them."""
    mwh: float = Field(gt=0, le=1_000_000_000, allow_inf_nan=False)
    """Energy the certificates cover over ``period``, MWh."""
    period: EvidencePeriod

    @field_validator("certificates")
    @classmethod
    def _unique_certificates(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for c in v:
            if c in seen:
                raise ValueError(f"{c!r} appears twice; allowed: each certificate once")
            seen.add(c)
        return v


class Grid(_Strict):
    zone: str
    """Electricity Maps zone id (grid catalog), e.g. NO-NO4."""
    renewable_evidence: RenewableEvidence | None = None
    """Certificates backing the renewable claim (registry, identifiers, MWh, period). Leaving it
    out is a policy finding (renewable-claim-evidence); the old free-text form is an input error."""
    data_year: int | None = None
    """Catalog year for carbon intensity and renewable share; default: latest published."""

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if v not in catalog.zones():
            shown = v if len(v) <= 60 else v[:57] + "..."
            raise ValueError(f"{shown!r} is not a known grid zone; allowed: {', '.join(catalog.zones())}")
        return v

    @field_validator("renewable_evidence", mode="before")
    @classmethod
    def _structured_evidence(cls, v: object) -> object:
        if isinstance(v, str):
            raise ValueError(f"free text is no longer accepted; allowed: {EVIDENCE_SHAPE}")
        return v

    @model_validator(mode="after")
    def _known_year(self) -> Grid:
        if self.data_year is not None:
            zone = catalog.zones()[self.zone]
            years = [y for y in sorted(zone.carbon_g_per_kwh) if y in zone.renewable_share]
            if self.data_year not in years:
                raise ValueError(
                    f"data_year: {self.data_year} has no data for {self.zone}; "
                    f"allowed: {', '.join(str(y) for y in years)}"
                )
        return self


class Phase(_Strict):
    name: Name
    mw: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    """Contracted grid allocation in MW, cumulative (includes earlier phases)."""


class Power(_Strict):
    design_pue: float = Field(ge=1.0, le=3.0, allow_inf_nan=False)
    phases: list[Phase] = Field(min_length=1, max_length=100)
    active_phase: str

    @model_validator(mode="after")
    def _phases(self) -> Power:
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phases: names must be unique, got {names}")
        if self.active_phase not in names:
            raise ValueError(
                f"active_phase: {self.active_phase!r} is not a phase; allowed: {', '.join(names)}"
            )
        for prev, cur in zip(self.phases, self.phases[1:], strict=False):
            if cur.mw < prev.mw:
                raise ValueError(
                    f"phases: allocations are cumulative, so {cur.name!r} ({cur.mw} MW) "
                    f"cannot be below {prev.name!r} ({prev.mw} MW)"
                )
        return self

    @property
    def envelope_mw(self) -> float:
        """Grid allocation of the active phase, MW."""
        return next(p.mw for p in self.phases if p.name == self.active_phase)


class HeatReuse(_Strict):
    plan: Text
    """What happens to the waste heat (district heating, offtaker), or why it cannot be reused."""
    offtaker: str = Field(default="", max_length=2000)


class Hall(_Strict):
    name: Name
    cooling: Literal["liquid", "air"]
    max_rack_kw: float = Field(gt=0, le=2000, allow_inf_nan=False)
    """Highest rack power the hall's power and cooling deliver, kW."""
    rack_positions: int = Field(gt=0, le=100_000)
    """Rack positions in the hall."""
    mgmt_cidr: str
    """IPv4 management network of the hall (node addresses)."""
    bmc_cidr: str
    """IPv4 out-of-band network of the hall (BMC addresses)."""

    @field_validator("mgmt_cidr", "bmc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError:
            shown = v if len(v) <= 60 else v[:57] + "..."
            raise ValueError(
                f"{shown!r} is not an IPv4 network; allowed: CIDR such as 10.16.0.0/16"
            ) from None
        for what, bad in (
            ("loopback", net.is_loopback),
            ("multicast", net.is_multicast),
            ("link-local", net.is_link_local),
            ("reserved", net.is_reserved),
            ("unspecified", net.network_address.is_unspecified),
        ):
            if bad:
                raise ValueError(f"{v} is a {what} range; allowed: a private or public unicast network")
        return v


class Commitments(_Strict):
    gpus: int = Field(ge=0, le=100_000_000)
    """Contracted GPU count for the active phase."""


class ControlPlane(_Strict):
    count: int = 3
    """Control-plane hosts (etcd members): 1 for a laptop, 3 or 5 in production."""
    hall: str | None = None
    """Hall of the control-plane hosts; default: the hall of the cluster's first pool."""

    @field_validator("count")
    @classmethod
    def _odd_quorum(cls, v: int) -> int:
        if v not in (1, 3, 5):
            raise ValueError(f"{v} control-plane hosts; allowed: 1, 3, 5 (an odd etcd quorum)")
        return v


class Fabric(_Strict):
    switch: str | None = None
    """Switch model of the compute fabric (switch catalog); default: the SKU's default switch."""

    @field_validator("switch")
    @classmethod
    def _known_switch(cls, v: str | None) -> str | None:
        if v is not None and v not in catalog.switches():
            raise ValueError(f"{v!r} is not a known switch; allowed: {', '.join(catalog.switches())}")
        return v


class PoolSpec(_Strict):
    name: Name
    role: Role
    sku: str
    hall: str
    racks: int | None = Field(default=None, gt=0, le=1_000_000)
    """Whole racks; give racks or nodes, not both."""
    nodes: int | None = Field(default=None, gt=0, le=10_000_000)
    """Nodes (partial last rack allowed); give racks or nodes, not both."""
    first_rack: int | None = Field(default=None, gt=0, le=1_000_000)
    """1-based rack position of the pool's first rack in its hall; default: after the previous pool in the hall.
    Pin it in production so adding a pool never renumbers the racks of another."""

    @field_validator("sku")
    @classmethod
    def _known_sku(cls, v: str) -> str:
        if v not in catalog.skus():
            shown = v if len(v) <= 60 else v[:57] + "..."
            raise ValueError(f"{shown!r} is not a known SKU; allowed: {', '.join(catalog.skus())}")
        return v

    @model_validator(mode="after")
    def _size(self) -> PoolSpec:
        if (self.racks is None) == (self.nodes is None):
            raise ValueError("give exactly one of racks or nodes")
        if self.role in GPU_ROLES and not catalog.skus()[self.sku].is_gpu:
            raise ValueError(f"role {self.role!r} needs a GPU SKU; {self.sku!r} has no GPUs")
        return self


class ClusterSpec(_Strict):
    name: Name
    platform: Platform = "baremetal"
    """Where the cluster runs: baremetal, kind / minikube on a laptop, or kwok (the local simulator)."""
    kubernetes_node_limit_exception: str = Field(default="", max_length=2000)
    """A documented reason (design review reference) to run above the upstream 5,000-node limit."""
    control_plane: ControlPlane = ControlPlane()
    fabric: Fabric = Fabric()
    kubernetes: KubernetesSpec = KubernetesSpec()
    """API endpoint, pod and service networks, Kubernetes version (kubeadm)."""
    pools: list[PoolSpec] = Field(min_length=1, max_length=1000)


class TenantQuota(_Strict):
    pool: str
    gpus: int = Field(ge=0, le=100_000_000)


PKEY_DEFAULT = 0x7FFF
"""The InfiniBand default partition every port joins; never a tenant's."""
PKEY_RULE = "a 15-bit partition key 0x0001-0x7ffe (0x7fff is the default partition), unique in the site"


class Tenant(_Strict):
    name: Name
    cluster: str
    group: Text
    """Identity-provider group bound to the tenant namespace's edit role."""
    quotas: list[TenantQuota] = Field(min_length=1, max_length=1000)
    pkey: int | None = None
    """InfiniBand partition key of the tenant's compute-fabric traffic (write it in hex, e.g.
    0x0101). Required for tenants of bare-metal clusters; unique in the site."""

    @field_validator("pkey")
    @classmethod
    def _pkey(cls, v: int | None) -> int | None:
        if v is not None and not 1 <= v < PKEY_DEFAULT:
            raise ValueError(f"{v:#06x} is not a tenant partition key; allowed: {PKEY_RULE}")
        return v

    @property
    def namespace(self) -> str:
        return f"tenant-{self.name}"

    @property
    def gpus(self) -> int:
        """GPUs of all the tenant's quotas together (the namespace's GPU ceiling)."""
        return sum(q.gpus for q in self.quotas)


class SiteSpec(_Strict):
    """A whole site file, version gigafactory.io/v1alpha1."""

    apiVersion: Literal["gigafactory.io/v1alpha1"]
    kind: Literal["Site"]
    name: Name
    description: str = Field(default="", max_length=2000)
    grid: Grid
    power: Power
    heat_reuse: HeatReuse | None = None
    halls: list[Hall] = Field(min_length=1, max_length=1000)
    commitments: Commitments
    clusters: list[ClusterSpec] = Field(min_length=1, max_length=1000)
    tenants: list[Tenant] = Field(default=[], max_length=10_000)
