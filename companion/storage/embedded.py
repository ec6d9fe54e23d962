"""The embedded MongoDB-wire server (SecantusDB) for running without any accounts or services.

When no MongoDB URI is configured, the composition root starts `secantusd-py` as a child
process on a free loopback port with its data on disk, waits until it answers `ping`, and
stops it cleanly on shutdown. Code talks to it only through the MongoDB driver.

`supervise()` watches the child and starts it again, on the same port and data directory,
whenever it exits without being asked to (a crash, the OOM killer), with backoff while starts
fail; the driver reconnects by itself once it answers.
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
from typing import IO, Any

from pymongo import MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


# The size of one WiredTiger journal (redo log) file. A journal file keeps the records of every
# write until it is full and a checkpoint has passed; `roll_journal` fills the current one so
# that an erasure's deleted documents leave the disk. SecantusDB's own default (10 MB) would
# make that 10 MB of filler per erasure; 1 MB still fits any document we store many times over.
JOURNAL_FILE_MAX_BYTES = 1024 * 1024


def _server_environment() -> dict[str, str]:
    """The server's environment: ours, plus WiredTiger settings SecantusDB has no flag for.

    WiredTiger applies `WIREDTIGER_CONFIG` after the configuration the server passes.
    """
    env = dict(os.environ)
    env["WIREDTIGER_CONFIG"] = f"log=(file_max={JOURNAL_FILE_MAX_BYTES // 1024}KB)"
    return env


async def roll_journal(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Make the embedded server drop the journal files written so far.

    Writes a little more than one journal file of filler into a scratch collection (so the
    server moves on to a new file), drops it, and asks for a checkpoint (`fsync`): WiredTiger
    then removes every journal file before the checkpoint. Called after an erasure; costs
    ~30 ms. Deleted documents are gone from the data files at the same checkpoint, although
    WiredTiger may leave old page images in free blocks until reused (see docs/privacy.md).
    """
    scratch = db[_SCRATCH]
    chunk = "0" * (64 * 1024)
    for _ in range(JOURNAL_FILE_MAX_BYTES // len(chunk) + 2):
        await scratch.insert_one({"filler": chunk})
    await scratch.drop()
    await db.client.admin.command("fsync")


_SCRATCH = "journal_roll"


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


def _process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    stat_file = Path(f"/proc/{pid}/stat")
    with contextlib.suppress(OSError, IndexError):
        state = stat_file.read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


def _is_server_for(pid: int, data_dir: Path) -> bool:
    """Whether `pid` is a running secantusd serving `data_dir` (Linux only; else never)."""
    if not _process_alive(pid):
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False  # no /proc: never signal a process we cannot identify
    command = [argument.decode(errors="replace") for argument in arguments]
    return any("secantusd" in part for part in command[:2]) and str(data_dir) in command


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
        # Set by start(), cleared by stop(): whether the server should be running now.
        self._wanted = False
        self.restarts = 0

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("the embedded server is not started")
        # Retryable writes make SecantusDB's inserts slow down sharply after ~10k writes.
        return f"mongodb://{self.host}:{self.port}/?directConnection=true&retryWrites=false"

    @property
    def pid(self) -> int | None:
        """The server process's pid while it runs (for monitoring its CPU and memory)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid_file(self) -> Path:
        """`<data_dir>.pid`: the server's pid and the pid of the process that started it."""
        return self.data_dir.with_name(f"{self.data_dir.name}.pid")

    def start(self) -> str:
        self._wanted = True
        if self.running:
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
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
            str(self.data_dir.resolve()),
            # No replica-set advertisement, hence no oplog: nothing here uses change streams or
            # transactions, and an oplog is one more file keeping every write (an erased
            # user's included) for its retention period.
            "--standalone",
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
            env=_server_environment(),
        )
        self.pid_file.write_text(f"{self._process.pid} {os.getpid()}\n")
        self._wait_ready(log_path)
        return self.uri

    async def supervise(
        self, *, check_s: float = 0.5, backoff_s: float = 0.5, max_backoff_s: float = 30.0
    ) -> None:
        """Run until cancelled: start the server again whenever it died on its own."""
        failures = 0
        while True:
            await asyncio.sleep(check_s)
            if not self._wanted or self.running:
                continue
            process = self._process
            code = process.returncode if process is not None else None
            log.error("the embedded database exited (code %s); starting it again", code)
            self._process = None
            self._close_log()
            try:
                await asyncio.to_thread(self.start)
            except (EmbeddedServerError, OSError) as exc:
                failures += 1
                delay = min(max_backoff_s, backoff_s * 2 ** (failures - 1))
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.error(
                    "could not restart the embedded database (%s); next try in %.1f s",
                    reason,
                    delay,
                )
                self._wanted = True  # a failed start stopped it; it is still wanted
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.restarts += 1
            log.warning("the embedded database is back on port %s", self.port)

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

    def _stop_orphan(self, timeout_s: float = 15.0) -> None:
        """Stop a server left running by a process that died without stopping it (kill -9).

        It still holds the data directory's lock, so nothing could start until someone killed
        it by hand. A server whose owner is alive is left alone: that is another live process
        using the same data, and the start then fails with a clear "in use" error.
        """
        try:
            server_pid, owner_pid = (int(part) for part in self.pid_file.read_text().split())
        except (FileNotFoundError, ValueError):
            return
        if not _is_server_for(server_pid, self.data_dir.resolve()):
            self.pid_file.unlink(missing_ok=True)  # stale: the server is gone
            return
        if _process_alive(owner_pid):
            return
        log.warning(
            "stopping the embedded database (pid %s) left running by a process that exited",
            server_pid,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(server_pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _process_alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _process_alive(server_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(server_pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)

    def stop(self, timeout_s: float = 15.0) -> None:
        self._wanted = False
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
        if process is not None:
            self.pid_file.unlink(missing_ok=True)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def astart(self) -> str:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)
