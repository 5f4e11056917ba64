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
        "nccl_transport": "unchecked",
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


# --- no socket fallback -----------------------------------------------------------------


def stub_python_logging(box: Sandbox, log: str) -> None:
    """torchrun that passes the all-reduce and prints ``log`` as NCCL's output."""
    (box.root / "nccl-log").write_text(log)
    box.stub(
        "python3",
        f'echo "$NCCL_NET $NCCL_DEBUG" > "{box.root}/nccl-env"; cat "{box.root}/nccl-log"; '
        'echo pass > "$RESULTS_DIR/nccl.result"; echo 700 > "$RESULTS_DIR/nccl.busbw"; exit 0',
    )


def test_multi_node_step_passes_on_infiniband_and_forces_it(box: Sandbox) -> None:
    stub_python_logging(box, "r07-tray-06:1:1 [0] NCCL INFO Using network IB\n")
    assert box.run("nccl-multi-node.sh", {**MULTI_ENV, "REQUIRE_NET": "IB"}) == 0
    assert (box.root / "nccl-env").read_text().split() == ["IB", "INFO"]
    line = box.verdict_line()
    assert (line["nccl_transport"], line["result"]) == ("IB", "pass")


def test_multi_node_step_fails_when_nccl_falls_back_to_sockets(box: Sandbox) -> None:
    stub_python_logging(
        box,
        "NCCL INFO NET/Socket : Using [0]eth0:10.0.0.7<0>\nNCCL INFO Using network Socket\n",
    )
    assert box.run("nccl-multi-node.sh", {**MULTI_ENV, "REQUIRE_NET": "IB"}) == 1
    line = box.verdict_line()
    assert (line["nccl_transport"], line["nccl_multi_node"], line["result"]) == ("socket", "fail", "fail")


def test_multi_node_step_fails_when_the_log_does_not_show_the_transport(box: Sandbox) -> None:
    stub_python_logging(box, "NCCL INFO comm 0x1 rank 0 nranks 72 - Init COMPLETE\n")
    assert box.run("nccl-multi-node.sh", {**MULTI_ENV, "REQUIRE_NET": "IB"}) == 1
    assert box.verdict_line()["nccl_transport"] == "unknown"


def test_multi_node_step_fails_when_infiniband_bandwidth_failed(box: Sandbox) -> None:
    stub_python_logging(box, "NCCL INFO Using network IB\n")
    box.result("ib.result", "fail")
    (box.results / "ib.gbps").write_text("412.5\n")
    assert box.run("nccl-multi-node.sh", {**MULTI_ENV, "REQUIRE_NET": "IB", "IB_ENABLED": "true"}) == 1
    line = box.verdict_line()
    assert (line["ib_write_bw"], line["ib_gbps"], line["nccl_multi_node"]) == ("fail", 412.5, "fail")


# --- nvlink-check.sh --------------------------------------------------------------------


def nvlink_status(gpus: int, links: int, inactive: tuple[int, int] | None = None) -> str:
    out = []
    for g in range(gpus):
        out.append(f"GPU {g}: NVIDIA GB300 (UUID: GPU-{g})")
        for link in range(links):
            state = "<inactive>" if inactive == (g, link) else "50 GB/s"
            out.append(f"\t Link {link}: {state}")
    return "\n".join(out)


@pytest.mark.parametrize(
    ("gpus", "links", "inactive", "verdict"),
    [
        (4, 18, None, "pass"),
        (4, 18, (2, 11), "fail"),  # one link of GPU 2 down
        (4, 17, None, "fail"),  # 17 < 18 links per GPU
        (0, 0, None, "fail"),  # no GPU listed
    ],
)
def test_nvlink_check(
    box: Sandbox, gpus: int, links: int, inactive: tuple[int, int] | None, verdict: str
) -> None:
    (box.root / "status").write_text(nvlink_status(gpus, links, inactive) + "\n")
    box.stub("nvidia-smi", f'cat "{box.root}/status"')
    assert box.run("nvlink-check.sh", {"MIN_LINKS_PER_GPU": "18"}) == 0
    assert (box.results / "nvlink.result").read_text() == f"{verdict}\n"


def test_report_fails_a_node_with_a_down_nvlink(box: Sandbox) -> None:
    box.result("dcgm.result", "pass")
    box.result("nccl.result", "pass")
    box.result("nvlink.result", "fail")
    assert box.run("report.sh", {**REPORT_ENV, "NVLINK_ENABLED": "true"}) == 1
    line = box.verdict_line()
    assert (line["nvlink"], line["result"]) == ("fail", "fail")


# --- ib-write-bw.sh ---------------------------------------------------------------------

PERFTEST_OUTPUT = """\
 #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]
 65536      1403220          0.00               {gbps}                1.411339
---------------------------------------------------------------------------------------
"""
IB_ENV = {
    "JOB_NAME": "acc-gpu-burnin-mn",
    "SERVICE_NAME": "acc-gpu-burnin-mn",
    "IB_DEVICES": "mlx5_0 mlx5_1",
    "IB_MIN_GBPS": "720",
    "IB_DURATION": "10",
    "IB_PORT": "18515",
}


def stub_perftest(box: Sandbox, gbps: str) -> None:
    (box.root / "perftest").write_text(PERFTEST_OUTPUT.format(gbps=gbps))
    box.stub("ib_write_bw", f'echo "$@" >> "{box.root}/ib-args"; cat "{box.root}/perftest"')


def test_ib_client_measures_every_device_against_its_pair(box: Sandbox) -> None:
    stub_perftest(box, "740.12")
    assert box.run("ib-write-bw.sh", {**IB_ENV, "JOB_COMPLETION_INDEX": "5"}) == 0
    calls = (box.root / "ib-args").read_text().splitlines()
    # index 5 is the client of index 4; device k on port 18515 + k
    assert calls == [
        "-d mlx5_0 -p 18515 -D 10 -F --report_gbits acc-gpu-burnin-mn-4.acc-gpu-burnin-mn",
        "-d mlx5_1 -p 18516 -D 10 -F --report_gbits acc-gpu-burnin-mn-4.acc-gpu-burnin-mn",
    ]
    assert (box.results / "ib.result").read_text() == "pass\n"
    assert (box.results / "ib.gbps").read_text() == "740.12\n"


def test_ib_server_serves_without_a_peer(box: Sandbox) -> None:
    stub_perftest(box, "740.12")
    assert box.run("ib-write-bw.sh", {**IB_ENV, "JOB_COMPLETION_INDEX": "4"}) == 0
    assert (box.root / "ib-args").read_text().splitlines()[0] == "-d mlx5_0 -p 18515 -D 10 -F --report_gbits"


def test_ib_below_the_floor_fails(box: Sandbox) -> None:
    stub_perftest(box, "391.40")  # 391.40 < 720 Gb/s
    assert box.run("ib-write-bw.sh", {**IB_ENV, "JOB_COMPLETION_INDEX": "4"}) == 0
    assert (box.results / "ib.result").read_text() == "fail\n"
    assert (box.results / "ib.gbps").read_text() == "391.40\n"


def test_ib_without_perftest_in_the_image_fails(box: Sandbox) -> None:
    assert box.run("ib-write-bw.sh", {**IB_ENV, "JOB_COMPLETION_INDEX": "4"}) == 0
    assert (box.results / "ib.result").read_text() == "fail\n"
