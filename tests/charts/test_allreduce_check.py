"""The burn-in's NCCL all-reduce check (charts/gpu-burnin/files/allreduce_check.py).

Its torch part needs GPUs; its arithmetic and verdict do not, and are tested here.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.charts.rendering import CHARTS

SCRIPT = CHARTS / "gpu-burnin" / "files" / "allreduce_check.py"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def check() -> Iterator[ModuleType]:
    """The script loaded as a module (registered while in use: its dataclass needs that)."""
    spec = importlib.util.spec_from_file_location("allreduce_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    write_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the chart
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = write_bytecode
    yield module
    del sys.modules[spec.name]


def result(check: Any, busbw: float, correct: bool = True, size: int = MIB) -> Any:
    return check.SizeResult(size, 0.001, busbw, busbw, correct)


def test_sizes_double_from_one_mib_up_to_the_maximum(check: Any) -> None:
    assert check.message_sizes(1) == [MIB]
    assert check.message_sizes(8) == [MIB, 2 * MIB, 4 * MIB, 8 * MIB]
    assert check.message_sizes(3) == [MIB, 2 * MIB, 3 * MIB]
    assert len(check.message_sizes(1024)) == 11


def test_sizes_reject_a_zero_maximum(check: Any) -> None:
    with pytest.raises(ValueError, match="max_mib"):
        check.message_sizes(0)


def test_bus_bandwidth_follows_the_nccl_tests_all_reduce_formula(check: Any) -> None:
    # 1 GB in 1 s over 8 ranks: algbw 1 GB/s, busbw 1 * 2 * 7 / 8 = 1.75 GB/s.
    assert check.bandwidths_gbps(10**9, 1.0, 8) == pytest.approx((1.0, 1.75))
    # 72 GPUs of one NVL72 rack: the factor tends to 2.
    assert check.bandwidths_gbps(10**9, 0.5, 72)[1] == pytest.approx(2.0 * 2 * 71 / 72)
    assert check.bandwidths_gbps(10**9, 1.0, 1) == pytest.approx((1.0, 0.0))


def test_verdict_needs_correct_results_and_the_bandwidth_floor(check: Any) -> None:
    assert check.verdict([result(check, 500.0), result(check, 700.0)], 600.0) == (True, "ok")
    passed, reason = check.verdict([result(check, 700.0), result(check, 550.0)], 600.0)
    assert not passed and "550.0 GB/s < required 600.0" in reason
    passed, reason = check.verdict([result(check, 700.0, correct=False, size=2 * MIB)], 0.0)
    assert not passed and "wrong all-reduce result" in reason
    assert check.verdict([], 0.0) == (False, "no sizes measured")


def test_results_are_written_for_the_report_step(check: Any, tmp_path: Path) -> None:
    check.write_results(tmp_path, "nccl", [result(check, 123.456)], True, "ok", 4)
    assert (tmp_path / "nccl.result").read_text() == "pass\n"
    assert (tmp_path / "nccl.busbw").read_text() == "123.46\n"
    report = json.loads((tmp_path / "nccl.json").read_text())
    assert report["world_size"] == 4 and report["result"] == "pass" and len(report["sizes"]) == 1


def test_failed_run_writes_fail(check: Any, tmp_path: Path) -> None:
    check.write_results(tmp_path, "nccl", [], False, "no sizes measured", 4)
    assert (tmp_path / "nccl.result").read_text() == "fail\n"
    assert (tmp_path / "nccl.busbw").read_text() == "0.00\n"


def test_arguments_match_what_the_launch_scripts_pass(check: Any) -> None:
    args = check.parse_args(
        [
            "--max-mib",
            "4096",
            "--iterations",
            "20",
            "--min-busbw-gbps",
            "700",
            "--result-dir",
            "/r",
            "--name",
            "n",
        ]
    )
    assert (args.max_mib, args.iterations, args.min_busbw_gbps, args.result_dir, args.name) == (
        4096,
        20,
        700.0,
        "/r",
        "n",
    )
    for launcher in ("nccl-single-node.sh", "nccl-multi-node.sh"):
        text = (SCRIPT.parent / launcher).read_text()
        for flag in ("--max-mib", "--iterations", "--min-busbw-gbps", "--result-dir", "--name"):
            assert flag in text, f"{launcher} does not pass {flag}"
