"""The kubeadm role hands each node exactly the documents the model generates
(gigafactory.baremetal.kubeadm.documents), through the site inventory plugin: the first control
plane's Init-, Cluster- and KubeletConfiguration, another control plane's join, and a worker's
join assembled from the cluster's base and its pool and rack variables. No containers needed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gigafactory.baremetal.kubeadm import documents
from gigafactory.site import load_site
from tests.ansible.conftest import PLAYBOOKS, VENV_BIN, ansible_env

NARVIK = PLAYBOOKS.parent / "sites" / "narvik.yaml"
INVENTORY = PLAYBOOKS / "inventory" / "narvik-c1.gigafactory_site.yml"
# First and second control plane; a GB300 tray of pool train (rack 42, slot 7); a CPU server of
# pool system (rack 241, slot 1); a storage server (rack 245, slot 3).
HOSTS = ["c1-cp1", "c1-cp2", "hall-a-r0042-n07", "hall-a-r0241-n01", "hall-a-r0245-n03"]


def _role_documents(tmp_path: Path, extra: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    play = tmp_path / "documents.yml"
    play.write_text(
        f"""---
- name: Take the kubeadm documents from the model
  hosts: {",".join(HOSTS)}
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  tasks:
    - name: Take the documents
      ansible.builtin.include_role:
        name: kubeadm
        tasks_from: documents
    - name: Keep them
      ansible.builtin.copy:
        content: "{{{{ kubeadm_documents | to_json }}}}"
        dest: "{tmp_path}/{{{{ inventory_hostname }}}}.json"
        mode: "0644"
"""
    )
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(play)]
    if extra:
        cmd += ["--extra-vars", json.dumps(extra)]
    env = ansible_env(ANSIBLE_ROLES_PATH=str(PLAYBOOKS / "project" / "roles"))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return {h: json.loads((tmp_path / f"{h}.json").read_text()) for h in HOSTS}


@pytest.fixture(scope="module")
def role_documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return _role_documents(tmp_path_factory.mktemp("kubeadm-docs"))


@pytest.mark.parametrize("host", HOSTS)
def test_role_documents_are_the_models(role_documents: dict[str, list[dict[str, Any]]], host: str) -> None:
    site = load_site(NARVIK)
    assert role_documents[host] == documents(site, site.cluster("c1"), host)


def test_kinds_per_node(role_documents: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {h: [d["kind"] for d in docs] for h, docs in role_documents.items()}
    assert kinds["c1-cp1"] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
    for host in HOSTS[1:]:
        assert kinds[host] == ["JoinConfiguration"], host
    assert "controlPlane" in role_documents["c1-cp2"][0]
    assert "controlPlane" not in role_documents["hall-a-r0042-n07"][0]


def test_overrides_change_only_their_fields(tmp_path: Path) -> None:
    overrides = {
        "ClusterConfiguration": {"imageRepository": "registry.site.invalid/k8s"},
        "KubeletConfiguration": {"failCgroupV1": False},
    }
    docs = _role_documents(tmp_path, {"kubeadm_document_overrides": overrides})
    site = load_site(NARVIK)
    want = documents(site, site.cluster("c1"), "c1-cp1", fail_cgroup_v1=False)
    want[1]["imageRepository"] = "registry.site.invalid/k8s"
    assert docs["c1-cp1"] == want
    # A worker's join has neither kind: unchanged.
    assert docs["hall-a-r0042-n07"] == documents(site, site.cluster("c1"), "hall-a-r0042-n07")
