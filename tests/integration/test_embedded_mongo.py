from __future__ import annotations

from pathlib import Path

from pymongo import MongoClient

from companion.storage.embedded import EmbeddedMongoServer


def test_embedded_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    server = EmbeddedMongoServer(data_dir)
    client: MongoClient[dict[str, object]] = MongoClient(server.start())
    client.app.notes.insert_one({"_id": 1, "text": "kept"})
    client.close()
    server.stop()
    assert not server.running

    again = EmbeddedMongoServer(data_dir)
    client = MongoClient(again.start())
    try:
        assert client.app.notes.find_one({"_id": 1}) == {"_id": 1, "text": "kept"}
    finally:
        client.close()
        again.stop()
