"""Role templates for issue 15 rendered with StrictUndefined: the nvidia module's coherent
memory mode (GB200/GB300) and containerd's locked-memory limit (RDMA in pods)."""

from __future__ import annotations

import jinja2
import yaml

from tests.ansible.conftest import PLAYBOOKS

ROLES = PLAYBOOKS / "project" / "roles"


def _render(role: str, template: str, **variables: object) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLES / role / "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(template).render(ansible_managed="managed", **variables)


def _options(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_coherent_sku_gets_the_driver_memory_mode() -> None:
    text = _render("nvidia_driver", "modprobe.conf.j2", nvidia_driver_coherent_gpu_memory_mode="driver")
    assert _options(text) == ["options nvidia NVreg_CoherentGPUMemoryMode=driver"]


def test_other_skus_keep_the_driver_default() -> None:
    text = _render("nvidia_driver", "modprobe.conf.j2", nvidia_driver_coherent_gpu_memory_mode="")
    assert _options(text) == []


def test_role_default_is_the_driver_default() -> None:
    defaults = yaml.safe_load((ROLES / "nvidia_driver" / "defaults" / "main.yml").read_text())
    assert defaults["nvidia_driver_coherent_gpu_memory_mode"] == ""


def test_containerd_runs_with_unlimited_locked_memory() -> None:
    defaults = yaml.safe_load((ROLES / "container_runtime" / "defaults" / "main.yml").read_text())
    text = _render("container_runtime", "memlock.conf.j2", **defaults)
    assert _options(text) == ["[Service]", "LimitMEMLOCK=infinity"]
