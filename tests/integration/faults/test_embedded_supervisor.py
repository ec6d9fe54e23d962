"""The embedded database is restarted when it dies (issue 13, item 6)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from companion.config import Environment, Settings
from companion.storage.database import open_database


async def test_a_killed_embedded_server_is_started_again_with_its_data(tmp_path: Path) -> None:
    settings = Settings(
        environment=Environment.TEST,
        mongo={"uri": None, "embedded_data_dir": tmp_path / "db", "database": "sup"},
    )
    database = await open_database(settings)
    try:
        assert database.embedded is not None
        await database.db["things"].insert_one({"_id": 1, "kept": True})
        first_pid, port = database.embedded.pid, database.embedded.port
        assert first_pid is not None
        os.killpg(first_pid, signal.SIGKILL)
        killed = time.monotonic()

        deadline = killed + 30
        while not await database.ping(timeout_s=1.0):
            assert time.monotonic() < deadline, "the embedded database did not come back"
            await asyncio.sleep(0.2)
        back_after = time.monotonic() - killed

        assert database.embedded.pid not in (None, first_pid)
        assert database.embedded.port == port  # same URI: the driver reconnects by itself
        assert await database.db["things"].find_one({"_id": 1}) == {"_id": 1, "kept": True}
        assert back_after < 10
    finally:
        await database.aclose()
    assert not database.embedded.running
