"""A real ``promptlyd`` process for tests: temporary XDG folders, a short socket path.

Start it, poll ``/health`` until it answers (bounded), talk to it over its
socket with httpx, then SIGTERM (and SIGKILL if it does not go).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

START_TIMEOUT = 20.0
T = TypeVar("T")


def wait_for(fn: Callable[[], T | None], timeout: float, what: str = "") -> T:
    """Poll ``fn`` every 10 ms until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.01)


def _accepts(path: Path) -> bool:
    """Whether something listens on the Unix socket (a raw probe that closes cleanly)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


class DaemonProcess:
    def __init__(self, env: dict[str, str], socket_path: Path, log_path: Path) -> None:
        self.env = env
        self.socket_path = socket_path
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start a daemon process without waiting for it (for failure-path tests)."""
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptlyd.daemon", *args],
            env=self.env, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
        )
        return self.proc

    def start(self, *args: str) -> DaemonProcess:
        self.spawn(*args)
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(f"promptlyd exited with {code} during start:\n{self.log()}")
            if self.socket_path.exists() and _accepts(self.socket_path):
                try:
                    with self.client(timeout=2.0) as c:
                        if c.get("/api/promptly/health").status_code == 200:
                            return self
                except httpx.TransportError:
                    pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"promptlyd did not answer within {START_TIMEOUT}s:\n"
                                   f"{self.log()}")
            time.sleep(0.02)

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=str(self.socket_path)),
            base_url="http://localhost",
            timeout=timeout,
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, wait; SIGKILL if it does not exit. Returns the exit code."""
        if self.proc is None:
            self._close_log()
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the daemon can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        self._close_log()


def isolated_daemon(config: str | None = None) -> tuple[DaemonProcess, Callable[[], None]]:
    """A daemon (not started) in fresh temporary HOME/XDG folders, for code outside the
    per-test fixtures (benchmarks, module-scoped fixtures). Returns it and a clean-up."""
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="promptly-home-"))
    runtime = Path(tempfile.mkdtemp(prefix="pr-", dir="/tmp"))  # short: AF_UNIX limit
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMPTLY_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "c"), XDG_DATA_HOME=str(home / "d"),
               XDG_RUNTIME_DIR=str(runtime))
    if config is not None:
        (home / "c" / "promptly").mkdir(parents=True)
        (home / "c" / "promptly" / "config.toml").write_text(config)
    daemon = DaemonProcess(env, runtime / "promptly" / "promptlyd.sock", home / "daemon.log")

    def cleanup() -> None:
        daemon.stop()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)

    return daemon, cleanup
