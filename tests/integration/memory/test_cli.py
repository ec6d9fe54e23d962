from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient
from rich.console import Console
from typer.testing import CliRunner

from companion.cli import memory as memory_cli
from companion.cli.memory import app
from companion.memory.embedder import SentenceTransformerEmbedder
from companion.memory.episode_store import EpisodeStore
from companion.memory.facts import Fact, FactCategory
from companion.memory.store import FactStore
from companion.storage.crypto import PlaintextCipher


async def _seed(uri: str, database: str, model: str | None = None) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri, tz_aware=True)
    embedder = SentenceTransformerEmbedder("packaged-minilm")
    try:
        store = FactStore(client[database], PlaintextCipher(), embedding_model=model)
        texts = ["The user works as a florist", "The user's son Mark plays hockey"]
        vectors = await embedder.embed_passages(texts)
        for text, vector in zip(texts, vectors, strict=True):
            await store.insert(
                Fact(
                    id=uuid.uuid4().hex,
                    user_id=5,
                    text=text,
                    category=FactCategory.WORK,
                    created_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                ),
                vector,
            )
        assert await EpisodeStore(client[database], PlaintextCipher()).count(5) == 0
    finally:
        embedder.close()
        await client.close()


async def _count(uri: str, database: str) -> int:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        return await client[database]["memories"].count_documents({"user_id": 5})
    finally:
        await client.drop_database(database)
        await client.close()


@pytest.fixture
def cli_env(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    database = f"t_cli_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("COMPANION_MONGO__URI", mongo_uri)
    monkeypatch.setenv("COMPANION_MONGO__DATABASE", database)
    monkeypatch.setenv("COMPANION_PRIVACY__ENCRYPT_AT_REST", "false")
    monkeypatch.setenv("COMPANION_ENVIRONMENT", "test")
    # Wide enough that the tables do not wrap the fact texts.
    monkeypatch.setattr(memory_cli, "stdout", Console(width=200, highlight=False))
    return database


def test_list_search_and_forget(mongo_uri: str, cli_env: str) -> None:
    asyncio.run(_seed(mongo_uri, cli_env))
    runner = CliRunner()

    listed = runner.invoke(app, ["list", "--user", "5"])
    assert listed.exit_code == 0, listed.output
    assert "The user works as a florist" in listed.output and "hockey" in listed.output

    found = runner.invoke(app, ["search", "--user", "5", "ice sports", "-k", "2"])
    assert found.exit_code == 0, found.output
    assert found.output.index("hockey") < found.output.index("florist")

    refused = runner.invoke(app, ["forget", "--user", "5"], input="n\n")
    assert refused.exit_code != 0
    forgotten = runner.invoke(app, ["forget", "--user", "5", "--yes"])
    assert forgotten.exit_code == 0 and "2 facts" in forgotten.output
    empty = runner.invoke(app, ["list", "--user", "5"])
    assert "no facts are stored for user 5" in empty.output
    assert asyncio.run(_count(mongo_uri, cli_env)) == 0


def test_reembed_after_a_model_change(mongo_uri: str, cli_env: str) -> None:
    # Facts embedded by a model that is no longer configured.
    asyncio.run(_seed(mongo_uri, cli_env, model="retired-model"))
    runner = CliRunner()

    before = runner.invoke(app, ["search", "--user", "5", "ice sports"])
    assert before.exit_code == 0, before.output
    assert "nothing found" in before.output  # old vectors are left out, not mixed in

    done = runner.invoke(app, ["reembed", "--batch-size", "1"])
    assert done.exit_code == 0, done.output
    assert "2 memories to re-embed" in done.output
    assert "re-embedded 2 memories, 0 episodes" in done.output

    found = runner.invoke(app, ["search", "--user", "5", "ice sports", "-k", "2"])
    assert found.exit_code == 0, found.output
    assert found.output.index("hockey") < found.output.index("florist")

    again = runner.invoke(app, ["reembed"])
    assert again.exit_code == 0 and "re-embedded 0 memories, 0 episodes" in again.output
    asyncio.run(_count(mongo_uri, cli_env))  # drops the database
