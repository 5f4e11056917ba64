"""Calling the pack's policies the way the SDK's own tests do: `policy.validate(args, report)`.

The pack module (policy/gigafactory_policies.py) is imported, never policy/__main__.py:
constructing a PolicyPack starts the analyzer server and blocks. Inputs go through the
SDK's unknown-checking proxy, as the engine's inputs do, so a value unknown at preview is
the engine's sentinel string and reading it raises inside the SDK.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from inspect import isawaitable
from types import ModuleType
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import (
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    unknown_checking_proxy,
)

from gigafactory.errors import StackConfigError
from gigafactory.policy.rule import StackContext
from gigafactory.site import load_site
from tests.conftest import KIND, NARVIK, REPO

__all__ = [
    "UNKNOWN_BOOLEAN_VALUE",
    "UNKNOWN_NUMBER_VALUE",
    "UNKNOWN_OBJECT_VALUE",
    "UNKNOWN_STRING_VALUE",
]

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART_V4 = "kubernetes:helm.sh/v4:Chart"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta2:ResourceFlavor"
QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"


def load_pack() -> ModuleType:
    path = str(REPO / "policy")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("gigafactory_policies")


PACK = load_pack()
KIND_CTX = StackContext.build("kind", load_site(KIND), "dev")
NARVIK_C1 = StackContext.build("narvik-c1", load_site(NARVIK), "c1")


def no_context() -> StackContext:
    raise StackConfigError("stack test: config gigafactory:site (the site file) is not set")


def policy(name: str, ctx: StackContext | Callable[[], StackContext] = KIND_CTX) -> Any:
    """The pack's policy ``name``, with the stack's site model coming from ``ctx``."""
    load = ctx if callable(ctx) else (lambda: ctx)
    found = [p for p in PACK.policies(load) if p.name == name]
    assert len(found) == 1, f"no policy {name}"
    return found[0]


def _opts(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def _urn(type_: str, name: str) -> str:
    return f"urn:pulumi:test::gigafactory::{type_}::{name}"


def _run(result: Any) -> None:
    if isawaitable(result):
        loop = asyncio.new_event_loop()
        loop.run_until_complete(result)
        loop.close()


def validate_resource(
    pol: Any, type_: str, props: Mapping[str, Any], config: Mapping[str, Any] | None = None, name: str = "r"
) -> list[str]:
    """Violations (messages) one resource policy reports for one resource."""
    out: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        out.append(message)

    args = ResourceValidationArgs(
        type_, unknown_checking_proxy(dict(props)), _urn(type_, name), name, _opts(), None, config
    )
    _run(pol.validate(args, report))
    return out


def validate_stack(
    pol: Any, resources: Sequence[tuple[str, str, Mapping[str, Any]]], config: Mapping[str, Any] | None = None
) -> list[tuple[str, str | None]]:
    """Violations (message, urn) one stack policy reports for (type, name, props) resources."""
    out: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        out.append((message, urn))

    stack = [
        PolicyResource(t, unknown_checking_proxy(dict(p)), _urn(t, n), n, _opts(), None, None, [], {})
        for t, n, p in resources
    ]
    _run(pol.validate(StackValidationArgs(stack, config), report))
    return out
