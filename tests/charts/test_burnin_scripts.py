"""The burn-in's shell steps (charts/gpu-burnin/files/*.sh), run for real with the GPU
tools (nv-hostengine, dcgmi, python3 + torch) replaced by stubs on PATH.

What the stubs stand in for needs GPUs; what is tested is the steps' own logic: the
verdict each records, that a failed test never stops the next step, and that the
per-node JSON line the summary reads is valid and says what happened.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.charts.rendering import CHARTS

FILES = CHARTS / "gpu-burnin" / "files"


@dataclass
class Sandbox:
    """A results dir, a termination-log file and a bin dir of stubs first on PATH."""

    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def termination_log(self) -> Path:
        return self.root / "termination-log"

    def stub(self, name: str, body: str) -> None:
        path = self.root / "bin" / name
        path.write_text("#!/bin/bash\n" + body + "\n")
        path.chmod(0o755)

    def result(self, name: str, value: str) -> None:
        (self.results / name).write_text(value + "\n")

    def run(self, script: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> int:
        full_env = {
            "PATH": f"{self.root / 'bin'}:/usr/bin:/bin",
            "RESULTS_DIR": str(self.results),
            "TERMINATION_LOG": str(self.termination_log),
            "SCRIPTS_DIR": str(FILES),
            **(env or {}),
        }
        proc = subprocess.run(
            ["/bin/bash", str(FILES / script), *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return proc.returncode

    def verdict_line(self) -> dict[str, Any]:
        line: dict[str, Any] = json.loads(self.termination_log.read_text())
        return line


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    (tmp_path / "bin").mkdir()
    (tmp_path / "results").mkdir()
    return Sandbox(tmp_path)


# --- report.sh ------------------------------------------------------------------------

REPORT_ENV = {
    "NODE_NAME": "r07-tray-01",
    "POD_NAME": "burnin-0",
    "DCGM_ENABLED": "true",
    "NCCL_ENABLED": "true",
}


def test_report_passes_a_node_whose_tests_passed(box: Sandbox) -> None:
    box.result("dcgm.result", "pass")
    box.result("dcgm.level", "3")
    box.result("nccl.result", "pass")
    box.result("nccl.busbw", "731.52")
    assert box.run("report.sh", REPORT_ENV) == 0
    assert box.verdict_line() == {
        "node": "r07-tray-01",
        "pod": "burnin-0",
        "dcgm": "pass",
        "dcgm_level": 3,
        "nccl": "pass",
        "nccl_busbw_gbps": 731.52,
        "result": "pass",
    }


def test_report_fails_a_node_with_one_failed_test(box: Sandbox) -> None:
    box.result("dcgm.result", "pass")
    box.result("dcgm.level", "3")
    box.result("nccl.result", "fail")
    box.result("nccl.busbw", "12.00")
    assert box.run("report.sh", REPORT_ENV) == 1
    line = box.verdict_line()
    assert (line["dcgm"], line["nccl"], line["result"]) == ("pass", "fail", "fail")


def test_report_fails_a_node_whose_step_left_no_result(box: Sandbox) -> None:
    box.result("nccl.result", "pass")
    box.result("nccl.busbw", "700")
    assert box.run("report.sh", REPORT_ENV) == 1
    line = box.verdict_line()
    assert (line["dcgm"], line["dcgm_level"], line["result"]) == ("fail", 0, "fail")


def test_report_leaves_out_a_disabled_test(box: Sandbox) -> None:
    box.result("nccl.result", "pass")
    box.result("nccl.busbw", "700")
    assert box.run("report.sh", {**REPORT_ENV, "DCGM_ENABLED": "false"}) == 0
    assert "dcgm" not in box.verdict_line()


# --- dcgm-diag.sh ---------------------------------------------------------------------

DIAG_PASS_TABLE = "| Memory  | Pass |\\n| Diagnostic | Pass |"


def stub_dcgm(box: Sandbox, diag_output: str, diag_exit: int) -> None:
    box.stub("nv-hostengine", "exit 0")
    box.stub(
        "dcgmi",
        f'if [ "$1" = diag ]; then echo "$@" > "{box.root}/diag-args"; printf "{diag_output}\\n"; '
        f"exit {diag_exit}; fi\nexit 0",
    )


def test_dcgm_step_records_a_pass(box: Sandbox) -> None:
    stub_dcgm(box, DIAG_PASS_TABLE, 0)
    assert box.run("dcgm-diag.sh", {"DCGM_LEVEL": "3"}) == 0
    assert (box.results / "dcgm.result").read_text() == "pass\n"
    assert (box.results / "dcgm.level").read_text() == "3\n"


def test_dcgm_step_records_a_failing_exit_code_and_still_exits_zero(box: Sandbox) -> None:
    stub_dcgm(box, DIAG_PASS_TABLE, 226)
    assert box.run("dcgm-diag.sh", {"DCGM_LEVEL": "2"}) == 0
    assert (box.results / "dcgm.result").read_text() == "fail\n"


def test_dcgm_step_records_a_failure_shown_only_in_the_table(box: Sandbox) -> None:
    stub_dcgm(box, "| Memory  | Pass |\\n| Targeted Power | Fail - GPU 2 |", 0)
    assert box.run("dcgm-diag.sh", {"DCGM_LEVEL": "3"}) == 0
    assert (box.results / "dcgm.result").read_text() == "fail\n"


def test_dcgm_step_runs_the_chosen_level_with_extra_arguments(box: Sandbox) -> None:
    stub_dcgm(box, DIAG_PASS_TABLE, 0)
    box.run("dcgm-diag.sh", {"DCGM_LEVEL": "4"}, ("--parameters", "targeted_power.test_duration=600"))
    assert (box.root / "diag-args").read_text().split() == [
        "diag",
        "-r",
        "4",
        "--parameters",
        "targeted_power.test_duration=600",
    ]


# --- nccl-*.sh ------------------------------------------------------------------------


def stub_python(box: Sandbox, verdict: str | None, exit_code: int) -> None:
    write = (
        f'echo {verdict} > "$RESULTS_DIR/nccl.result"; echo 650.25 > "$RESULTS_DIR/nccl.busbw"; '
        if verdict
        else ""
    )
    box.stub("python3", f'echo "$@" > "{box.root}/python-args"; {write}exit {exit_code}')


def test_single_node_step_launches_one_process_per_gpu(box: Sandbox) -> None:
    stub_python(box, "pass", 0)
    assert box.run("nccl-single-node.sh", {"GPUS": "4", "MIN_BUSBW_GBPS": "600"}) == 0
    args = (box.root / "python-args").read_text().split()
    assert args[:3] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=4" in args
    assert str(FILES / "allreduce_check.py") in args
    assert args[args.index("--min-busbw-gbps") + 1] == "600"
    assert (box.results / "nccl.result").read_text() == "pass\n"


def test_single_node_step_records_a_crash_as_fail_and_still_exits_zero(box: Sandbox) -> None:
    stub_python(box, None, 1)
    assert box.run("nccl-single-node.sh", {"GPUS": "4"}) == 0
    assert (box.results / "nccl.result").read_text() == "fail\n"


MULTI_ENV = {
    "NNODES": "18",
    "GPUS": "4",
    "JOB_COMPLETION_INDEX": "5",
    "MASTER_ADDR": "acc-gpu-burnin-mn-0.acc-gpu-burnin-mn",
    "MASTER_PORT": "29500",
    "NODE_NAME": "r07-tray-06",
}


def test_multi_node_step_joins_the_rendezvous_as_its_index(box: Sandbox) -> None:
    stub_python(box, "pass", 0)
    assert box.run("nccl-multi-node.sh", MULTI_ENV) == 0
    args = (box.root / "python-args").read_text().split()
    for expected in (
        "--nnodes=18",
        "--nproc-per-node=4",
        "--node-rank=5",
        "--master-addr=acc-gpu-burnin-mn-0.acc-gpu-burnin-mn",
        "--master-port=29500",
    ):
        assert expected in args
    assert box.verdict_line() == {
        "node": "r07-tray-06",
        "rank": 5,
        "nodes": 18,
        "nccl_multi_node": "pass",
        "nccl_busbw_gbps": 650.25,
        "result": "pass",
    }


def test_multi_node_step_fails_when_torchrun_fails(box: Sandbox) -> None:
    stub_python(box, "pass", 1)
    assert box.run("nccl-multi-node.sh", MULTI_ENV) == 1
    assert box.verdict_line()["result"] == "fail"


@pytest.mark.parametrize("script", sorted(p.name for p in FILES.glob("*.sh")))
def test_scripts_are_valid_bash(script: str) -> None:
    proc = subprocess.run(["/bin/bash", "-n", str(FILES / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert os.access(FILES / script, os.X_OK), f"{script} is not executable"
