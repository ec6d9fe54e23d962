"""Character Card containers: the card JSON as a file or inside a PNG's text chunks.

V2 travels in a ``chara`` tEXt chunk, V3 in ``ccv3``, each the base64 of the UTF-8 JSON. Reading
is bounded (file size, inflated chunk text, JSON depth, picture pixels): a hostile file is a
`CardError`, not a hung or exhausted process.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, PngImagePlugin

SPEC_V2 = "chara_card_v2"
SPEC_V3 = "chara_card_v3"
MAX_CARD_BYTES = 20 * 1024 * 1024
# A text chunk may be zlib-compressed (zTXt, compressed iTXt): a few kilobytes can inflate to
# gigabytes, so inflating stops here. Real cards are well under a megabyte of JSON.
MAX_CHUNK_TEXT_BYTES = 16 * 1024 * 1024
# JSON nesting; real cards nest five or six levels. An imported card's extra fields are kept
# a few levels deeper in the persona YAML, whose own limit is `loader.MAX_DEPTH` (64).
MAX_CARD_DEPTH = 48
# The card's picture becomes the persona's portrait; Pillow alone refuses only beyond ~179 Mpx.
MAX_PORTRAIT_PIXELS = 40_000_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CardError(ValueError):
    """A file that is not a usable character card; the message says why, in one line."""


# --- containers: JSON and PNG --------------------------------------------------------------------


def read_card_file(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise CardError(f"{path.name}: {size} bytes is too large for a card")
        raw = path.read_bytes()
    except OSError as exc:
        raise CardError(f"{path.name}: cannot read ({exc.strerror or exc})") from exc
    return read_card_bytes(raw, name=path.name)


def read_card_bytes(raw: bytes, *, name: str = "card") -> dict[str, Any]:
    """The card JSON object from a JSON file or a PNG with a ``ccv3`` or ``chara`` chunk."""
    if raw.startswith(PNG_SIGNATURE):
        chunks = png_text_chunks(raw)
        encoded = chunks.get("ccv3") or chunks.get("chara")
        if encoded is None:
            raise CardError(f"{name}: PNG has no character card (no 'ccv3' or 'chara' chunk)")
        try:
            text = base64.b64decode(encoded, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise CardError(f"{name}: card chunk is not base64 of UTF-8 JSON") from exc
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CardError(f"{name}: neither a PNG nor UTF-8 JSON") from exc
    depth, line = _json_depth(text)
    if depth > MAX_CARD_DEPTH:
        raise CardError(f"{name}: JSON nested too deeply at line {line} (over {MAX_CARD_DEPTH})")
    try:
        card = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{name}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:  # cannot happen below MAX_CARD_DEPTH; kept as a guard
        raise CardError(f"{name}: JSON nested too deeply") from exc
    if not isinstance(card, dict):
        raise CardError(f"{name}: a card must be a JSON object")
    return card


_JSON_TOKENS = re.compile(r'["\\\[\]{}\n]')


def _json_depth(text: str) -> tuple[int, int]:
    """The deepest nesting of brackets outside strings, and the line where it first got too
    deep; one pass over the few characters that matter, no recursion (``json.loads`` recurses
    per level)."""
    depth = deepest = 0
    line = 1
    in_string = False
    escaped_at = -1  # the position a backslash in a string escapes
    for match in _JSON_TOKENS.finditer(text):
        char, position = match.group(), match.start()
        if char == "\n":
            line += 1
        elif in_string:
            if position == escaped_at:
                continue
            if char == "\\":
                escaped_at = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > MAX_CARD_DEPTH:
                    return deepest, line
        elif char in "]}":
            depth -= 1
    return deepest, line


def png_text_chunks(raw: bytes) -> dict[str, str]:
    """Text chunks (tEXt, zTXt, iTXt) of a PNG by keyword; the first of each keyword wins."""
    if not raw.startswith(PNG_SIGNATURE):
        raise CardError("not a PNG file")
    chunks: dict[str, str] = {}
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(raw):
        (length,) = struct.unpack(">I", raw[offset : offset + 4])
        kind = raw[offset + 4 : offset + 8]
        body = raw[offset + 8 : offset + 8 + length]
        if len(body) < length:
            raise CardError("truncated PNG")
        offset += 12 + length
        if kind == b"IEND":
            break
        try:
            keyword, text = _text_chunk(kind, body)
        except CardError:
            raise  # an inflation bomb is refused, not skipped as if it were merely damaged
        except (ValueError, zlib.error):
            continue  # a damaged chunk we do not need; the image itself may still be fine
        if keyword is not None:
            chunks.setdefault(keyword, text)
    return chunks


def _text_chunk(kind: bytes, body: bytes) -> tuple[str | None, str]:
    if kind == b"tEXt":
        keyword, _, text = body.partition(b"\0")
        return keyword.decode("latin-1"), text.decode("latin-1")
    if kind == b"zTXt":
        keyword, _, rest = body.partition(b"\0")
        return keyword.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
    if kind == b"iTXt":
        keyword, _, rest = body.partition(b"\0")
        compressed, rest = rest[0], rest[2:]
        _language, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed:
            text = _inflate(text)
        return keyword.decode("latin-1"), text.decode("utf-8")
    return None, ""


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, MAX_CHUNK_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise CardError(f"a compressed text chunk inflates to over {MAX_CHUNK_TEXT_BYTES} bytes")
    return text


def card_to_json(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False, indent=2) + "\n"


def card_to_png(
    card: dict[str, Any],
    image: Image.Image | None = None,
    *,
    v2_backfill: dict[str, Any] | None = None,
) -> bytes:
    """A PNG of ``image`` (a plain placeholder when None) carrying the card in its text chunks."""
    picture = (
        image if image is not None else placeholder_portrait(str(card_data(card).get("name", "")))
    )
    if picture.mode not in {"RGB", "RGBA"}:
        picture = picture.convert("RGBA" if "A" in picture.getbands() else "RGB")
    info = PngImagePlugin.PngInfo()
    if card.get("spec") == SPEC_V3:
        info.add_text("ccv3", _b64_json(card))
        if v2_backfill is not None:
            info.add_text("chara", _b64_json(v2_backfill))
    else:
        info.add_text("chara", _b64_json(card))
    out = io.BytesIO()
    picture.save(out, format="PNG", pnginfo=info, optimize=True)
    return out.getvalue()


def png_image(raw: bytes) -> Image.Image:
    """The picture of a PNG card without its metadata (to keep as the persona's portrait)."""
    with Image.open(io.BytesIO(raw)) as source:
        width, height = source.size
        if width * height > MAX_PORTRAIT_PIXELS:
            raise CardError(f"the card's picture is too large ({width}x{height} pixels)")
        source.load()
        return source.copy()


def placeholder_portrait(name: str, size: tuple[int, int] = (400, 600)) -> Image.Image:
    """A plain card picture for personas without a gallery: a gradient and an initial."""
    width, height = size
    image = Image.new("RGB", size, (40, 44, 64))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = int(40 + 80 * y / height)
        draw.line([(0, y), (width, y)], fill=(shade, 60, 110 + shade // 3))
    draw.ellipse([width * 0.3, height * 0.2, width * 0.7, height * 0.47], fill=(230, 200, 180))
    draw.rounded_rectangle(
        [width * 0.18, height * 0.5, width * 0.82, height * 1.1], radius=80, fill=(30, 30, 45)
    )
    if name:
        draw.text(
            (width * 0.5, height * 0.335),
            name[0].upper(),
            fill=(60, 40, 60),
            anchor="mm",
            font_size=int(height * 0.12),
        )
    return image


def _b64_json(card: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(card, ensure_ascii=False).encode("utf-8")).decode("ascii")


def card_data(card: dict[str, Any]) -> dict[str, Any]:
    data = card.get("data")
    return data if isinstance(data, dict) else card
