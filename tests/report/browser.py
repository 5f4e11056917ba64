"""Open a page in real headless Chromium over the DevTools protocol (``--remote-debugging-pipe``:
NUL-separated JSON on file descriptors 3 and 4, no websocket and no port), collect what the
page logs, and take a screenshot.

Collected as errors: console messages of level error or assert, uncaught exceptions, log
entries of level error (failed loads, blocked requests), and every request that is not to a
``file:``, ``data:``, ``about:`` or ``blob:`` URL (a self-contained page makes none).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-pipe",
)
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
TIMEOUT_S = 60.0
_PARK = 200


def chromium() -> str | None:
    """Path of Debian's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageRun:
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    """Every URL the page requested."""
    title: str = ""
    rack_shapes: int = -1
    """Rack shapes the browser rendered (``g[id^=racks_] path``), counted in the DOM."""


class _Pipe:
    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the DevTools pipe (exit {self.proc.poll()})")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.write_fd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = TIMEOUT_S) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` more (late console messages)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass


def open_page(page: Path, screenshot: Path, width: int = 1280, height: int = 900) -> PageRun:
    """Load ``page`` in headless Chromium, screenshot the viewport to ``screenshot`` (PNG)."""
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def child_fds() -> None:  # runs in the child before exec: Chromium reads fd 3, writes fd 4
        # Park both ends on high descriptors first: a pipe end may itself be fd 3 or 4.
        os.dup2(to_browser_r, _PARK)
        os.dup2(from_browser_w, _PARK + 1)
        os.dup2(_PARK, 3)  # os.dup2 makes the copy inheritable
        os.dup2(_PARK + 1, 4)

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=child_fds,  # the test process starts no threads of its own
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(proc, to_browser_w, from_browser_r)
        try:
            return _drive(pipe, page, screenshot, width, height)
        finally:
            with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                pipe.send("Browser.close")  # the browser may be gone already
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)


def _drive(pipe: _Pipe, page: Path, screenshot: Path, width: int, height: int) -> PageRun:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    pipe.wait_for("Page.loadEventFired")
    pipe.drain(0.5)
    run = PageRun()
    title = pipe.send(
        "Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=session
    )
    run.title = str(title["result"].get("value", ""))
    count = pipe.send(
        "Runtime.evaluate",
        {"expression": "document.querySelectorAll('g[id^=racks_] path').length", "returnByValue": True},
        session=session,
    )
    run.rack_shapes = int(count["result"].get("value", -1))
    shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session)
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            run.errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            run.errors.append(
                f"exception: {details.get('exception', {}).get('description', details.get('text'))}"
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            run.errors.append(
                f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".rstrip()
            )
        elif method == "Network.requestWillBeSent":
            run.requests.append(str(params.get("request", {}).get("url", "")))
    run.errors += [f"network request: {url}" for url in run.requests if not url.startswith(LOCAL_SCHEMES)]
    return run
