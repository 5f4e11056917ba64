"""The resource model the resource rules read: resources, values unknown at preview, walkers
over their inputs, Kubernetes quantities and container image references.

A resource is its Pulumi type token, name and inputs (camelCase, as pulumi-kubernetes
passes them). Inputs unknown at preview arrive as ``UNKNOWN``. Nothing here imports pulumi
or pulumi_policy, nor knows any rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

# ---------------------------------------------------------------------------------------
# Resources and values unknown at preview
# ---------------------------------------------------------------------------------------


class _Unknown:
    """The type of UNKNOWN: a value Pulumi computes only when the resource is created."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

# The strings the Pulumi engine sends in place of unknown values during preview, one per
# value type (boolean, number, string, array, asset, archive, object): part of its wire
# protocol. normalize() turns each into UNKNOWN.
ENGINE_UNKNOWNS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def normalize(value: Any) -> Any:
    """Plain dicts and lists, with every engine unknown sentinel replaced by UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in ENGINE_UNKNOWNS else value
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource of a stack, as a policy sees it."""

    type: str
    """Pulumi type token, e.g. kubernetes:helm.sh/v3:Release."""
    name: str
    """Pulumi (logical) name."""
    props: Mapping[str, Any]
    """Inputs: plain data, UNKNOWN where a value is unknown at preview."""
    urn: str = ""

    @property
    def kind(self) -> str:
        return self.type.rsplit(":", 1)[-1]

    @classmethod
    def from_render(cls, r: Mapping[str, Any]) -> Resource:
        """A resource of the offline render (urn, type, name, inputs)."""
        return cls(
            type=r["type"], name=r["name"], props=normalize(r.get("inputs") or {}), urn=r.get("urn", "")
        )


# ---------------------------------------------------------------------------------------
# Helpers over plain resource inputs
# ---------------------------------------------------------------------------------------

HELM_TYPES: Final = frozenset(
    {"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart"}
)
WORKLOAD_KINDS: Final = frozenset(
    {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"}
)

PropPath = tuple[str | int, ...]
"""Where a value sits in a resource's inputs: keys and list indexes."""


def fmt_path(path: PropPath) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out or "(inputs)"


def walk(value: Any, path: PropPath = ()) -> Iterator[tuple[PropPath, Any]]:
    yield path, value
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, (*path, i))


def last_key(path: PropPath) -> str | None:
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return None


def get_in(value: Any, *keys: str) -> Any:
    """value[k1][k2]...; None when a key is missing, UNKNOWN when a step is unknown."""
    for k in keys:
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping) or k not in value:
            return None
        value = value[k]
    return value


def is_workload(r: Resource) -> bool:
    return r.type.startswith("kubernetes:") and r.kind in WORKLOAD_KINDS


def is_helm(r: Resource) -> bool:
    return r.type in HELM_TYPES


def chart_name(chart: str) -> str:
    """gpu-operator for nvidia/gpu-operator, oci://registry.k8s.io/kueue/charts/kueue -> kueue."""
    return chart.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tgz")


def is_local_chart(chart: str) -> bool:
    """A chart from this repository (a path): versioned with the code that installs it."""
    return chart.startswith(("./", "../", "/", "file://"))


def k8s_name(r: Resource) -> Any:
    """metadata.name, or the Pulumi name when the program lets the provider name the object."""
    name = get_in(r.props, "metadata", "name")
    return r.name if name is None else name


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (8, "8", "1k", "2Ki") as a number; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?", value.strip())
    if not m:
        return None
    scale = {
        None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
        "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
    }[m.group(2)]  # fmt: skip
    return float(m.group(1)) * scale


def image_tag(ref: str) -> tuple[str | None, bool]:
    """(tag, pinned by digest) of an image reference."""
    if "@" in ref:
        return None, True
    last = ref.rsplit("/", 1)[-1]
    return (last.split(":", 1)[1] if ":" in last else None), False


def iter_images(props: Mapping[str, Any]) -> Iterator[tuple[PropPath, Any, Any, bool]]:
    """Every image a resource's inputs name: (path, full reference or None, tag, pinned by digest).

    Finds pod-spec ``image: repo:tag`` strings and the Helm values forms
    ``{repository, tag}``, ``{repository, image, tag|version}`` and ``{image: {...}}``.
    A split reference without a tag takes the chart's default (its appVersion), which the
    chart version pins; UNKNOWN stands for a tag or reference unknown at preview.
    """
    for path, v in walk(props):
        if not isinstance(v, Mapping):
            continue
        img = v.get("image")
        split_tag_keys = [k for k in ("digest", "tag", "version") if k in v]
        if isinstance(img, str) and not split_tag_keys and "repository" not in v and "registry" not in v:
            tag, digest = image_tag(img)
            yield (*path, "image"), img, tag, digest
        elif (isinstance(img, str) or isinstance(v.get("repository"), str)) and split_tag_keys:
            if v.get("digest"):
                yield path, None, None, v["digest"] is not UNKNOWN
                continue
            tag = next((v[k] for k in ("tag", "version") if k in v), None)
            repo = "/".join(
                str(v[k]) for k in ("registry", "repository", "image") if isinstance(v.get(k), str)
            )
            yield path, repo, ("" if tag is None else tag), False
