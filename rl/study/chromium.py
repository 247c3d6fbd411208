"""Headless Chromium driven over its DevTools pipe: open a page, run JavaScript in it, resize it, screenshot it.

`rlvr dashboard --screenshot` and the dashboard tests use it to see the page as a reader does: what trackio drew,
where, and in which colours. It needs Debian's `chromium` (`apt-get install -y chromium`; CI installs it) and no
Python package: with `--remote-debugging-pipe` Chromium reads DevTools protocol commands on its file descriptor 3
and writes the replies on 4, each a JSON message ended by a NUL byte. The one browser process it starts is ended
by its own process id (and its throwaway profile deleted) when the `with` block ends.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from rl.errors import RlvrError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str | None:
    """A headless-capable Chromium on PATH (Debian: `apt-get install -y chromium`), or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def spawn(argv: list[str], fds: dict[int, int]) -> int:
    """Start `argv` with our file descriptors `fds[n]` as its `n`, stdin/stdout/stderr on /dev/null; its pid.

    posix_spawn, not subprocess's preexec_fn: the dashboard's server threads run in this process, and Python code
    between fork and exec can deadlock there. The sources are first copied above every target, so no copy
    overwrites a source that a later one still reads."""
    devnull = os.open(os.devnull, os.O_RDWR)
    low = max([2, *fds]) + 1
    sources = {n: fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low) for n, fd in fds.items()}
    quiet = fcntl.fcntl(devnull, fcntl.F_DUPFD_CLOEXEC, low)
    actions = [(os.POSIX_SPAWN_DUP2, quiet, n) for n in (0, 1, 2)]
    actions += [(os.POSIX_SPAWN_DUP2, fd, n) for n, fd in sources.items()]
    try:
        return os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    finally:
        for fd in (devnull, quiet, *sources.values()):
            os.close(fd)


def exited(pid: int, within: float) -> bool:
    """Whether child `pid` exited (and was reaped) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
        time.sleep(0.1)
    return False


class Chromium:
    """One headless Chromium with one page, `width` x `height` CSS pixels; use it in a `with` block."""

    def __init__(self, width: int = 1400, height: int = 1000, timeout: float = 60):
        binary = browser()
        if binary is None:
            raise RlvrError("no Chromium on PATH (Debian: apt-get install -y chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="rlvr-chromium-")
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
        argv = [binary, *flags, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"]
        self.pid = spawn(argv, {3: commands_in, 4: replies_out})
        os.close(commands_in)
        os.close(replies_out)
        self._buffer, self._next_id, self.session, self._closed = b"", 0, None, False
        try:
            page = next(t for t in self.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
            self.session = self.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})[
                "sessionId"
            ]
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send one DevTools command (to the page once attached) and return its result; events are skipped."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RlvrError(f"Chromium: {method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise RlvrError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RlvrError("Chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def open(self, url: str) -> None:
        """Navigate the page to `url` (returns once the navigation starts; its scripts run on)."""
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RlvrError(f"Chromium: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def resize(self, width: int, height: int) -> None:
        """Make the viewport `width` x `height` CSS pixels (at 1 device pixel each)."""
        self.size = (width, height)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def screenshot(self, path: Path) -> None:
        """A PNG of the viewport."""
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """End the browser (politely, then by its process id) and delete its profile; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._commands, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        except OSError:  # it has gone already
            pass
        if not exited(self.pid, within=10):
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._commands)
        os.close(self._replies)
        shutil.rmtree(self.profile, ignore_errors=True)
