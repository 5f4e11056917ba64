"""Hardware, switch and grid catalogs: data files with a source per entry, loaded once."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gigafactory.errors import CatalogError

Cooling = Literal["liquid", "air", "hybrid"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sku(_Entry):
    """One hardware SKU; see the header of data/hardware.yaml for each field."""

    id: str
    name: str
    arch: Literal["amd64", "arm64"]
    gpu_product: str
    gpus_per_node: int = Field(ge=0)
    nodes_per_rack: int = Field(gt=0)
    node_kw: float = Field(gt=0)
    rack_kw: float = Field(gt=0)
    it_kw_per_rack: float = Field(gt=0)
    cooling: Cooling
    su_nodes: int = Field(gt=0)
    nics_per_node: int = Field(ge=0)
    nic: str
    nvlink_domain_gpus: int = Field(ge=0)
    default_switch: str
    source: str = Field(min_length=1)
    switch_trays_per_rack: int = Field(ge=0)
    power_shelves_per_rack: int = Field(ge=0)
    rack_parts_source: str = Field(min_length=1)
    nccl_busbw_floor_gb_s: float = Field(ge=0)
    ib_write_bw_floor_gbps: float = Field(ge=0)
    burnin_floors_source: str = Field(min_length=1)
    coherent_gpu_memory_mode: Literal["", "driver"] = ""
    """NVIDIA kernel module NVreg_CoherentGPUMemoryMode the driver role sets; "" = the driver's
    default (non-coherent SKUs)."""
    coherent_gpu_memory_source: str = ""

    @model_validator(mode="after")
    def _gpu_floors(self) -> Sku:
        if self.gpus_per_node > 0 and self.nccl_busbw_floor_gb_s <= 0:
            raise ValueError(f"{self.id}: a GPU SKU needs nccl_busbw_floor_gb_s above 0")
        if self.nics_per_node > 0 and self.ib_write_bw_floor_gbps <= 0:
            raise ValueError(f"{self.id}: a SKU with compute NICs needs ib_write_bw_floor_gbps above 0")
        if self.coherent_gpu_memory_mode and not self.coherent_gpu_memory_source:
            raise ValueError(f"{self.id}: coherent_gpu_memory_mode needs a coherent_gpu_memory_source")
        return self

    @property
    def su_racks(self) -> int:
        """Racks in one scalable unit (at least one)."""
        return max(1, self.su_nodes // self.nodes_per_rack)

    @property
    def is_gpu(self) -> bool:
        return self.gpus_per_node > 0


class Switch(_Entry):
    id: str
    name: str
    radix: int = Field(gt=0)
    link_gbps: int = Field(gt=0)
    source: str = Field(min_length=1)


class Zone(_Entry):
    id: str
    name: str
    carbon_g_per_kwh: dict[int, float]
    renewable_share: dict[int, float]

    def carbon(self, year: int | None = None) -> tuple[int, float]:
        """(year, g CO2eq/kWh) for ``year``, or the latest year published."""
        y = max(self.carbon_g_per_kwh) if year is None else year
        return y, self.carbon_g_per_kwh[y]

    def renewable(self, year: int | None = None) -> tuple[int, float]:
        """(year, share 0..1) for ``year``, or the latest year published."""
        y = max(self.renewable_share) if year is None else year
        return y, self.renewable_share[y]


def _load(name: str) -> dict[str, Any]:
    text = resources.files("gigafactory.data").joinpath(name).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(data, dict):
        raise CatalogError(f"gigafactory/data/{name}: expected a mapping at the top level")
    return data


def _entries(name: str, key: str, cls: type[_Entry]) -> dict[str, Any]:
    data = _load(name)
    try:
        return {k: cls.model_validate({"id": k, **v}) for k, v in data[key].items()}
    except (ValidationError, KeyError, TypeError) as exc:
        raise CatalogError(f"gigafactory/data/{name}: {exc}") from None


@functools.cache
def skus() -> dict[str, Sku]:
    """Every hardware SKU by id."""
    return _entries("hardware.yaml", "skus", Sku)


@functools.cache
def switches() -> dict[str, Switch]:
    """Every fabric switch model by id."""
    return _entries("switches.yaml", "switches", Switch)


@functools.cache
def zones() -> dict[str, Zone]:
    """Every grid zone by Electricity Maps zone id."""
    return _entries("grid.yaml", "zones", Zone)
