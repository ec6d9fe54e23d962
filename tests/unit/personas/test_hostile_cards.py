"""Hostile Character Cards (JSON and PNG): a one-line `CardError`, in bounded time and memory."""

from __future__ import annotations

import base64
import json
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from companion.cli.personas import app
from companion.personas.card_files import (
    MAX_CARD_DEPTH,
    PNG_SIGNATURE,
    CardError,
    png_image,
    read_card_bytes,
)
from companion.personas.cards import persona_from_card

MEMORY_LIMIT_BYTES = 48 * 1024 * 1024  # the 16 MB cap on inflating, copied once


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png(*chunks: bytes, size: tuple[int, int] = (1, 1)) -> bytes:
    header = struct.pack(">IIBBBBB", size[0], size[1], 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + b"".join(chunks) + _chunk(b"IEND", b"")


def _deep_card(depth: int) -> bytes:
    return ('{"spec": "chara_card_v2", "data": {"name": "Deep", "extensions": {"x": ' + "[" * depth
            + "]" * depth + "}}}").encode()  # fmt: skip


@pytest.mark.parametrize("depth", [MAX_CARD_DEPTH + 1, 5_000, 200_000])
def test_deeply_nested_json_is_a_card_error(depth: int) -> None:
    started = time.monotonic()
    with pytest.raises(CardError, match="nested too deeply at line 1"):
        read_card_bytes(_deep_card(depth), name="deep.json")
    assert time.monotonic() - started < 3


def test_nesting_within_the_limit_imports() -> None:
    card = read_card_bytes(_deep_card(MAX_CARD_DEPTH - 4))
    assert persona_from_card(card).name.get("en") == "Deep"


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"spec": "chara_card_v2", "data": {"name": "[" * 10_000 + '\\"{'}})
    assert read_card_bytes(text.encode())["data"]["name"].startswith("[[[")


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_compressed_text_chunk_bomb_is_refused_without_inflating_it(kind: bytes) -> None:
    payload = zlib.compress(b"A" * (128 * 1024 * 1024), 9)  # ~130 KB that inflates to 128 MB
    body = b"chara\x00\x00" + payload if kind == b"zTXt" else b"chara\x00\x01\x00\x00\x00" + payload
    raw = _png(_chunk(kind, body))
    tracemalloc.start()
    try:
        with pytest.raises(CardError, match="inflates to over"):
            read_card_bytes(raw, name="bomb.png")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT_BYTES, f"{peak / 1e6:.0f} MB"


def test_compressed_card_chunk_within_the_limit_is_read() -> None:
    card = {"spec": "chara_card_v2", "data": {"name": "Zed", "first_mes": "Hi"}}
    encoded = base64.b64encode(json.dumps(card).encode())
    raw = _png(_chunk(b"zTXt", b"chara\x00\x00" + zlib.compress(encoded)))
    assert read_card_bytes(raw)["data"]["name"] == "Zed"


def test_huge_portrait_is_refused_before_it_is_decoded() -> None:
    raw = _png(_chunk(b"IDAT", zlib.compress(b"\x00" * 64)), size=(8000, 8000))
    with pytest.raises(CardError, match="too large"):
        png_image(raw)


def test_cli_import_of_a_hostile_card_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(_deep_card(100_000))
    result = CliRunner().invoke(app, ["import", str(deep), "--out", str(tmp_path / "lib")])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: deep.json: JSON nested too deeply at line 1 (over {MAX_CARD_DEPTH})"
    )
    assert not (tmp_path / "lib").exists()
