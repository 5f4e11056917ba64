"""Loading a site file, in four visible steps (the shape of kind's config loader):

1. ``read``     : the file's bytes, bounded, as YAML data (duplicate keys, aliases and depth refused);
2. ``decode``   : strict parse into the versioned input type (``apiVersion``/``kind`` first);
3. ``defaults`` : every optional value the file left out set explicitly (rack ranges,
   control-plane hall, fabric switch, grid data year);
4. ``resolve``  : references checked and turned into frozen, placed objects
   (gigafactory.site.model), then ``validate`` checks what spans the whole site
   (overlapping racks, derived names that collide, address plans).

Every failure is a SiteFileError: one line with the file, the field path, the bad value
and what is allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from gigafactory.errors import SiteFileError
from gigafactory.site import catalog
from gigafactory.site.addressing import address_plan_findings, control_plane_hosts
from gigafactory.site.kubernetes import network_findings
from gigafactory.site.model import Cluster, GridInfo, Pool, Site
from gigafactory.site.spec import API_VERSION, KIND, KNOWN_API_VERSIONS, PKEY_RULE, SiteSpec

MAX_FILE_BYTES = 4 * 1024 * 1024
"""A site file is a few kilobytes; anything above this is refused before parsing."""
MAX_DEPTH = 32
"""Nesting a site file needs is about 6 levels; deeper YAML is refused before it is built."""
MAX_ALIASES = 64
"""YAML aliases (``*ref``): a few are fine, many are an expansion attack."""
MAX_NODES = 200_000
"""YAML scalars and collections in one file."""


# ---------------------------------------------------------------------------------------
# 1. read
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
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {_short(key)} (line {line})"
                )
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {_short(key)}") from None
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_text(path: str | Path, what: str = "site YAML file", limit: int = MAX_FILE_BYTES) -> str:
    """A regular file's text, at most ``limit`` bytes, UTF-8. Raises SiteFileError.

    FIFOs, devices and sockets are refused before they are opened (opening a FIFO blocks)."""
    file = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SiteFileError(file, "", "no such file") from None
    except OSError as exc:
        raise SiteFileError(file, "", f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SiteFileError(file, "", f"is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise SiteFileError(file, "", f"is not a regular file (a FIFO, device or socket); expected a {what}")
    if st.st_size > limit:
        raise SiteFileError(file, "", f"is {st.st_size} bytes; allowed: at most {limit} bytes")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise SiteFileError(file, "", f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise SiteFileError(file, "", f"is larger than {limit} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteFileError(file, "", f"is not UTF-8 text (byte {exc.start})") from None


def _bounded_events(text: str, file: str) -> None:
    """Walk the YAML event stream (no objects built) and refuse deep nesting, many aliases
    or a huge number of nodes before the constructor can exhaust the stack or memory."""
    depth = aliases = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_UniqueKeyLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                nodes += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 0
                    raise SiteFileError(file, "", f"nested deeper than {MAX_DEPTH} levels (line {line})")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise SiteFileError(file, "", f"has more than {MAX_ALIASES} YAML aliases")
            elif isinstance(event, yaml.ScalarEvent):
                nodes += 1
            if nodes > MAX_NODES:
                raise SiteFileError(file, "", f"has more than {MAX_NODES} YAML values")
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None


def _yaml_error(file: str, exc: yaml.YAMLError) -> SiteFileError:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return SiteFileError(file, "", f"not valid YAML{where}: {_clip(str(problem))}")


def parse_yaml(text: str, file: str) -> Any:
    """YAML text to data, bounded (depth, aliases, size) and with duplicate keys refused."""
    _bounded_events(text, file)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None
    except RecursionError:
        raise SiteFileError(file, "", "not valid YAML: nested too deeply") from None


def read(path: str | Path) -> Any:
    """Step 1: the site file as YAML data."""
    return parse_yaml(read_text(path), str(path))


# ---------------------------------------------------------------------------------------
# 2. decode
# ---------------------------------------------------------------------------------------


def decode(data: Any, file: str = "<site>") -> SiteSpec:
    """Step 2: strict parse into the versioned input type; unknown versions are refused."""
    if not isinstance(data, dict):
        raise SiteFileError(file, "", f"expected a mapping of site keys, got {type(data).__name__}")
    version = data.get("apiVersion")
    if version not in KNOWN_API_VERSIONS:
        shown = "missing" if version is None else f"{_short(version)} is not a known version"
        raise SiteFileError(file, "apiVersion", f"{shown}; allowed: {', '.join(KNOWN_API_VERSIONS)}")
    if data.get("kind") != KIND:
        got = "missing" if "kind" not in data else f"{_short(data.get('kind'))} is not a site"
        raise SiteFileError(file, "kind", f"{got}; allowed: {KIND}")
    try:
        return SiteSpec.model_validate(data)
    except ValidationError as exc:
        raise _site_error(file, exc) from None
    except RecursionError:
        raise SiteFileError(file, "", "nested too deeply") from None


# ---------------------------------------------------------------------------------------
# 3. defaults
# ---------------------------------------------------------------------------------------


def set_defaults(spec: SiteSpec, file: str = "<site>") -> SiteSpec:
    """Step 3: a copy of ``spec`` with every default made explicit: each pool's first rack
    (after the previous pool in its hall), each cluster's control-plane hall (its first
    pool's) and fabric switch (its first GPU pool's SKU default), the grid data year."""
    halls = {h.name for h in spec.halls}
    allowed_halls = ", ".join(h.name for h in spec.halls)
    next_free: dict[str, int] = dict.fromkeys(halls, 1)
    clusters = []
    for ci, c in enumerate(spec.clusters):
        pools = []
        for pi, p in enumerate(c.pools):
            if p.hall not in halls:
                raise SiteFileError(
                    file,
                    f"clusters[{ci}].pools[{pi}].hall",
                    f"{_short(p.hall)} is not a hall; allowed: {allowed_halls}",
                )
            first = p.first_rack if p.first_rack is not None else next_free[p.hall]
            racks = (
                p.racks if p.racks is not None else -(-(p.nodes or 0) // catalog.skus()[p.sku].nodes_per_rack)
            )
            next_free[p.hall] = max(next_free[p.hall], first + racks)
            pools.append(p.model_copy(update={"first_rack": first}))
        gpu = [p for p in c.pools if catalog.skus()[p.sku].is_gpu]
        switch = c.fabric.switch or catalog.skus()[(gpu or c.pools)[0].sku].default_switch
        cp_hall = c.control_plane.hall or c.pools[0].hall
        clusters.append(
            c.model_copy(
                update={
                    "pools": pools,
                    "fabric": c.fabric.model_copy(update={"switch": switch}),
                    "control_plane": c.control_plane.model_copy(update={"hall": cp_hall}),
                }
            )
        )
    zone = catalog.zones()[spec.grid.zone]
    year = spec.grid.data_year
    if year is None:
        year = max(y for y in zone.carbon_g_per_kwh if y in zone.renewable_share)
    grid = spec.grid.model_copy(update={"data_year": year})
    return spec.model_copy(update={"clusters": clusters, "grid": grid})


# ---------------------------------------------------------------------------------------
# 4. resolve and validate
# ---------------------------------------------------------------------------------------


def resolve(spec: SiteSpec, file: str = "<site>") -> Site:
    """Step 4: references checked, frozen placed objects built. ``spec`` must have its
    defaults set (``set_defaults``)."""
    _unique(file, "halls", [h.name for h in spec.halls])
    _unique(file, "clusters", [c.name for c in spec.clusters])
    _unique(file, "tenants", [t.name for t in spec.tenants])
    halls = {h.name: h for h in spec.halls}
    allowed_halls = ", ".join(halls)
    clusters: list[Cluster] = []
    for ci, c in enumerate(spec.clusters):
        _unique(file, f"clusters[{ci}].pools", [p.name for p in c.pools])
        if c.control_plane.hall not in halls:
            raise SiteFileError(
                file,
                f"clusters[{ci}].control_plane.hall",
                f"{_short(c.control_plane.hall)} is not a hall; allowed: {allowed_halls}",
            )
        pools = []
        for p in c.pools:
            assert p.first_rack is not None, "set_defaults runs first"
            nodes = p.nodes if p.nodes is not None else (p.racks or 0) * catalog.skus()[p.sku].nodes_per_rack
            pools.append(
                Pool(
                    name=p.name,
                    role=p.role,
                    sku=p.sku,
                    site=spec.name,
                    cluster=c.name,
                    hall_spec=halls[p.hall],
                    node_count=nodes,
                    first_rack_position=p.first_rack,
                )
            )
        clusters.append(
            Cluster(
                name=c.name,
                site=spec.name,
                platform=c.platform,
                kubernetes_node_limit_exception=c.kubernetes_node_limit_exception,
                control_plane=c.control_plane,
                fabric=c.fabric,
                pools=tuple(pools),
                kubernetes=c.kubernetes,
            )
        )
    by_name = {c.name: c for c in clusters}
    pkeys: dict[int, str] = {}
    for ti, t in enumerate(spec.tenants):
        if t.cluster in by_name and by_name[t.cluster].platform == "baremetal" and t.pkey is None:
            raise SiteFileError(
                file,
                f"tenants[{ti}].pkey",
                f"required for a tenant of a bare-metal cluster; allowed: {PKEY_RULE}",
            )
        if t.pkey is not None:
            if t.pkey in pkeys:
                raise SiteFileError(
                    file,
                    f"tenants[{ti}].pkey",
                    f"{t.pkey:#06x} is tenant {pkeys[t.pkey]!r}'s partition key too; allowed: {PKEY_RULE}",
                )
            pkeys[t.pkey] = t.name
        if t.cluster not in by_name:
            raise SiteFileError(
                file,
                f"tenants[{ti}].cluster",
                f"{_short(t.cluster)} is not a cluster; allowed: {', '.join(by_name)}",
            )
        gpu_pools = [p.name for p in by_name[t.cluster].gpu_pools]
        _unique(file, f"tenants[{ti}].quotas", [q.pool for q in t.quotas], what="pools")
        for qi, q in enumerate(t.quotas):
            if q.pool not in gpu_pools:
                raise SiteFileError(
                    file,
                    f"tenants[{ti}].quotas[{qi}].pool",
                    f"{_short(q.pool)} is not a GPU pool of cluster {t.cluster!r}; "
                    f"allowed: {', '.join(gpu_pools) or '(none)'}",
                )
    zone = catalog.zones()[spec.grid.zone]
    assert spec.grid.data_year is not None, "set_defaults runs first"
    grid = GridInfo(
        zone=spec.grid.zone,
        renewable_evidence=spec.grid.renewable_evidence,
        data_year=spec.grid.data_year,
        carbon_g_per_kwh=zone.carbon(spec.grid.data_year)[1],
        renewable_share=zone.renewable(spec.grid.data_year)[1],
    )
    return Site(
        name=spec.name,
        description=spec.description,
        grid=grid,
        power=spec.power,
        heat_reuse=spec.heat_reuse,
        halls=tuple(spec.halls),
        commitments=spec.commitments,
        clusters=tuple(clusters),
        tenants=tuple(spec.tenants),
        file=file,
    )


def validate(site: Site, file: str = "<site>") -> Site:
    """What spans the whole site: rack ranges that overlap, derived identifiers (Ansible
    groups, host names, Kubernetes object names) that two entities would share, and hall
    networks that overlap. Returns ``site`` unchanged when valid."""
    used: dict[str, list[tuple[int, int, str]]] = {}
    for ci, c in enumerate(site.clusters):
        for pi, p in enumerate(c.pools):
            first, last = p.first_rack_position, p.last_rack_position
            for a, b, other in used.get(p.hall, []):
                if first <= b and a <= last:
                    raise SiteFileError(
                        file,
                        f"clusters[{ci}].pools[{pi}].first_rack",
                        f"racks {first}-{last} of hall {p.hall!r} overlap racks {a}-{b} of {other}; "
                        "allowed: a free range",
                    )
            used.setdefault(p.hall, []).append((first, last, f"{c.name}/{p.name}"))
    # Ansible turns '-' into '_' in group names: every group the inventory makes must stay distinct
    # (cluster "dev-control-plane" would otherwise share cluster "dev"'s control-plane group).
    groups = [
        (f"halls[{hi}]", f"hall {h.name!r}", f"hall_{_group(h.name)}") for hi, h in enumerate(site.halls)
    ]
    kueue = []
    for ci, c in enumerate(site.clusters):
        groups.append((f"clusters[{ci}]", f"cluster {c.name!r}", f"cluster_{_group(c.name)}"))
        groups.append(
            (
                f"clusters[{ci}].control_plane",
                f"cluster {c.name!r}'s control plane",
                f"cluster_{_group(c.name)}_control_plane",
            )
        )
        for pi, p in enumerate(c.pools):
            label = f"cluster {c.name!r} pool {p.name!r}"
            groups.append((f"clusters[{ci}].pools[{pi}]", label, f"pool_{_group(c.name)}_{_group(p.name)}"))
            kueue.append((f"clusters[{ci}].pools[{pi}]", label, p.kueue_name))
    _collide(file, groups, "Ansible group")
    _collide(file, kueue, "Kueue object name")
    # Each cluster's pod and service networks: apart from each other and from every hall network.
    hall_nets = [
        (f"{h.name} {k}", cidr)
        for h in site.halls
        for k, cidr in (("mgmt_cidr", h.mgmt_cidr), ("bmc_cidr", h.bmc_cidr))
    ]
    for ci, c in enumerate(site.clusters):
        for fld, message in network_findings(c.kubernetes, hall_nets, c.nodes):
            raise SiteFileError(
                file, f"clusters[{ci}].kubernetes.{fld}", f"{message}; allowed: a network of its own"
            )
    # Hall networks: no two overlap, management and BMC included.
    nets: list[tuple[str, ipaddress.IPv4Network]] = []
    for hi, h in enumerate(site.halls):
        nets.append((f"halls[{hi}].mgmt_cidr", ipaddress.IPv4Network(h.mgmt_cidr)))
        nets.append((f"halls[{hi}].bmc_cidr", ipaddress.IPv4Network(h.bmc_cidr)))
    for i, (path_a, net_a) in enumerate(nets):
        for path_b, net_b in nets[:i]:
            if net_a.overlaps(net_b):
                raise SiteFileError(
                    file, path_a, f"{net_a} overlaps {path_b} ({net_b}); allowed: a network of its own"
                )
    return site


def _group(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def _collide(file: str, items: list[tuple[str, str, str]], what: str) -> None:
    """Refuse two entities (path, label, derived identifier) that derive the same identifier."""
    seen: dict[str, tuple[str, str]] = {}
    for path, label, ident in items:
        if ident in seen:
            other_path, other = seen[ident]
            raise SiteFileError(
                file,
                path,
                f"{other} ({other_path}) and {label} ({path}) both become {what} {ident!r}; "
                "allowed: names that stay distinct",
            )
        seen[ident] = (path, label)


def _unique(file: str, path: str, names: list[str], what: str = "names") -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise SiteFileError(file, f"{path}[{i}]", f"{what} must be unique, {n!r} appears twice")
        seen.add(n)


# ---------------------------------------------------------------------------------------
# The whole pipeline
# ---------------------------------------------------------------------------------------


def parse_site(data: Any, file: str = "<site>") -> Site:
    """Already-parsed YAML data to a resolved, validated site: decode, defaults, resolve, validate."""
    spec = decode(data, file)
    return validate(resolve(set_defaults(spec, file), file), file)


def load_site(path: str | Path) -> Site:
    """Read and validate a site file. Raises SiteFileError with file, field path and allowed values.

    The resolved site is frozen, so a file loaded again unchanged (same path, size and
    modification time) is served from a small cache: every stack of a site shares one."""
    try:
        st = os.stat(path)
    except OSError:
        return parse_site(read(path), str(path))  # read() says what is wrong with it
    if not stat.S_ISREG(st.st_mode):
        return parse_site(read(path), str(path))
    return _load_cached(str(path), os.path.abspath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=32)
def _load_cached(shown: str, _abspath: str, _mtime_ns: int, _size: int) -> Site:
    return parse_site(read(shown), shown)


def address_plan_fits(site: Site) -> None:
    """Raise SiteFileError when a node or control-plane host would get an address outside its
    hall's networks (what ``inventory`` and ``provision`` refuse, whatever the policy says):
    the first of ``address_plan_findings`` (the policy's address-plan-capacity rule reports
    them all), then every pool's highest node and rack-part address."""
    for f in address_plan_findings(site):
        where = f"hall {f.hall}" if f.hall is not None else f"pool {f.cluster}/{f.pool}"
        raise SiteFileError(site.file or "<site>", where, f.message)
    for c in site.clusters:
        for p in c.pools:
            p.node_addresses(p.node_count - 1)  # the highest offset of the pool
            p.rack_parts(p.last_rack_position)  # the highest BMC offset of the pool's rack parts
    for cp in control_plane_hosts(site):
        hall = site.hall(cp.hall)
        for addr, cidr in ((cp.address, hall.mgmt_cidr), (cp.bmc_address, hall.bmc_cidr)):
            if ipaddress.IPv4Address(addr) not in ipaddress.IPv4Network(cidr):
                raise SiteFileError(
                    site.file or "<site>", f"cluster {cp.cluster}", f"{cp.name} {addr} is outside {cidr}"
                )


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def format_loc(loc: tuple[int | str, ...]) -> str:
    """('clusters', 2, 'pools', 0, 'sku') -> 'clusters[2].pools[0].sku'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isidentifier() or not part.isascii():
            out += f"[{_short(part)}]"  # a key a user mistyped: quoted, control characters escaped
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
    msg = _clip(str(first["msg"]).removeprefix("Value error, "))
    if kind == "extra_forbidden":
        allowed = allowed_keys(loc[:-1])
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
    """repr of a value, never longer than 60 characters (values may be huge)."""
    if isinstance(value, str | bytes) and len(value) > 200:
        value = value[:200]
    elif isinstance(value, dict | list) and len(value) > 20:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Keys the model accepts at ``loc`` (a path to a mapping), for 'unknown key' errors."""
    tp: Any = SiteSpec
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


__all__ = [
    "API_VERSION",
    "address_plan_fits",
    "decode",
    "format_loc",
    "load_site",
    "parse_site",
    "read",
    "resolve",
    "set_defaults",
    "validate",
]
