"""The per-cluster Kubernetes settings: defaults that fit both reference sites, field checks that
name what is allowed, and network clashes found against the halls and the cluster size."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gigafactory.site import load_site
from gigafactory.site.kubernetes import KubernetesSpec, network_findings
from gigafactory.site.model import Site
from tests.conftest import REPO


def _hall_networks(site: Site) -> list[tuple[str, str]]:
    return [(f"{h.name} {k}", getattr(h, k)) for h in site.halls for k in ("mgmt_cidr", "bmc_cidr")]


@pytest.mark.parametrize("name", ["narvik", "kind"])
def test_defaults_fit_the_reference_sites(name: str) -> None:
    site = load_site(REPO / "sites" / f"{name}.yaml")
    for cluster in site.clusters:
        assert list(network_findings(KubernetesSpec(), _hall_networks(site), cluster.nodes)) == []


def test_pod_network_overlapping_a_hall_is_found() -> None:
    spec = KubernetesSpec(pod_cidr="10.16.0.0/12")
    findings = list(network_findings(spec, [("hall-a mgmt_cidr", "10.16.0.0/18")], 100))
    assert findings == [("pod_cidr", "pod_cidr 10.16.0.0/12 overlaps hall-a mgmt_cidr 10.16.0.0/18")]


def test_pod_and_service_networks_must_not_overlap() -> None:
    spec = KubernetesSpec(pod_cidr="10.96.0.0/11", service_cidr="10.100.0.0/16")
    assert ("service_cidr", "service_cidr 10.100.0.0/16 overlaps pod_cidr 10.96.0.0/11") in list(
        network_findings(spec, [], 10)
    )


def test_pod_network_must_hold_a_subnet_per_node() -> None:
    # A /16 cut into /24s holds 256 nodes; c1 of narvik has 4,256.
    spec = KubernetesSpec(pod_cidr="10.200.0.0/16")
    assert list(network_findings(spec, [], 4256)) == [
        ("pod_cidr", "pod_cidr 10.200.0.0/16 holds 256 node subnets of /24; the cluster has 4256 nodes")
    ]


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("version", "1.36", "X.Y.Z"),
        ("service_cidr", "10.96.0.0/11", "/12 or smaller"),
        ("pod_cidr", "10.128.0.1/11", "CIDR such as"),
        ("api_endpoint", {"host": "API_.example"}, "DNS name or IPv4 address"),
    ],
)
def test_bad_fields_name_what_is_allowed(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValidationError, match=allowed):
        KubernetesSpec.model_validate({field: value})
