"""The simulator's pieces that need no toolchain: node objects, KWOK stages, Kueue's manifests,
certificates, state handling and the CLI's answers to bad input."""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from gigafactory.sim import cluster as sim
from gigafactory.sim import kueue, kwok, nodes, pki, placement, procs
from gigafactory.site import kueue as kueue_objects
from gigafactory.site import load_site
from gigafactory.site.model import GPU_RESOURCE
from tests.conftest import KIND, NARVIK, REPO


def test_node_objects_are_the_model_nodes_with_gpu_capacity() -> None:
    site = load_site(KIND)
    objects = nodes.manifests(site.cluster("dev"))
    by_name = {o["metadata"]["name"]: o for o in objects}
    assert sorted(by_name) == ["lab-r0001-n01", "lab-r0002-n01", "lab-r0002-n02"]
    gpu = by_name["lab-r0002-n02"]
    node = site.cluster("dev").pool("gpu").node(1)
    assert gpu["metadata"]["labels"] == node.labels
    assert gpu["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
    assert gpu["status"]["capacity"][GPU_RESOURCE] == "4"
    assert gpu["status"]["allocatable"] == gpu["status"]["capacity"]
    assert gpu["status"]["nodeInfo"]["architecture"] == "arm64"
    assert gpu["metadata"]["annotations"] == {kwok.MANAGED_ANNOTATION: kwok.MANAGED_VALUE}
    # A node label would change the model's labels: KWOK selects nodes by annotation.
    assert not any(k.startswith("kwok") for k in gpu["metadata"]["labels"])
    system = by_name["lab-r0001-n01"]
    assert GPU_RESOURCE not in system["status"]["capacity"]
    assert system["spec"]["taints"] == []


def test_node_readiness_needs_the_condition_and_no_not_ready_taint() -> None:
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}, "spec": {}}
    assert nodes.is_ready(ready)
    tainted = {**ready, "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}}
    assert not nodes.is_ready(tainted)
    assert not nodes.is_ready({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    assert not nodes.is_ready({})


def test_kwok_stages_cover_node_ready_pod_running_pod_delete_and_pod_complete() -> None:
    docs = list(yaml.safe_load_all(kwok.config_text()))
    assert docs[0]["kind"] == "KwokConfiguration"
    stages = docs[1:]
    assert [(s["metadata"]["name"], s["spec"]["resourceRef"]["kind"]) for s in stages] == [
        ("node-ready", "Node"),
        ("pod-running", "Pod"),
        ("pod-delete", "Pod"),
        ("pod-complete", "Pod"),
    ]
    node_ready = stages[0]["spec"]
    # Unready nodes are selected on the Ready condition, not on .status.phase (REAL-CLUSTER.md).
    assert node_ready["selector"]["matchExpressions"][0]["key"].startswith(".status.conditions")
    pod_running = stages[1]["spec"]
    assert {"key": ".spec.nodeName", "operator": "Exists"} in pod_running["selector"]["matchExpressions"]
    assert "podIP:" in pod_running["next"]["statusTemplate"]
    assert stages[2]["spec"]["next"] == {"delete": True}
    args = kwok.args("/k", "/c", 1234)
    assert "--server-address=127.0.0.1:1234" in args
    assert "--manage-all-nodes=false" in args


@pytest.fixture
def kueue_manifests(tmp_path: Path) -> Path:
    """A stand-in for controller-gen's output: the conversion CRDs (one with two versions) and,
    for Kueue's own webhooks and for the Job integration's, one mutating and one validating
    configuration calling a Service."""
    crds = tmp_path / "crds"
    crds.mkdir()
    for name in kueue.CONVERSION_CRDS:
        versions = [{"name": "v1beta2", "served": True, "storage": True}]
        if name.startswith("clusterqueues"):
            versions.insert(0, {"name": "v1beta1", "served": True, "storage": False})
        doc = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": "kueue.x-k8s.io", "versions": versions},
        }
        (crds / f"{name}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    _webhooks(tmp_path / "webhooks", "/validate-x")
    # The batch/v1 Job integration's own (controller-gen's output for pkg/controller/jobs/job).
    _webhooks(tmp_path / "job-webhooks", "/mutate-batch-v1-job", name="mjob.kb.io")
    return tmp_path


def _webhooks(folder: Path, path: str, name: str = "vclusterqueue.kb.io") -> None:
    """One mutating and one validating configuration, as controller-gen names them."""
    folder.mkdir()
    docs = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": config},
            "webhooks": [
                {
                    "name": name,
                    "clientConfig": {
                        "service": {"name": "webhook-service", "namespace": "system", "path": path}
                    },
                }
            ],
        }
        for kind, config in (
            ("MutatingWebhookConfiguration", "mutating-webhook-configuration"),
            ("ValidatingWebhookConfiguration", "validating-webhook-configuration"),
        )
    ]
    (folder / "manifests.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def test_kueue_webhooks_are_renamed_and_point_at_loopback(kueue_manifests: Path) -> None:
    out = kueue.webhook_configurations(kueue_manifests, "https://127.0.0.1:9443", b"CA", frameworks=())
    assert sorted(d["metadata"]["name"] for d in out) == [
        "kueue-mutating-webhook-configuration",
        "kueue-validating-webhook-configuration",
    ]
    for doc in out:
        assert doc["webhooks"] == [
            {
                "name": "vclusterqueue.kb.io",
                "clientConfig": {
                    "url": "https://127.0.0.1:9443/validate-x",
                    "caBundle": base64.b64encode(b"CA").decode(),
                },
            }
        ]


def test_job_webhooks_join_kueues_own_only_when_the_job_integration_is_on(kueue_manifests: Path) -> None:
    url = "https://127.0.0.1:9443"
    on = kueue.webhook_configurations(kueue_manifests, url, b"CA", frameworks=["batch/job"])
    off = kueue.webhook_configurations(kueue_manifests, url, b"CA", frameworks=["kubeflow.org/mpijob"])
    for doc in on:
        assert [h["clientConfig"]["url"] for h in doc["webhooks"]] == [
            f"{url}/validate-x",
            f"{url}/mutate-batch-v1-job",
        ], doc["kind"]
        # Kueue's own webhooks see every namespace; the Job's only those Kueue manages (as
        # Kueue's chart sets them from managedJobsNamespaceSelector).
        own, job = doc["webhooks"]
        assert "namespaceSelector" not in own
        assert job["namespaceSelector"] == {"matchLabels": {"gigafactory.io/kueue": "true"}}
    for doc in off:
        assert [h["clientConfig"]["url"] for h in doc["webhooks"]] == [f"{url}/validate-x"], doc["kind"]
    # The simulator's Kueue runs the Job integration, so it gets the Job webhooks.
    assert "batch/job" in kueue.configuration(1, 2, 3, kueue_manifests)["integrations"]["frameworks"]


def test_missing_job_webhooks_name_the_folder_and_the_fix(kueue_manifests: Path) -> None:
    for path in (kueue_manifests / "job-webhooks").iterdir():
        path.unlink()
    (kueue_manifests / "job-webhooks").rmdir()
    with pytest.raises(
        kueue.KueueSetupError, match=r"job-webhooks: no webhooks for the batch/job integration"
    ):
        kueue.webhook_configurations(kueue_manifests, "https://127.0.0.1:9443", b"CA")


def test_kueue_conversion_crds_convert_by_webhook(kueue_manifests: Path) -> None:
    out = {c["metadata"]["name"]: c for c in kueue.crds(kueue_manifests, "https://127.0.0.1:9443", b"CA")}
    conversion = out["clusterqueues.kueue.x-k8s.io"]["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["url"] == "https://127.0.0.1:9443/convert"
    # Every CRD Kueue's rotator injects a CA into needs the webhook, whatever its versions.
    assert {n for n, c in out.items() if "conversion" in c["spec"]} == set(kueue.CONVERSION_CRDS)


def test_kueue_config_listens_on_loopback_and_excludes_limit_range_resources(tmp_path: Path) -> None:
    config = kueue.configuration(1, 2, 3, tmp_path)
    assert config["webhook"]["host"] == "127.0.0.1"
    assert config["health"]["healthProbeBindAddress"] == "127.0.0.1:2"
    assert config["metrics"]["bindAddress"] == "127.0.0.1:3"
    assert config["internalCertManagement"]["webhookSecretName"] == "kueue-webhook-server-cert"
    assert {"cpu", "memory"} <= set(config["resources"]["excludeResourcePrefixes"])
    # As the platform's Kueue: jobs of opted-in namespaces (tenants) are Kueue's, queue name or not.
    assert config["manageJobsWithoutQueueName"] is True
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"gigafactory.io/kueue": "true"}}


def test_simulator_kueue_runs_the_platforms_settings(tmp_path: Path) -> None:
    """Rate limit, reconcile workers, feature gates: what the platform ships is what the
    simulator measures; only the visibility server is off in addition."""
    config = kueue.configuration(1, 2, 3, tmp_path)
    platform = kueue_objects.manager_settings()
    for key, value in platform.items():
        if key != "featureGates":
            assert config[key] == value, key
    assert config["featureGates"] == {**platform.get("featureGates", {}), "VisibilityOnDemand": False}
    assert config["featureGates"]["TASCacheTopologyTree"] is True
    assert config["controller"]["groupKindConcurrency"]["Job.batch"] > 1


def test_certificates_serve_loopback_and_satisfy_kueues_rotator(tmp_path: Path) -> None:
    keys = pki.create(tmp_path / "pki", kueue.NAMESPACE, kueue.SERVICE)
    apiserver = x509.load_pem_x509_certificate(keys.crt("apiserver").read_bytes())
    sans = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    admin = x509.load_pem_x509_certificate(keys.crt("admin").read_bytes())
    assert admin.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    kueue_ca = x509.load_pem_x509_certificate(keys.crt("kueue-ca").read_bytes())
    ca_sans = kueue_ca.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ca_sans.get_values_for_type(x509.DNSName) == [pki.KUEUE_CA_NAME]
    webhook = x509.load_pem_x509_certificate(keys.crt("kueue-webhook").read_bytes())
    hook_sans = webhook.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{kueue.SERVICE}.{kueue.NAMESPACE}.svc" in hook_sans.get_values_for_type(x509.DNSName)
    webhook.verify_directly_issued_by(kueue_ca)
    assert keys.key("admin").stat().st_mode & 0o077 == 0


def test_state_dir_is_per_stack_under_the_env_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sim.ENV_DIR, str(tmp_path))
    assert sim.kubeconfig_path("sim") == tmp_path / "sim" / "kubeconfig"
    with pytest.raises(sim.SimError, match="not a plain name"):
        sim.state_dir("../etc")


def test_a_dead_or_reused_pid_is_not_ours() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        started = procs.start_time(child.pid)
        assert started is not None
        assert procs.running(procs.Proc("x", child.pid, started, ""))
        assert not procs.running(procs.Proc("x", child.pid, started + 1, ""))  # another process
    finally:
        child.kill()
        child.wait()
    assert not procs.running(procs.Proc("x", child.pid, started, ""))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigafactory", "sim", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_cli_unknown_stack_is_one_line_and_exit_2() -> None:
    res = _cli("up", "--stack", "nope")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert "nope" in res.stderr and "sim" in res.stderr  # the allowed stacks are listed


def test_cli_bad_kueue_log_level_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(sim.ENV_DIR, str(tmp_path))
    monkeypatch.setenv(kueue.DEBUG_LOG_ENV, "loud")
    res = _cli("up", "--stack", "sim")
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0
    assert kueue.DEBUG_LOG_ENV in res.stderr and "1 to 10" in res.stderr
    assert not (tmp_path / "sim").exists()  # refused before anything started


def test_cli_kubeconfig_prints_the_stable_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sim.ENV_DIR, str(tmp_path))
    res = _cli("kubeconfig", "--stack", "sim")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "sim" / "kubeconfig")


def test_cli_status_of_a_stopped_simulator_is_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sim.ENV_DIR, str(tmp_path))
    res = _cli("status", "--stack", "sim", "--format", "json")
    assert res.returncode == 1
    assert '"running": false' in res.stdout


@pytest.mark.parametrize("stack", ["narvik-c1", "narvik-c6"])
def test_placement_kueue_objects_are_the_stacks(stack: str) -> None:
    """The simulator's Topology, flavors and queues (gigafactory.sim.placement) are exactly what
    the stack's components create for the same cluster and tenants: c1 (all 16,704 GPUs
    contracted to msft-c1) and c6 (research owns 4,608 of 16,128)."""
    from tests.pulumi.conftest import rendered

    result = rendered(stack)
    site = load_site(NARVIK)
    cluster = site.cluster(result.cluster)
    ours = [
        o
        for o in placement.cluster_objects(cluster, site.tenants_of(cluster.name))
        if o["kind"] in ("Topology", "ResourceFlavor", "ClusterQueue")
    ]
    theirs = {
        (r["inputs"]["kind"], r["inputs"]["metadata"]["name"]): r["inputs"]["spec"]
        for r in result.resources
        if r["inputs"].get("kind") in ("Topology", "ResourceFlavor", "ClusterQueue")
    }
    assert ours, stack
    for obj in ours:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key in theirs, f"{stack}: the stack has no {key}"
        assert obj["spec"] == theirs[key], f"{stack}: {key} differs"
    queues = {o["metadata"]["name"]: o for o in ours if o["kind"] == "ClusterQueue"}
    pool = cluster.pool("train")
    nominal = {
        name: int(q["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]["nominalQuota"])
        for name, q in queues.items()
    }
    # The pool's queue holds what no tenant contracted; the tenants own the rest.
    if stack == "narvik-c1":
        assert nominal == {"c1-train": 0, "tenant-msft-c1": 232 * 18 * 4}  # 16,704
    else:
        assert nominal == {"c6-train": 224 * 18 * 4 - 4608, "tenant-research": 4608}  # 11,520 + 4,608
    assert sum(nominal.values()) == pool.gpus
