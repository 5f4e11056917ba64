"""Start, probe and stop the simulator's processes, by pid.

A process is identified by its pid *and* its start time (field 22 of ``/proc/<pid>/stat``), so a
pid reused by an unrelated process after a crash is never signalled. Every process runs in its
own session (Ctrl-C in the terminal that ran ``sim up`` does not reach it) with stdout and
stderr in one log file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gigafactory.errors import GigafactoryError

LOOPBACK = "127.0.0.1"


class ProcessFailed(GigafactoryError):
    """A process exited or did not become ready in time; the message names its log."""


@dataclass(frozen=True)
class Proc:
    """A started process: enough to find it again after this Python process is gone."""

    name: str
    pid: int
    start_time: int
    """Clock ticks after boot when the process started (``/proc/<pid>/stat`` field 22)."""
    log: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "start_time": self.start_time, "log": self.log}

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Proc:
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            start_time=int(str(data["start_time"])),
            log=str(data.get("log", "")),
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (held open together so the kernel cannot repeat one)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is a dead child of this process (else it would linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def start_time(pid: int) -> int | None:
    """The start time of a live ``pid``; None when there is no such process or it is a zombie."""
    _reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def running(proc: Proc) -> bool:
    """True while the process we started is alive (a reused pid does not count)."""
    return start_time(proc.pid) == proc.start_time


def start(
    name: str,
    argv: Sequence[str | Path],
    log: Path,
    pid_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start ``argv`` detached in its own session, output to ``log``; write ``pid_file``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    started = start_time(child.pid)
    if started is None:
        child.wait(timeout=5)
        raise ProcessFailed(f"{name} exited at once with status {child.returncode}; see {log}")
    pid_file.write_text(f"{child.pid}\n", encoding="utf-8")
    return Proc(name=name, pid=child.pid, start_time=started, log=str(log))


def stop(procs: Sequence[Proc], timeout: float = 10.0) -> list[str]:
    """SIGTERM every live process of ``procs`` (in the order given), wait up to ``timeout``
    seconds for all of them, then SIGKILL the rest. Returns the names that needed SIGKILL."""
    live = [p for p in procs if running(p)]
    for proc in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(running(p) for p in live):
        time.sleep(0.05)
    killed = []
    for proc in live:
        if running(proc):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            killed.append(proc.name)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(running(p) for p in live):
        time.sleep(0.05)
    return killed


def log_tail(path: str | Path, lines: int = 5) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def wait_ready(proc: Proc, probe: Callable[[], bool], timeout: float, what: str = "ready") -> float:
    """Poll ``probe`` until it is true; fail as soon as the process exits, or after ``timeout``
    seconds. Returns the seconds waited."""
    began = time.monotonic()
    delay = 0.05
    while True:
        if probe():
            return time.monotonic() - began
        if not running(proc):
            raise ProcessFailed(
                f"{proc.name} exited before it was {what}; log {proc.log}: {log_tail(proc.log)}"
            )
        if time.monotonic() - began > timeout:
            raise ProcessFailed(
                f"{proc.name} was not {what} after {timeout:.0f} s; log {proc.log}: {log_tail(proc.log)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def tls_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


def http_ok(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 200 within ``timeout`` seconds (any error is False)."""
    # No proxy: every endpoint is on loopback, whatever HTTPS_PROXY says.
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
