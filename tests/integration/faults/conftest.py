from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.faults.processes import PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis of this test's own, which it may kill, stall and restart."""
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()
