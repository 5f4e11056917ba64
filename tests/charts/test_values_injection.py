"""Values can never inject YAML: the schemas constrain every string that lands in a manifest
(DNS names with length limits, role names, label keys and values, CIDRs, image references,
resource names) and the templates quote every string, so a hostile value is refused or lands
verbatim as one string."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.rendering import Manifest, Render, RenderError, by_kind, one

TENANT = ["tenant-alpha.yaml"]
BURNIN = ["gpu-burnin-rack.yaml"]
BURNIN_MN = ["gpu-burnin-multinode.yaml"]

INJECTIONS = [
    "x\nevil: injected",
    'x"\nevil: "injected',
    "x: injected",
    "{evil: injected}",
    "x\n---\nkind: Secret",
]


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {str(k) for k in node}
        for v in node.values():
            out |= _keys(v)
        return out
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node)) if node else set()
    return set()


# (chart, fixture, --set-json key, value) that the schema must refuse.
REFUSED: list[tuple[str, list[str], str, object]] = [
    *[("tenant", TENANT, key, bad) for key in ("tenant.name", "tenant.namespace") for bad in INJECTIONS],
    ("tenant", TENANT, "tenant.name", "a" * 57),  # tenant-<name> would pass 63 characters
    ("tenant", TENANT, "tenant.name", "Alpha"),
    ("tenant", TENANT, "tenant.namespace", "-alpha"),
    *[("tenant", TENANT, "rbac.role", bad) for bad in [*INJECTIONS, "Edit", "a" * 64, "system:admin x"]],
    *[("tenant", TENANT, "rbac.groups", [bad]) for bad in ["x\nevil: injected", "", "a\tb"]],
    *[("tenant", TENANT, "kueue.localQueueName", bad) for bad in INJECTIONS],
    *[("tenant", TENANT, "kueue.clusterQueue", bad) for bad in INJECTIONS],
    *[
        ("tenant", TENANT, "networkPolicy.apiServer.cidrs", [bad])
        for bad in ["10.0.0.0/33", "256.1.1.1/32", "10.0.0.0", "10.0.0.0/8\nevil: x", "::/129", "a.b.c.d/8"]
    ],
    ("tenant", TENANT, "networkPolicy.dns.namespace", "kube-system\nevil: x"),
    ("tenant", TENANT, "networkPolicy.dns.podLabels", {"k8s-app": "kube dns"}),
    ("tenant", TENANT, "networkPolicy.ingressFromNamespaces", [{}]),  # would admit every namespace
    ("tenant", TENANT, "networkPolicy.extraEgress", [{"to": [{"ipBlock": {"cidr": "x"}}]}]),
    ("tenant", TENANT, "networkPolicy.extraEgress", [{"evil": 1}]),
    ("tenant", TENANT, "tenant.namespaceLabels", {"a\nevil": "x"}),
    ("tenant", TENANT, "tenant.namespaceLabels", {"a": "x\ny"}),
    ("tenant", TENANT, "tenant.namespaceAnnotations", {"bad key": "x"}),
    ("tenant", TENANT, "commonLabels", {"a": "x: y"}),
    ("tenant", TENANT, "limitRange.default", {"memory\nevil": "1Gi"}),
    ("tenant", TENANT, "limitRange.default", {"memory": "1Gi\nevil: x"}),
    ("tenant", TENANT, "quota.requestsCpu", "1\nevil: x"),
    ("tenant", TENANT, "nameOverride", "x\nevil: injected"),
    *[("gpu-burnin", BURNIN, key, bad) for key in ("target.pool", "target.rack") for bad in INJECTIONS],
    *[("gpu-burnin", BURNIN, "kueue.queueName", bad) for bad in INJECTIONS],
    *[("gpu-burnin", BURNIN, "images.dcgm.repository", bad) for bad in [*INJECTIONS, "Upper/case", "a b"]],
    *[("gpu-burnin", BURNIN, "images.dcgm.tag", bad) for bad in [*INJECTIONS, "latest", "-x"]],
    ("gpu-burnin", BURNIN, "shmSize", "16Gi\nevil: x"),
    ("gpu-burnin", BURNIN, "resources.requests", {"cpu\nevil": "1"}),
    ("gpu-burnin", BURNIN, "resources.limits", {"memory": "64Gi\nevil: x"}),
    ("gpu-burnin", BURNIN, "target.extraNodeSelector", {"a": "b\nevil: x"}),
    ("gpu-burnin", BURNIN, "target.extraTolerations", [{"key": "a", "evil": "x"}]),
    ("gpu-burnin", BURNIN, "imagePullSecrets", [{"name": "x\nevil: y"}]),
    ("gpu-burnin", BURNIN, "perNode.dcgm.extraArgs", ["--x\nevil: y"]),
    ("gpu-burnin", BURNIN, "commonLabels", {"a": "x\ny"}),
    ("gpu-burnin", BURNIN, "fullnameOverride", "x\nevil: injected"),
    ("gpu-burnin", BURNIN, "nameOverride", "UPPER"),
    ("gpu-burnin", BURNIN_MN, "multiNode.resourceClaimTemplateName", "x\nevil: injected"),
    ("gpu-burnin", BURNIN_MN, "multiNode.extraResources", {"nvidia.com/hostdev\nevil": 4}),
    ("gpu-burnin", BURNIN_MN, "multiNode.env", [{"name": "A B", "value": "x"}]),
    ("gpu-burnin", BURNIN_MN, "multiNode.env", [{"name": "A", "valueFrom": {}}]),
    ("gpu-burnin", BURNIN_MN, "multiNode.podAnnotations", {"bad key": "x"}),
]


@pytest.mark.parametrize(("chart", "fixture", "key", "value"), REFUSED)
def test_hostile_values_are_refused_by_the_schema(
    render_error: RenderError, chart: str, fixture: list[str], key: str, value: object
) -> None:
    err = render_error(chart, fixture, {key: value})
    assert "schema" in err, err


# Strings that pass the schemas but that YAML would read as another type if unquoted.
TYPED_LOOKALIKES = ["123", "true", "no", "1e3", "0x1f", "null"]


@pytest.mark.parametrize("value", TYPED_LOOKALIKES)
def test_string_values_stay_strings_in_every_manifest(render: Render, value: str) -> None:
    docs = render("tenant", TENANT, {"kueue.localQueueName": f"q{value}" if value == "null" else value})
    queue = one(docs, "LocalQueue")
    assert isinstance(queue["metadata"]["name"], str)
    docs = render("gpu-burnin", BURNIN, {"kueue.queueName": value, "target.rack": value})
    job = one(docs, "Job")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == value
    assert job["spec"]["template"]["spec"]["nodeSelector"]["gigafactory.io/rack"] == value
    docs = render("tenant", TENANT, {"rbac.role": "x" + value if not value[0].isalnum() else value})
    for binding in by_kind(docs, "RoleBinding"):
        assert isinstance(binding["roleRef"]["name"], str)
        assert isinstance(binding["metadata"]["name"], str)


def test_free_text_values_land_verbatim_as_one_string(render: Render) -> None:
    """Annotations, group names, env values and dcgm arguments may hold anything printable:
    they arrive as exactly the string given, never as keys."""
    text = 'x: y", evil: {injected: 1} # not a comment'
    docs = render("tenant", TENANT, {"tenant.namespaceAnnotations": {"note": text}, "rbac.groups": [text]})
    ns = one(docs, "Namespace")
    assert ns["metadata"]["annotations"]["note"] == text
    bindings = [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == "edit"]
    assert bindings[0]["subjects"][0]["name"] == text
    docs = render(
        "gpu-burnin",
        BURNIN_MN,
        {"multiNode.env": [{"name": "NCCL_X", "value": text}], "multiNode.podAnnotations": {"n": text}},
    )
    job: Manifest = one(docs, "Job")
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "NCCL_X", "value": text} in env
    assert job["spec"]["template"]["metadata"]["annotations"]["n"] == text
    for doc in docs:
        assert "evil" not in _keys(doc) and "injected" not in _keys(doc)
