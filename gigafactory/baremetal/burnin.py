"""Values for the burn-in chart (charts/gpu-burnin) from the hardware catalog: one values file
per GPU SKU with its shape (GPUs per node, nodes per rack, racks per scalable unit) and its
pass floors (NCCL bus bandwidth, ib_write_bw), so the chart holds no figure of its own and
no Python. Written to ``charts/gpu-burnin/skus/<sku>.yaml`` by ``scripts/burnin_values.py``;
a test keeps them in step with the catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gigafactory.site import catalog

SKU_VALUES_DIR = Path("charts") / "gpu-burnin" / "skus"
"""Where the per-SKU values files live, relative to the project."""


def sku_values(sku_id: str) -> dict[str, Any]:
    """The chart values one GPU SKU fixes. The multi-node floor is the NVLink-bound all-reduce
    floor where a multi-node NVLink domain exists (NVL72 racks, domain rack), else the
    InfiniBand-bound one: compute NICs x ib_write_bw floor / 8 (Gb/s to GB/s)."""
    sku = catalog.skus()[sku_id]
    if not sku.is_gpu:
        raise ValueError(f"{sku_id} has no GPUs; allowed: {', '.join(gpu_skus())}")
    multi_node_nvlink = sku.nvlink_domain_gpus > sku.gpus_per_node
    ib_bound = sku.nics_per_node * sku.ib_write_bw_floor_gbps / 8
    return {
        "target": {"gpusPerNode": sku.gpus_per_node},
        "topology": {"nodesPerRack": sku.nodes_per_rack, "racksPerSU": sku.su_racks},
        "perNode": {"nccl": {"minBusBandwidthGBps": sku.nccl_busbw_floor_gb_s}},
        "multiNode": {
            "minBusBandwidthGBps": sku.nccl_busbw_floor_gb_s if multi_node_nvlink else ib_bound,
            "computeDomain": {"enabled": multi_node_nvlink},
            # ConnectX devices as the mlx5 driver names them in order; override per host image.
            "ib": {
                "devices": [f"mlx5_{i}" for i in range(sku.nics_per_node)],
                "minBandwidthGbps": sku.ib_write_bw_floor_gbps,
            },
        },
    }


def gpu_skus() -> list[str]:
    return [k for k, s in catalog.skus().items() if s.is_gpu]


def sku_values_text(sku_id: str) -> str:
    """The values file of one SKU, with a header that names its source."""
    sku = catalog.skus()[sku_id]
    ib_bound = sku.nics_per_node * sku.ib_write_bw_floor_gbps / 8
    multi_node_nvlink = sku.nvlink_domain_gpus > sku.gpus_per_node
    where = "multiNode.domain su, across racks" if multi_node_nvlink else "every multi-node run"
    header = [
        f"# gpu-burnin values for {sku.name} ({sku_id}).",
        "# Generated from gigafactory/data/hardware.yaml by scripts/burnin_values.py: do not edit.",
        f"# Floors: {sku.burnin_floors_source}",
        f"# InfiniBand-bound all-reduce floor ({where}): {sku.nics_per_node} NICs x "
        f"{sku.ib_write_bw_floor_gbps:g} Gb/s / 8 = {ib_bound:g} GB/s.",
        "# Use: helm install <release> charts/gpu-burnin -f charts/gpu-burnin/skus/"
        f"{sku_id}.yaml --set target.pool=...",
    ]
    body = yaml.safe_dump(sku_values(sku_id), sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def write_sku_values(root: Path) -> list[Path]:
    """Write every GPU SKU's values file under ``root``; returns the paths written."""
    out_dir = root / SKU_VALUES_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for sku_id in gpu_skus():
        path = out_dir / f"{sku_id}.yaml"
        path.write_text(sku_values_text(sku_id), encoding="utf-8")
        written.append(path)
    return written


def stale_sku_values(root: Path) -> list[Path]:
    """Values files that are missing or differ from the catalog."""
    stale = []
    for sku_id in gpu_skus():
        path = root / SKU_VALUES_DIR / f"{sku_id}.yaml"
        if not path.is_file() or path.read_text(encoding="utf-8") != sku_values_text(sku_id):
            stale.append(path)
    return stale
