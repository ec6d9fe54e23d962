"""Private servers a fault-injection test may kill, stall and restart.

Never the shared Redis on 6379 nor the session's SecantusDB: each helper starts its own process
on a free port, and only that process is signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from companion.storage.embedded import EmbeddedMongoServer, free_port


class PrivateRedis:
    """A `redis-server` on a free port with no persistence (a restart empties it, as a crash of
    a cache-only Redis would)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 10.0) -> None:
        self._process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                out = subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"],
                    capture_output=True,
                    timeout=2,
                    check=False,
                )
                if out.stdout.strip() == b"PONG":
                    return
            time.sleep(0.05)
        raise RuntimeError(f"private redis on port {self.port} did not start")

    def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)  # a stopped process cannot die otherwise
                process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stall(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)

    def stop(self) -> None:
        self.kill()


class PrivateMongo:
    """A `secantusd-py` of the test's own, as an external MongoDB URI would be."""

    def __init__(self, data_dir: Path) -> None:
        self._server = EmbeddedMongoServer(data_dir, port=free_port(), sync_on_commit=True)

    @property
    def uri(self) -> str:
        return self._server.uri

    @property
    def pid(self) -> int | None:
        return self._server.pid

    def start(self) -> None:
        self._server.start()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would."""
        pid = self._server.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self._server.stop()

    def stop(self) -> None:
        self._server.stop()


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
