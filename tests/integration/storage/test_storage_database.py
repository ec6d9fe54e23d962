from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from pymongo import MongoClient
from typer.testing import CliRunner

from companion.cli.db import app as db_app
from companion.config import Settings, load_settings
from companion.domain.models import MessageRole, User
from companion.storage import collections as c
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import load_cipher
from companion.storage.database import DatabaseUnavailableError, open_database
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.embedded import _process_alive as process_alive
from companion.storage.messages import MessageRepository
from companion.storage.redis import RedisUnavailableError, create_redis
from companion.storage.users import UserRepository
from tests.conftest import REDIS_URL


def _embedded_settings(tmp_path: Path) -> Settings:
    return load_settings(
        mongo={"embedded_data_dir": tmp_path / "db", "database": "companion"},
        privacy={"key_file": tmp_path / "secret.key"},
    )


async def test_embedded_data_survives_a_restart(tmp_path: Path) -> None:
    settings = _embedded_settings(tmp_path)
    cipher = load_cipher(settings.privacy, settings.environment)

    database = await open_database(settings)
    try:
        assert database.is_embedded
        assert database.embedded is not None and database.embedded.sync_on_commit
        db = database.db
        await UserRepository(db).upsert(User(id=5, first_name="Mia", language="en"))
        conv = await ConversationRepository(db, cipher).start(5, "kylie")
        messages = MessageRepository(db, cipher)
        await messages.append(conv, MessageRole.USER, "remember the blue umbrella")
        await messages.append(conv, MessageRole.ASSISTANT, "I will")
        embedded = database.embedded
        assert await database.ping() is True
    finally:
        await database.aclose()
    assert not embedded.running
    assert await database.ping(timeout_s=1) is False

    # A new process: the key comes from the key file, the data from disk.
    again = await open_database(settings)
    try:
        db = again.db
        cipher_again = load_cipher(settings.privacy, settings.environment)
        user = await UserRepository(db).get(5)
        assert user is not None and user.first_name == "Mia"
        active = await ConversationRepository(db, cipher_again).get_active(5, "kylie")
        assert active is not None and active.id == conv.id
        recent = await MessageRepository(db, cipher_again).recent(conv.id, 10)
        assert [(m.seq, m.text) for m in recent] == [
            (1, "remember the blue umbrella"),
            (2, "I will"),
        ]
        # The counter survived too: the next message continues the sequence.
        nxt = await MessageRepository(db, cipher_again).append(active, MessageRole.USER, "hi")
        assert nxt.seq == 3
        indexes = {index["name"] async for index in await db[c.MESSAGES].list_indexes()}
        assert "conversation_seq" in indexes
    finally:
        await again.aclose()


async def test_a_second_process_on_the_same_data_gets_a_clear_error(tmp_path: Path) -> None:
    settings = _embedded_settings(tmp_path)
    first = await open_database(settings)
    try:
        with pytest.raises(DatabaseUnavailableError, match="in use by another process"):
            await open_database(settings)
        # The first one still works.
        assert (await first.db.command("ping"))["ok"] == 1
    finally:
        await first.aclose()


async def test_unreachable_database_fails_fast_with_one_line() -> None:
    settings = load_settings(
        mongo={
            "uri": SecretStr("mongodb://app:hunter2@127.0.0.1:9/companion"),
            "server_selection_timeout_ms": 1000,
        }
    )
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailableError) as info:
        await open_database(settings)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "\n" not in message
    assert "127.0.0.1:9" in message
    assert "hunter2" not in message
    assert "app:***@" in message


async def test_invalid_uri_is_reported() -> None:
    settings = load_settings(mongo={"uri": SecretStr("http://not-mongo")})
    with pytest.raises(DatabaseUnavailableError, match="invalid MongoDB URI"):
        await open_database(settings)


async def test_external_uri_connects_and_creates_indexes(mongo_uri: str) -> None:
    name = f"t_{uuid.uuid4().hex[:12]}"
    settings = load_settings(mongo={"uri": SecretStr(mongo_uri), "database": name})
    database = await open_database(settings)
    try:
        assert not database.is_embedded
        assert database.db.name == name
        names = {index["name"] async for index in await database.db[c.PAYMENTS].list_indexes()}
        assert "provider_payment_unique" in names
    finally:
        await database.client.drop_database(name)
        await database.aclose()


async def test_redis_connects_and_reports_unreachable() -> None:
    settings = load_settings(redis={"url": SecretStr(REDIS_URL)})
    client = await create_redis(settings.redis)
    try:
        key = f"test:{uuid.uuid4().hex}"
        await client.set(key, b"1", ex=10)
        assert await client.get(key) == b"1"
        await client.delete(key)
    finally:
        await client.aclose()

    down = load_settings(redis={"url": SecretStr("redis://:pw@127.0.0.1:9/0")})
    started = time.monotonic()
    with pytest.raises(RedisUnavailableError) as info:
        await create_redis(down.redis, connect_timeout_s=1)
    assert time.monotonic() - started < 5
    assert "127.0.0.1:9" in str(info.value) and "pw" not in str(info.value)
    assert isinstance(client, aioredis.Redis)


def test_db_info_cli(mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env, nothing written into the repository
    name = f"t_{uuid.uuid4().hex[:12]}"
    runner = CliRunner()
    result = runner.invoke(
        db_app,
        ["info"],
        env={"COMPANION_MONGO__URI": mongo_uri, "COMPANION_MONGO__DATABASE": name},
    )
    with MongoClient[dict[str, object]](mongo_uri) as client:
        client.drop_database(name)
    assert result.exit_code == 0, result.output
    assert "external MongoDB" in result.output
    assert "SecantusDB 0.7" in result.output
    assert "provider_payment_unique" in result.output
    assert "messages" in result.output

    failed = runner.invoke(
        db_app,
        ["info"],
        env={
            "COMPANION_MONGO__URI": "mongodb://ops:topsecret@127.0.0.1:9/",
            "COMPANION_MONGO__SERVER_SELECTION_TIMEOUT_MS": "500",
        },
    )
    assert failed.exit_code == 1
    assert "cannot reach MongoDB" in failed.output
    assert "topsecret" not in failed.output
    assert "Traceback" not in failed.output


async def test_export_and_erase_user_cli(
    mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_prefix: str
) -> None:
    monkeypatch.chdir(tmp_path)
    name = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        "COMPANION_MONGO__URI": mongo_uri,
        "COMPANION_MONGO__DATABASE": name,
        "COMPANION_PRIVACY__KEY_FILE": str(tmp_path / "secret.key"),
        # erase-user clears the person's Redis keys too: the test's own prefix, never the
        # shared server's default database.
        "COMPANION_REDIS__URL": REDIS_URL,
        "COMPANION_REDIS__KEY_PREFIX": redis_prefix,
        "COMPANION_MEMORY__ENABLED": "false",
    }
    settings = load_settings(
        mongo={"uri": SecretStr(mongo_uri), "database": name},
        privacy={"key_file": tmp_path / "secret.key"},
    )
    cipher = load_cipher(settings.privacy, settings.environment)
    database = await open_database(settings)
    try:
        await UserRepository(database.db).upsert(User(id=77, first_name="Zoe"))
        conv = await ConversationRepository(database.db, cipher).start(77, "kylie")
        await MessageRepository(database.db, cipher).append(conv, MessageRole.USER, "hello Kylie")

        runner = CliRunner()
        # typer's runner is synchronous; run it off the loop that owns `database`.
        exported = await asyncio.to_thread(
            runner.invoke, db_app, ["export-user", "--user", "77", "-o", "out.json"], env=env
        )
        assert exported.exit_code == 0, exported.output
        data = json.loads((tmp_path / "out.json").read_text())
        assert data["profile"]["first_name"] == "Zoe"
        assert data["conversations"][0]["messages"][0]["text"] == "hello Kylie"

        refused = await asyncio.to_thread(
            runner.invoke, db_app, ["erase-user", "--user", "77"], env=env, input="n\n"
        )
        assert refused.exit_code != 0
        assert await database.db[c.USERS].count_documents({"_id": 77}) == 1

        redis = aioredis.from_url(REDIS_URL)
        await redis.set(f"{redis_prefix}:bot:user:77", "cached profile")
        await redis.set(f"{redis_prefix}:fsm:77:77:state", "BillingStates:receipt")
        await redis.set(f"{redis_prefix}:bot:user:770", "someone else")
        erased = await asyncio.to_thread(
            runner.invoke, db_app, ["erase-user", "--user", "77", "--yes"], env=env
        )
        assert erased.exit_code == 0, erased.output
        assert "messages 1" in erased.output
        for collection, field in c.USER_DATA_FIELDS.items():
            assert await database.db[collection].count_documents({field: 77}) == 0
        # The same erasure as /forget: the person's cached state is gone, nobody else's.
        assert await redis.exists(f"{redis_prefix}:bot:user:77") == 0
        assert await redis.exists(f"{redis_prefix}:fsm:77:77:state") == 0
        assert await redis.get(f"{redis_prefix}:bot:user:770") == b"someone else"
        await redis.delete(f"{redis_prefix}:bot:user:770")
        await redis.aclose()
    finally:
        await database.client.drop_database(name)
        await database.aclose()


def test_a_server_left_by_a_killed_process_is_stopped_and_data_kept(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    owner_script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from pymongo import MongoClient\n"
        "from companion.storage.embedded import EmbeddedMongoServer\n"
        "server = EmbeddedMongoServer(Path(sys.argv[1]))\n"
        "client = MongoClient(server.start())\n"
        "client.app.notes.insert_one({'_id': 1, 'text': 'before the crash'})\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "ready"
        orphan_pid = int((tmp_path / "db.pid").read_text().split()[0])
        owner.kill()  # kill -9: no chance to stop its server
        owner.wait(timeout=10)
        os.kill(orphan_pid, 0)  # the server outlived its owner and holds the data lock

        server = EmbeddedMongoServer(data_dir)
        client: MongoClient[dict[str, object]] = MongoClient(server.start())
        try:
            assert client.app.notes.find_one({"_id": 1}) == {"_id": 1, "text": "before the crash"}
        finally:
            client.close()
            server.stop()
        assert not process_alive(orphan_pid)
        assert not (tmp_path / "db.pid").exists()
    finally:
        if owner.poll() is None:
            owner.kill()


def test_reencrypt_cli(mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = f"t_{uuid.uuid4().hex[:12]}"
    env = {
        "COMPANION_MONGO__URI": mongo_uri,
        "COMPANION_MONGO__DATABASE": name,
        "COMPANION_PRIVACY__KEY_FILE": str(tmp_path / "secret.key"),
    }
    runner = CliRunner()
    try:
        done = runner.invoke(db_app, ["reencrypt", "--encrypt-plaintext"], env=env)
        assert done.exit_code == 0, done.output
        assert "messages 0" in done.output
        off = runner.invoke(
            db_app, ["reencrypt"], env={**env, "COMPANION_PRIVACY__ENCRYPT_AT_REST": "false"}
        )
        assert off.exit_code == 1
        assert "encryption at rest is off" in off.output
    finally:
        with MongoClient[dict[str, object]](mongo_uri) as client:
            client.drop_database(name)
