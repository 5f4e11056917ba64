"""The offline plan: run the real Pulumi program under Pulumi's mock runtime.

``render_stack("narvik-c1")`` reads ``stacks/Pulumi.narvik-c1.yaml``, feeds its config to
the mock runtime, runs ``__main__.py`` and returns every resource the stack would create
with its type, name, parent, dependencies and inputs; plain Kubernetes objects of the
built-in API groups are validated against the Kubernetes schemas. No CLI, no cluster, no
cloud account.

Pulumi is imported inside functions only: the library must stay importable (and
``gigafactory plan`` fast) without it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gigafactory.errors import GigafactoryError, NotFoundError, StackConfigError
from gigafactory.project import project_dir
from gigafactory.site import load_site
from gigafactory.site.model import LAPTOP_PLATFORMS, Cluster, Site
from gigafactory.stack.config import PROJECT, StackConfig, load_stack_config, stacks

SIM_PLATFORM = "kwok"
"""The local simulator (``gigafactory sim``): the one platform any cluster can be rehearsed on."""
KUBERNETES_VERSION = "1.36.4"
"""Kubernetes version whose schemas rendered objects are validated against (VERSIONS.md)."""
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
_STACK_TYPE = "pulumi:pulumi:Stack"
# Types that are Kubernetes resources but not plain objects (rendered by the provider).
_NOT_PLAIN = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/", "pulumi:providers:")
# Built-in API groups: no dot in the group (core, apps, batch, ...) or *.k8s.io, except the
# SIG projects' CRD groups under x-k8s.io.
_BUILTIN_GROUP = re.compile(r"^([a-z0-9]+|[a-z0-9.]+\.k8s\.io)$")


class ManifestValidationError(GigafactoryError):
    """A rendered Kubernetes object fails the Kubernetes schema."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"schema validation failed: {errors[0]}{more}")


@dataclass
class RenderResult:
    """What one stack would create."""

    stack: str
    site: str
    cluster: str
    platform: str
    resources: list[dict[str, Any]]
    """Each: urn, type, name, parent (urn or None), depends_on (urns), inputs (camelCase)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs (pools, installed versions, ...)."""
    registered_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Outputs each component registered, by URN."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "site": self.site,
            "cluster": self.cluster,
            "platform": self.platform,
            "resources": self.resources,
        }


def resolve_target(
    site_file: str, cluster_name: str, platform: str | None = None, root: Path | None = None
) -> tuple[Site, Cluster]:
    """The site and cluster a stack installs. ``site_file`` is relative to the project;
    ``platform`` may switch a laptop cluster between kind and minikube, or put any cluster on the
    simulator (``kwok``; ``platform_override_allowed``).
    Raises StackConfigError (or SiteFileError) with one line saying what is wrong."""
    base = root or project_dir()
    path = Path(site_file)
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise StackConfigError(f"site file {site_file!r} not found (looked at {path})")
    site = load_site(path)
    try:
        cluster = site.cluster(cluster_name)
    except NotFoundError:
        allowed = ", ".join(c.name for c in site.clusters)
        raise StackConfigError(
            f"cluster {cluster_name!r} is not in {site_file}; allowed: {allowed}"
        ) from None
    if platform and platform != cluster.platform:
        if not platform_override_allowed(cluster.platform, platform):
            raise StackConfigError(
                f"platform {platform!r} cannot override cluster {cluster_name!r} ({cluster.platform}); "
                f"allowed: {SIM_PLATFORM} (the simulator) for any cluster, "
                f"{', '.join(p for p in LAPTOP_PLATFORMS if p != SIM_PLATFORM)} for a laptop cluster"
            )
        cluster = cluster.with_platform(platform)  # type: ignore[arg-type]
    return site, cluster


def platform_override_allowed(site_platform: str, platform: str) -> bool:
    """Whether a stack may run a cluster of ``site_platform`` on ``platform``: the simulator
    (``kwok``) simulates any cluster from the model, nodes and all, so a production cluster can be
    rehearsed at full size; kind and minikube host only a laptop cluster (a few real nodes)."""
    if platform == SIM_PLATFORM:
        return True
    return platform in LAPTOP_PLATFORMS and site_platform in LAPTOP_PLATFORMS


# ---------------------------------------------------------------------------------------
# Running the program under mocks
# ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Protobuf structs carry every number as a float: give whole numbers back as ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _config_strings(values: dict[str, Any]) -> dict[str, str]:
    """Pulumi passes config to programs as strings; structured values as JSON."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = value
        else:
            out[key] = json.dumps(value)
    return out


@dataclass
class MockRun:
    """What a program registered under the mock runtime."""

    resources: list[dict[str, Any]]
    """Resource records as in resources.json, sorted by URN."""
    outputs: dict[str, Any]
    """Stack outputs (``pulumi.export``)."""
    registered_outputs: dict[str, dict[str, Any]]
    """Outputs each component registered (``register_outputs``), by URN."""


def run_program(program: Callable[[], object], stack: str, config: dict[str, Any] | None = None) -> MockRun:
    """Run ``program`` (a callable that creates resources) under Pulumi's mock runtime as
    stack ``stack`` of project ``gigafactory`` with ``config`` (full keys). The runtime's
    global state is reset first, so this can run any number of times in one process."""
    import pulumi
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime import stack as runtime_stack
    from pulumi.runtime.sync_await import _sync_await

    records: list[dict[str, Any]] = []
    registered: dict[str, dict[str, Any]] = {}
    root_urn: list[str] = []

    class _Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            return {}, None

    class _Recorder(mocks.MockMonitor):
        """Records what the mock engine is asked to register, with parent and deps."""

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type == _STACK_TYPE:
                root_urn.append(response.urn)
                return response
            records.append(
                {
                    "urn": response.urn,
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent or None,
                    "depends_on": sorted(set(request.dependencies)),
                    "inputs": _plain(rpc.deserialize_properties(request.object)),
                }
            )
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:
            registered[request.urn] = _plain(rpc.deserialize_properties(request.outputs))
            return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    # Fresh global state per run: root stack, config, settings, monitor.
    settings.ROOT.set(None)
    pulumi.runtime.set_all_config(_config_strings(config or {}))
    mock = _Mocks()
    pulumi.runtime.set_mocks(mock, project=PROJECT, stack=stack, preview=False, monitor=_Recorder(mock))

    def body() -> None:
        program()

    _sync_await(runtime_stack.run_pulumi_func(body))
    stack_resource = settings.get_root_resource()
    outputs = _sync_await(pulumi.Output.from_input(getattr(stack_resource, "outputs", {})).future())
    for record in records:
        if record["parent"] in root_urn:
            record["parent"] = None
    records.sort(key=lambda r: r["urn"])
    return MockRun(resources=records, outputs=_plain(outputs or {}), registered_outputs=registered)


def _run_main(config: StackConfig, root: Path) -> MockRun:
    """The real program, ``__main__.py`` of the project at ``root``."""
    import runpy

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    main = root / "__main__.py"
    return run_program(lambda: runpy.run_path(str(main), run_name="__main__"), config.stack, config.values)


# ---------------------------------------------------------------------------------------
# Plain objects, validation, files
# ---------------------------------------------------------------------------------------


def is_plain_object(resource: dict[str, Any]) -> bool:
    """A Kubernetes object the provider applies as-is (not a Helm release or a manifest)."""
    t = resource["type"]
    inputs = resource["inputs"]
    return (
        t.startswith("kubernetes:")
        and not t.startswith(_NOT_PLAIN)
        and "apiVersion" in inputs
        and "kind" in inputs
    )


def is_builtin_api(api_version: str) -> bool:
    """True for Kubernetes' own API groups (schemas exist), False for CRD groups."""
    group = api_version.rpartition("/")[0]
    return (group == "" or _BUILTIN_GROUP.match(group) is not None) and not group.endswith("x-k8s.io")


def validate_objects(resources: list[dict[str, Any]], version: str = KUBERNETES_VERSION) -> list[str]:
    """Schema errors of the plain objects of built-in API groups, one line each."""
    import kubernetes_validate

    errors: list[str] = []
    for resource in resources:
        if not is_plain_object(resource) or not is_builtin_api(resource["inputs"]["apiVersion"]):
            continue
        obj = resource["inputs"]
        where = f"{obj['kind']}/{obj.get('metadata', {}).get('name', resource['name'])}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path) or "(top level)"
            errors.append(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no Kubernetes {version} schema for {obj['apiVersion']} {obj['kind']}")
    return errors


def _file_name(*parts: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", "-".join(p for p in parts if p).lower()) + ".yaml"


def write_output(result: RenderResult, out: Path) -> None:
    """resources.json, manifests/ (plain objects) and releases/ (Helm releases), written
    atomically with a manifest; never over files it did not write (gigafactory.stack.output)."""
    from gigafactory.stack.output import write_render

    write_render(result, out)


def render_stack(stack: str, out: Path | None = None, root: Path | None = None) -> RenderResult:
    """Run the program for ``stack`` under mocks; validate; write ``out`` when given.

    Raises StackConfigError / SiteFileError for bad stack config (before anything runs)
    and ManifestValidationError when a rendered object fails the Kubernetes schema.
    Callable any number of times in one process (the mock runtime is reset each time).
    """
    base = root or project_dir()
    config = load_stack_config(stack, base)
    site, cluster = resolve_target(
        str(config.get("site")), str(config.get("cluster")), config.get("platform") or None, base
    )
    run = _run_main(config, base)
    result = RenderResult(
        stack=stack,
        site=site.name,
        cluster=cluster.name,
        platform=cluster.platform,
        resources=run.resources,
        outputs=run.outputs,
        registered_outputs=run.registered_outputs,
    )
    errors = validate_objects(run.resources)
    if out is not None:
        write_output(result, out)
    if errors:
        raise ManifestValidationError(errors)
    return result


__all__ = [
    "ManifestValidationError",
    "RenderResult",
    "load_stack_config",
    "render_stack",
    "resolve_target",
    "run_program",
    "stacks",
    "validate_objects",
    "write_output",
]
