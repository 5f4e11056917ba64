"""Typed stack configuration: ``stacks/Pulumi.<stack>.yaml`` over the defaults ``Pulumi.yaml`` declares.

``Pulumi.yaml`` is the one place that declares each config key of the program, its type and
its default. This module reads those declarations and checks every stack against them:
an unknown ``gigafactory:`` key, a value of the wrong type, a duplicate key or a file that
is not UTF-8 is a StackConfigError (one line, exit 2) that names the file and the key.

The Pulumi program (``__main__.py`` and the engine's inline program), ``kind-config``,
``render``, ``check --stack`` and the policy pack all read a stack through ``StackConfig``:
from the stack file (``load_stack_config``) or from the config the Pulumi engine hands a
running program, as strings (``from_strings``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gigafactory.errors import SiteFileError, StackConfigError
from gigafactory.project import project_dir
from gigafactory.site.load import parse_yaml, read_text

PROJECT = "gigafactory"
"""Pulumi project name (Pulumi.yaml) and the namespace of the program's config keys."""
ConfigType = Literal["string", "boolean", "integer", "array"]
_TYPES: tuple[str, ...] = ("string", "boolean", "integer", "array")
MAX_CONFIG_BYTES = 256 * 1024
# Parts of the platform a stack may leave to the environment (``gigafactory:provided``), in the
# order the program builds them. What each one skips: Pulumi.yaml's description of the key.
PROVIDABLE_PARTS: tuple[str, ...] = ("cni", "observability", "kueue", "gpu", "network-operator", "storage")


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One config key as Pulumi.yaml declares it."""

    name: str
    """Key without the project namespace (``site``, ``hostDrivers``)."""
    type: ConfigType
    required: bool
    default: Any
    description: str


@dataclass(frozen=True)
class StackConfig:
    """One stack's typed configuration (every default applied)."""

    stack: str
    path: Path | None
    """The stack file, or None for config handed over by the Pulumi engine."""
    site: str
    """Site file, relative to the project (``sites/narvik.yaml``)."""
    cluster: str
    """Cluster of the site file the stack installs."""
    platform: str | None
    """Override of a laptop cluster's platform (kind, minikube, kwok); None keeps the site file's."""
    host_drivers: bool
    """NVIDIA driver, toolkit and DOCA-OFED installed on the hosts by Ansible (bare metal)."""
    api_server_cidrs: tuple[str, ...]
    """CIDRs of the API endpoints tenant network policies allow; empty: the control-plane hall's network."""
    ib_subnet: str
    nfs_server: str
    nfs_share: str
    provided: tuple[str, ...] = ()
    """Parts of the platform the environment already has (subset of PROVIDABLE_PARTS, in its order)."""
    keep_tenant_namespaces: bool = True
    """Keep tenant namespaces (and their data) when the stack is destroyed."""
    values: dict[str, Any] = field(default_factory=dict)
    """Every config value by full key (``gigafactory:site``, ``kubernetes:context``), for the engine."""

    def get(self, key: str) -> Any:
        """A value by key without namespace (``site``) or full key (``kubernetes:context``)."""
        return self.values.get(key if ":" in key else f"{PROJECT}:{key}")


def _read_yaml(path: Path) -> Any:
    try:
        return parse_yaml(read_text(path, "Pulumi YAML file", MAX_CONFIG_BYTES), str(path))
    except SiteFileError as exc:
        raise StackConfigError(str(exc)) from None


@functools.cache
def _declared_cached(path: Path, mtime: float) -> dict[str, ConfigKey]:
    data = _read_yaml(path)
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(f"{path}: expected a `config:` mapping of declared keys")
    out: dict[str, ConfigKey] = {}
    for full, spec in config.items():
        name = str(full).removeprefix(f"{PROJECT}:")
        if not isinstance(spec, dict) or spec.get("type") not in _TYPES:
            raise StackConfigError(f"{path}: config.{full}.type: allowed: {', '.join(_TYPES)}")
        out[name] = ConfigKey(
            name=name,
            type=spec["type"],
            required="default" not in spec,
            default=spec.get("default"),
            description=str(spec.get("description", "")),
        )
    return out


def declared_keys(root: Path | None = None) -> dict[str, ConfigKey]:
    """The program's config keys as ``Pulumi.yaml`` of the project declares them."""
    path = (root or project_dir()) / "Pulumi.yaml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        raise StackConfigError(f"{path}: no such file") from None
    return _declared_cached(path, mtime)


def stacks(root: Path | None = None) -> list[str]:
    """Names of the stacks in ``stacks/``."""
    base = (root or project_dir()) / "stacks"
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in base.glob("Pulumi.*.yaml"))


def _typed(where: str, key: ConfigKey, value: Any, from_strings: bool) -> Any:
    """``value`` as the declared type; strings from the engine are decoded first."""
    if key.type == "boolean" and value in ("true", "false"):
        # Pulumi keeps config as strings: `pulumi stack init` rewrites a stack file's `true`
        # as "true", and the engine reads both the same way.
        return value == "true"
    if from_strings and isinstance(value, str) and key.type != "string":
        try:
            value = json.loads(value)
        except ValueError:
            raise StackConfigError(
                f"{where}: {PROJECT}:{key.name}: {value[:60]!r} is not a {key.type}"
            ) from None
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "array": isinstance(value, list) and all(isinstance(v, str) for v in value),
    }[key.type]
    if not ok:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        allowed = "a list of strings" if key.type == "array" else f"a {key.type}"
        raise StackConfigError(f"{where}: {PROJECT}:{key.name}: {shown} is not allowed; allowed: {allowed}")
    return value


def parse_values(
    stack: str,
    values: Mapping[str, Any],
    where: str,
    root: Path | None = None,
    *,
    from_strings: bool = False,
    path: Path | None = None,
) -> StackConfig:
    """Check ``values`` (full keys) against the declared keys and build the typed config."""
    declared = declared_keys(root)
    merged: dict[str, Any] = {f"{PROJECT}:{k.name}": k.default for k in declared.values() if not k.required}
    for full, value in values.items():
        if not isinstance(full, str) or ":" not in full:
            raise StackConfigError(f"{where}: config key {full!r} needs a namespace, e.g. {PROJECT}:{full}")
        namespace, _, name = full.partition(":")
        if namespace == PROJECT:
            if name not in declared:
                raise StackConfigError(
                    f"{where}: unknown config key {full}; allowed: {', '.join(f'{PROJECT}:{k}' for k in declared)}"
                )
            merged[full] = _typed(where, declared[name], value, from_strings)
        else:
            merged[full] = value  # provider config (kubernetes:context) belongs to the provider
    for k in declared.values():
        if k.required and not merged.get(f"{PROJECT}:{k.name}"):
            raise StackConfigError(f"{where}: config key {PROJECT}:{k.name} is missing")

    def get(name: str) -> Any:
        return merged[f"{PROJECT}:{name}"]

    provided: list[str] = get("provided")
    unknown = [p for p in provided if p not in PROVIDABLE_PARTS]
    if unknown:
        raise StackConfigError(
            f"{where}: {PROJECT}:provided: {unknown[0]!r} is not allowed; allowed: {', '.join(PROVIDABLE_PARTS)}"
        )

    return StackConfig(
        stack=stack,
        path=path,
        site=get("site"),
        cluster=get("cluster"),
        platform=get("platform") or None,
        host_drivers=get("hostDrivers"),
        api_server_cidrs=tuple(get("apiServerCidrs")),
        ib_subnet=get("ibSubnet"),
        nfs_server=get("nfsServer"),
        nfs_share=get("nfsShare"),
        provided=tuple(p for p in PROVIDABLE_PARTS if p in provided),
        keep_tenant_namespaces=get("keepTenantNamespaces"),
        values=merged,
    )


def load_stack_config(stack: str, root: Path | None = None) -> StackConfig:
    """Read and check ``stacks/Pulumi.<stack>.yaml`` of the project. Raises StackConfigError."""
    base = root or project_dir()
    path = base / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stacks(base)) or "(none)"
        raise StackConfigError(f"stack {stack!r}: no file stacks/Pulumi.{stack}.yaml; allowed: {known}")
    data = _read_yaml(path)
    config = data.get("config") if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(f"{path}: expected a `config:` mapping")
    extra = [k for k in data if k not in ("config", "encryptionsalt", "secretsprovider", "encryptedkey")]
    if extra:
        raise StackConfigError(f"{path}: unknown top-level key {extra[0]!r}; allowed: config")
    return parse_values(stack, config, str(path), base, path=path)


def from_strings(stack: str, get: Callable[[str], str | None], root: Path | None = None) -> StackConfig:
    """The typed config of a running Pulumi program: ``get(full_key)`` returns the engine's
    string value or None (``pulumi.runtime.get_config``)."""
    values: dict[str, Any] = {}
    for name in declared_keys(root):
        raw = get(f"{PROJECT}:{name}")
        if raw is not None:
            values[f"{PROJECT}:{name}"] = raw
    return parse_values(stack, values, f"stack {stack}", root, from_strings=True)
