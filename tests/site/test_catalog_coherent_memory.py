"""The coherent driver memory mode (issue 15 point 7): set for the hardware-coherent SKUs only,
and never without a source."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gigafactory.site import catalog


def test_grace_blackwell_skus_use_driver_managed_memory() -> None:
    modes = {sku: s.coherent_gpu_memory_mode for sku, s in catalog.skus().items()}
    assert {sku for sku, mode in modes.items() if mode} == {"gb200-nvl72", "gb300-nvl72"}
    assert modes["gb300-nvl72"] == "driver"


def test_mode_without_a_source_is_refused() -> None:
    data = catalog.skus()["gb300-nvl72"].model_dump()
    data["coherent_gpu_memory_source"] = ""
    with pytest.raises(ValidationError, match="needs a coherent_gpu_memory_source"):
        catalog.Sku.model_validate(data)
