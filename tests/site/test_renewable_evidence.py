"""Renewable evidence is a structured record (registry, certificates, MWh, period)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from gigafactory.errors import SiteFileError
from gigafactory.site import parse_site


def _error(data: dict[str, Any]) -> SiteFileError:
    with pytest.raises(SiteFileError) as exc:
        parse_site(data, "test.yaml")
    return exc.value


def test_narvik_evidence_is_a_record(narvik_data: dict[str, Any]) -> None:
    ev = parse_site(narvik_data).grid.renewable_evidence
    assert ev is not None
    assert ev.mwh == 2_006_000
    assert ev.certificates and ev.registry.startswith("Norwegian guarantee-of-origin registry")
    assert (ev.period.start, ev.period.end) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))


def test_old_free_text_form_names_the_new_shape(narvik_data: dict[str, Any]) -> None:
    narvik_data["grid"]["renewable_evidence"] = "GO contract 42"
    err = _error(narvik_data)
    assert err.path == "grid.renewable_evidence"
    assert "free text is no longer accepted" in str(err)
    assert "registry, certificates (a list of identifiers), mwh and period {start, end}" in str(err)


def test_period_may_be_written_as_iso_text(narvik_data: dict[str, Any]) -> None:
    narvik_data["grid"]["renewable_evidence"]["period"] = {"start": "2026-01-01", "end": "2026-12-31"}
    ev = parse_site(narvik_data).grid.renewable_evidence
    assert ev is not None and ev.period.end == datetime.date(2026, 12, 31)


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"certificates": []}, "grid.renewable_evidence.certificates", "at least 1 item"),
        ({"certificates": ["a", "a"]}, "grid.renewable_evidence.certificates", "'a' appears twice"),
        ({"certificates": ["  "]}, "grid.renewable_evidence.certificates[0]", "must not be blank"),
        ({"registry": " "}, "grid.renewable_evidence.registry", "must not be blank"),
        ({"mwh": 0}, "grid.renewable_evidence.mwh", "greater than 0"),
        (
            {"period": {"start": datetime.date(2026, 12, 31), "end": datetime.date(2026, 1, 1)}},
            "grid.renewable_evidence.period.end",
            "before start",
        ),
    ],
)
def test_bad_evidence_is_refused_with_its_field(
    narvik_data: dict[str, Any], change: dict[str, Any], path: str, message: str
) -> None:
    narvik_data["grid"]["renewable_evidence"].update(change)
    err = _error(narvik_data)
    assert err.path == path
    assert message in str(err)
