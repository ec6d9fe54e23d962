"""The embedded MongoDB-wire server (SecantusDB) for running without any accounts or services.

When no MongoDB URI is configured, the composition root starts `secantusd-py` as a child
process on a free loopback port with its data on disk, waits until it answers `ping`, and
stops it cleanly on shutdown. Code talks to it only through the MongoDB driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _server_executable() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedServerError(
            "secantusd-py was not found: install the 'secantusdb' package "
            "or set COMPANION_MONGO__URI to a MongoDB server"
        )
    return found


class EmbeddedMongoServer:
    """A SecantusDB child process with its data under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        start_timeout_s: float = 30.0,
        sync_on_commit: bool = False,
    ) -> None:
        self.data_dir = data_dir
        # Fsync the log on every commit: a power loss then loses no acknowledged write. Measured
        # here: ~0.2 ms more per insert (0.7 -> 0.9 ms), nothing next to an LLM reply.
        self.sync_on_commit = sync_on_commit
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("the embedded server is not started")
        # Retryable writes make SecantusDB's inserts slow down sharply after ~10k writes.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true&retryWrites=false"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        if self.running:
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        log_path = self.data_dir.parent / "secantusd.log"
        self._log_file = log_path.open("ab")
        command = [
            _server_executable(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            str(self.data_dir),
        ]
        if self.sync_on_commit:
            command.append("--sync-on-commit")
        log.info("starting embedded MongoDB-wire server on %s:%s", self.host, self.port)
        self._process = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill it mid-write
        )
        self._wait_ready(log_path)
        return self.uri

    def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    self._close_log()
                    raise EmbeddedServerError(
                        f"the embedded database exited with code {self._process.returncode}; "
                        f"log {log_path}:\n{tail}"
                    )
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise EmbeddedServerError(
            f"the embedded database did not answer ping within {self.start_timeout_s:.0f} s "
            f"(log: {log_path})"
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # SIGTERM lets WiredTiger checkpoint and close its files.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("embedded database did not stop in %.0f s; killing it", timeout_s)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
