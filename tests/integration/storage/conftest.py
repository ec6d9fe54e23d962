from __future__ import annotations

import os
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from companion.storage.crypto import AesGcmCipher
from companion.storage.indexes import ensure_indexes


@pytest.fixture
def cipher() -> AesGcmCipher:
    return AesGcmCipher(os.urandom(32))


@pytest.fixture
async def db(mongo_db: AsyncDatabase[Any]) -> AsyncDatabase[Any]:
    """A fresh database with the production indexes."""
    await ensure_indexes(mongo_db)
    return mongo_db
