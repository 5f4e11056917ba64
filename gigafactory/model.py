"""The site model: one YAML file describes one site, validated once at the boundary.

Everything about a node pool that other layers consume (node labels, taints, GPU count,
topology keys, rack placement) is computed here and nowhere else: the kubelet flags
Ansible writes, the kind node labels, the Kueue flavors and quotas Pulumi creates, and
the policies all read these properties.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from gigafactory import catalog
from gigafactory.errors import SiteFileError

# Label and taint keys shared by every consumer of the model.
LABEL_PREFIX = "gigafactory.io"
LABEL_SITE = f"{LABEL_PREFIX}/site"
LABEL_CLUSTER = f"{LABEL_PREFIX}/cluster"
LABEL_POOL = f"{LABEL_PREFIX}/pool"
LABEL_ROLE = f"{LABEL_PREFIX}/role"
LABEL_SKU = f"{LABEL_PREFIX}/sku"
LABEL_GPU = f"{LABEL_PREFIX}/gpu"
LABEL_HALL = f"{LABEL_PREFIX}/hall"
LABEL_SU = f"{LABEL_PREFIX}/su"
LABEL_RACK = f"{LABEL_PREFIX}/rack"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TENANT = f"{LABEL_PREFIX}/tenant"
# Topology levels for topology-aware scheduling, highest first. For NVL72 SKUs the rack
# is the NVLink domain; kubernetes.io/hostname must be the lowest level (Kueue).
TOPOLOGY_LEVELS = (LABEL_HALL, LABEL_SU, LABEL_RACK, LABEL_HOSTNAME)

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"

Role = Literal["training", "inference", "system", "storage"]
GPU_ROLES: frozenset[str] = frozenset({"training", "inference"})
Platform = Literal["baremetal", "kind", "minikube"]

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_RULE = "lowercase letters, digits and '-', starting and ending alphanumeric, at most 40 characters"


def _check_name(value: str) -> str:
    if len(value) > 40 or not _NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a valid name; allowed: {_NAME_RULE}")
    return value


Name = Annotated[str, AfterValidator(_check_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------
# Input schema
# ---------------------------------------------------------------------------------------


class Grid(_Strict):
    zone: str
    """Electricity Maps zone id (grid catalog), e.g. NO-NO4."""
    renewable_evidence: str = ""
    """Guarantee-of-origin or PPA reference backing the renewable claim."""
    data_year: int | None = None
    """Catalog year for carbon intensity and renewable share; default: latest published."""

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        if v not in catalog.zones():
            raise ValueError(f"{v!r} is not a known grid zone; allowed: {', '.join(catalog.zones())}")
        return v

    @model_validator(mode="after")
    def _known_year(self) -> Grid:
        if self.data_year is not None:
            years = sorted(catalog.zones()[self.zone].carbon_g_per_kwh)
            years_rs = catalog.zones()[self.zone].renewable_share
            if self.data_year not in years or self.data_year not in years_rs:
                allowed = ", ".join(str(y) for y in years if y in years_rs)
                raise ValueError(
                    f"data_year: {self.data_year} has no data for {self.zone}; allowed: {allowed}"
                )
        return self

    @property
    def carbon_g_per_kwh(self) -> float:
        return catalog.zones()[self.zone].carbon(self.data_year)[1]

    @property
    def renewable_share(self) -> float:
        return catalog.zones()[self.zone].renewable(self.data_year)[1]


class Phase(_Strict):
    name: Name
    mw: float = Field(gt=0, le=100_000)
    """Contracted grid allocation in MW, cumulative (includes earlier phases)."""


class Power(_Strict):
    design_pue: float = Field(ge=1.0, le=3.0)
    phases: list[Phase] = Field(min_length=1)
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
    plan: str = Field(min_length=1)
    """What happens to the waste heat (district heating, offtaker), or why it cannot be reused."""
    offtaker: str = ""


class Hall(_Strict):
    name: Name
    cooling: Literal["liquid", "air"]
    max_rack_kw: float = Field(gt=0, le=2000)
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
            ipaddress.IPv4Network(v, strict=True)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4 network; allowed: CIDR such as 10.16.0.0/16") from None
        return v


class Commitments(_Strict):
    gpus: int = Field(ge=0, le=100_000_000)
    """Contracted GPU count for the active phase."""


class ControlPlane(_Strict):
    count: Literal[1, 3, 5] = 3
    """Control-plane hosts (etcd members): 1 for a laptop, 3 or 5 in production."""
    hall: str | None = None
    """Hall of the control-plane hosts; default: the hall of the cluster's first pool."""


class Fabric(_Strict):
    switch: str | None = None
    """Switch model of the compute fabric (switch catalog); default: the SKU's default switch."""

    @field_validator("switch")
    @classmethod
    def _known_switch(cls, v: str | None) -> str | None:
        if v is not None and v not in catalog.switches():
            raise ValueError(f"{v!r} is not a known switch; allowed: {', '.join(catalog.switches())}")
        return v


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    def kubelet(self) -> str:
        """The form kubelet's --register-with-taints takes: key=value:Effect."""
        return f"{self.key}={self.value}:{self.effect}"

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value, "effect": self.effect}


@dataclass(frozen=True, slots=True)
class NodePlacement:
    """Where node ``index`` (0-based, within its pool) sits."""

    index: int
    hall: str
    rack: str
    rack_position: int
    slot: int
    su: str


class Pool(_Strict):
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

    _site: str = PrivateAttr(default="")
    _cluster: str = PrivateAttr(default="")
    _first_rack: int = PrivateAttr(default=1)

    @field_validator("sku")
    @classmethod
    def _known_sku(cls, v: str) -> str:
        if v not in catalog.skus():
            raise ValueError(f"{v!r} is not a known SKU; allowed: {', '.join(catalog.skus())}")
        return v

    @model_validator(mode="after")
    def _size(self) -> Pool:
        if (self.racks is None) == (self.nodes is None):
            raise ValueError("give exactly one of racks or nodes")
        sku = catalog.skus()[self.sku]
        if self.role in GPU_ROLES and not sku.is_gpu:
            raise ValueError(f"role {self.role!r} needs a GPU SKU; {self.sku!r} has no GPUs")
        return self

    # --- computed once, consumed everywhere -------------------------------------------

    @property
    def spec(self) -> catalog.Sku:
        return catalog.skus()[self.sku]

    @property
    def node_count(self) -> int:
        return self.nodes if self.nodes is not None else (self.racks or 0) * self.spec.nodes_per_rack

    @property
    def rack_count(self) -> int:
        return (
            self.racks if self.racks is not None else math.ceil((self.nodes or 0) / self.spec.nodes_per_rack)
        )

    @property
    def gpus_per_node(self) -> int:
        return self.spec.gpus_per_node

    @property
    def gpus(self) -> int:
        return self.node_count * self.spec.gpus_per_node

    @property
    def is_gpu(self) -> bool:
        return self.spec.is_gpu

    @property
    def cluster(self) -> str:
        return self._cluster

    @property
    def first_rack_position(self) -> int:
        """1-based position of the pool's first rack in its hall (explicit or allocated)."""
        return self._first_rack

    @property
    def last_rack_position(self) -> int:
        return self._first_rack + self.rack_count - 1

    @property
    def labels(self) -> dict[str, str]:
        """Node labels every node of the pool carries (topology labels are per node)."""
        return {
            LABEL_SITE: self._site,
            LABEL_CLUSTER: self._cluster,
            LABEL_POOL: self.name,
            LABEL_ROLE: self.role,
            LABEL_SKU: self.sku,
            LABEL_GPU: "true" if self.is_gpu else "false",
        }

    @property
    def taints(self) -> list[Taint]:
        """GPU pools are tainted so only GPU work (admitted by Kueue) and GPU daemons land there;
        storage pools are tainted for storage daemons; system pools take everything else."""
        if self.is_gpu:
            return [Taint(GPU_TAINT_KEY, "present", "NoSchedule")]
        if self.role == "storage":
            return [Taint(LABEL_ROLE, "storage", "NoSchedule")]
        return []

    @property
    def topology_levels(self) -> list[str]:
        return list(TOPOLOGY_LEVELS)

    @property
    def kubelet_node_labels(self) -> str:
        """Pool labels as kubelet's --node-labels value (topology labels are added per host)."""
        return ",".join(f"{k}={v}" for k, v in self.labels.items())

    @property
    def kubelet_taints(self) -> str:
        """Pool taints as kubelet's --register-with-taints value."""
        return ",".join(t.kubelet() for t in self.taints)

    def rack_name(self, position: int) -> str:
        return f"{self.hall}-r{position:04d}"

    def su_name(self, position: int) -> str:
        return f"{self.hall}-su{(position - 1) // self.spec.su_racks + 1:03d}"

    def node_placement(self, index: int) -> NodePlacement:
        if not 0 <= index < self.node_count:
            raise IndexError(f"pool {self.name} has {self.node_count} nodes, no index {index}")
        per_rack = self.spec.nodes_per_rack
        position = self._first_rack + index // per_rack
        return NodePlacement(
            index=index,
            hall=self.hall,
            rack=self.rack_name(position),
            rack_position=position,
            slot=index % per_rack + 1,
            su=self.su_name(position),
        )

    def node_labels(self, index: int) -> dict[str, str]:
        """Pool labels plus the topology labels of node ``index`` (hostname is set by kubelet)."""
        p = self.node_placement(index)
        return {**self.labels, LABEL_HALL: p.hall, LABEL_SU: p.su, LABEL_RACK: p.rack}


class Cluster(_Strict):
    name: Name
    platform: Platform = "baremetal"
    """Where the cluster runs: baremetal, or kind / minikube on a laptop (simulated GPUs)."""
    kubernetes_node_limit_exception: str = ""
    """A documented reason (design review reference) to run above the upstream 5,000-node limit."""
    control_plane: ControlPlane = ControlPlane()
    fabric: Fabric = Fabric()
    pools: list[Pool] = Field(min_length=1)

    @property
    def nodes(self) -> int:
        return sum(p.node_count for p in self.pools)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.pools)

    @property
    def racks(self) -> int:
        return sum(p.rack_count for p in self.pools)

    @property
    def gpu_pools(self) -> list[Pool]:
        return [p for p in self.pools if p.is_gpu]

    @property
    def control_plane_count(self) -> int:
        return self.control_plane.count

    @property
    def control_plane_hall(self) -> str:
        return self.control_plane.hall or self.pools[0].hall

    @property
    def switch(self) -> catalog.Switch:
        if self.fabric.switch:
            return catalog.switches()[self.fabric.switch]
        first = self.gpu_pools[0] if self.gpu_pools else self.pools[0]
        return catalog.switches()[first.spec.default_switch]

    @property
    def simulated_gpus(self) -> bool:
        return self.platform != "baremetal"

    def pool(self, name: str) -> Pool:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(name)


class TenantQuota(_Strict):
    pool: str
    gpus: int = Field(ge=0, le=100_000_000)


class Tenant(_Strict):
    name: Name
    cluster: str
    group: str = Field(min_length=1)
    """Identity-provider group bound to the tenant namespace's edit role."""
    quotas: list[TenantQuota] = Field(min_length=1)

    @property
    def namespace(self) -> str:
        return f"tenant-{self.name}"

    @property
    def gpus(self) -> int:
        """GPUs of all the tenant's quotas together (the namespace's GPU ceiling)."""
        return sum(q.gpus for q in self.quotas)


class Site(_Strict):
    name: Name
    description: str = ""
    grid: Grid
    power: Power
    heat_reuse: HeatReuse | None = None
    halls: list[Hall] = Field(min_length=1)
    commitments: Commitments
    clusters: list[Cluster] = Field(min_length=1)
    tenants: list[Tenant] = []

    @model_validator(mode="after")
    def _references(self) -> Site:
        _unique("halls", [h.name for h in self.halls])
        _unique("clusters", [c.name for c in self.clusters])
        _unique("tenants", [t.name for t in self.tenants])
        halls = {h.name for h in self.halls}
        allowed_halls = ", ".join(h.name for h in self.halls)
        next_free: dict[str, int] = dict.fromkeys(halls, 1)
        used: dict[str, list[tuple[int, int, str]]] = {h: [] for h in halls}
        for ci, c in enumerate(self.clusters):
            _unique(f"clusters[{ci}].pools", [p.name for p in c.pools])
            if c.control_plane.hall is not None and c.control_plane.hall not in halls:
                raise ValueError(
                    f"clusters[{ci}].control_plane.hall: {c.control_plane.hall!r} is not a hall; "
                    f"allowed: {allowed_halls}"
                )
            for pi, p in enumerate(c.pools):
                path = f"clusters[{ci}].pools[{pi}]"
                if p.hall not in halls:
                    raise ValueError(f"{path}.hall: {p.hall!r} is not a hall; allowed: {allowed_halls}")
                first = p.first_rack if p.first_rack is not None else next_free[p.hall]
                last = first + p.rack_count - 1
                for a, b, other in used[p.hall]:
                    if first <= b and a <= last:
                        raise ValueError(
                            f"{path}.first_rack: racks {first}-{last} of hall {p.hall!r} overlap "
                            f"racks {a}-{b} of {other}; allowed: a free range"
                        )
                used[p.hall].append((first, last, f"{c.name}/{p.name}"))
                next_free[p.hall] = max(next_free[p.hall], last + 1)
                p._site, p._cluster, p._first_rack = self.name, c.name, first
        clusters = {c.name: c for c in self.clusters}
        for ti, t in enumerate(self.tenants):
            if t.cluster not in clusters:
                raise ValueError(
                    f"tenants[{ti}].cluster: {t.cluster!r} is not a cluster; allowed: {', '.join(clusters)}"
                )
            pools = [p.name for p in clusters[t.cluster].gpu_pools]
            _unique(f"tenants[{ti}].quotas", [q.pool for q in t.quotas], what="pools")
            for qi, q in enumerate(t.quotas):
                if q.pool not in pools:
                    raise ValueError(
                        f"tenants[{ti}].quotas[{qi}].pool: {q.pool!r} is not a GPU pool of cluster "
                        f"{t.cluster!r}; allowed: {', '.join(pools) or '(none)'}"
                    )
        return self

    @property
    def envelope_mw(self) -> float:
        return self.power.envelope_mw

    def hall(self, name: str) -> Hall:
        return next(h for h in self.halls if h.name == name)

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)


def _unique(path: str, names: list[str], what: str = "names") -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise ValueError(f"{path}[{i}]: {what} must be unique, {n!r} appears twice")
        seen.add(n)


# ---------------------------------------------------------------------------------------
# Loading and error reporting
# ---------------------------------------------------------------------------------------


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that rejects duplicate keys instead of silently keeping the last."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in out:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r} (line {line})")
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}") from None
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_site(path: str | Path) -> Site:
    """Read and validate a site file. Raises SiteFileError with file, field path and allowed values."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteFileError(file, "", "no such file") from None
    except IsADirectoryError:
        raise SiteFileError(file, "", "is a directory, expected a site YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(file, "", f"cannot read: {exc}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SiteFileError(file, "", f"not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise SiteFileError(file, "", "not valid YAML: nested too deeply") from None
    return parse_site(data, file)


def parse_site(data: Any, file: str = "<site>") -> Site:
    """Validate already-parsed site data (a mapping)."""
    if not isinstance(data, dict):
        raise SiteFileError(file, "", f"expected a mapping of site keys, got {type(data).__name__}")
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise _site_error(file, exc) from None
    except RecursionError:
        raise SiteFileError(file, "", "nested too deeply") from None


def format_loc(loc: tuple[int | str, ...]) -> str:
    """('clusters', 2, 'pools', 0, 'sku') -> 'clusters[2].pools[0].sku'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isidentifier() or not part.isascii():
            out += f"[{part!r}]"  # a key a user mistyped: quoted, control characters escaped
        else:
            out += f".{part}" if out else part
    return out


def _site_error(file: str, exc: ValidationError) -> SiteFileError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(
        p for p in first["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    )
    path = format_loc(loc)
    kind = first["type"]
    msg = str(first["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        msg = f"unknown key; allowed: {', '.join(allowed)}" if allowed else "unknown key"
    elif kind == "missing":
        msg = "required key is missing"
    elif kind not in ("value_error", "assertion_error"):
        msg = f"{msg} (got {_short(first.get('input'))})"
    nested = _PATH_PREFIX.match(msg)
    if nested:
        # A cross-field check named the exact field inside the object it validated.
        path = f"{path}.{nested.group(1)}" if path else nested.group(1)
        msg = msg[nested.end() :]
    more = len(errors) - 1
    if more:
        msg += f" (and {more} more error{'s' if more > 1 else ''})"
    return SiteFileError(file, path or "(top level)", msg)


_PATH_PREFIX = re.compile(r"^([a-z_]+(?:\[\d+\])*(?:\.[a-z_]+(?:\[\d+\])*)*): ")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Keys the model accepts at ``loc`` (a path to a mapping), for 'unknown key' errors."""
    tp: Any = Site
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, int):
            args = get_args(tp)
            tp = args[0] if args else Any
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] so the model class is left."""
    if get_origin(tp) is Union or type(tp).__name__ == "UnionType":
        args = [a for a in get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp
