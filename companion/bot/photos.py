"""Sending persona photos, uploading each file once.

Telegram returns a ``file_id`` for every uploaded photo; sending that id again costs no upload.
The ids are kept in Redis (shared by all workers) under the file's path and modification time,
so an edited image is uploaded again.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_FILE_ID_TTL_S = 30 * 24 * 3600


class PhotoSender:
    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, source: str) -> str:
        digest = hashlib.sha256(source.encode()).hexdigest()[:32]
        return f"{self._prefix}:bot:file_id:{digest}"

    @staticmethod
    def _resolve(path: Path | None, placeholder: str | None) -> tuple[str, Path | None]:
        """The cache key of what will be sent, and the file to upload (None: placeholder)."""
        if path is not None:
            try:
                return f"{path.resolve()}:{path.stat().st_mtime_ns}", path
            except OSError:
                log.error("image missing on disk: %s", path)
        return f"placeholder:{placeholder}", None

    async def _cached(self, source: str) -> str | None:
        try:
            value = await self._redis.get(self._key(source))
        except RedisError:
            return None
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    async def _remember(self, source: str, message: Message | Any) -> None:
        photo = getattr(message, "photo", None)
        if not photo:
            return
        try:
            await self._redis.set(self._key(source), photo[-1].file_id, ex=_FILE_ID_TTL_S)
        except RedisError:
            log.warning("could not cache a photo file_id")

    def _upload(
        self, path: Path | None, placeholder: str | None
    ) -> FSInputFile | BufferedInputFile:
        if path is not None and path.is_file():
            return FSInputFile(path)
        return BufferedInputFile(placeholder_image(placeholder or "?"), filename="persona.png")

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        path: Path | None,
        *,
        caption: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        placeholder: str | None = None,
    ) -> Message:
        """Send the image at `path` (or a generated card with `placeholder` as its initial)."""
        source, path = self._resolve(path, placeholder)
        file_id = await self._cached(source)
        if file_id is not None:
            try:
                return await bot.send_photo(
                    chat_id,
                    file_id,
                    caption=caption,
                    reply_markup=reply_markup,
                    parse_mode=ParseMode.HTML,
                )
            except TelegramBadRequest as exc:
                if "file" not in exc.message.lower():
                    raise
                log.info("cached file_id rejected (%s); uploading again", exc.message)
        message = await bot.send_photo(
            chat_id,
            self._upload(path, placeholder),
            caption=caption,
            reply_markup=reply_markup,
            parse_mode=ParseMode.HTML,
        )
        await self._remember(source, message)
        return message

    async def edit(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int,
        path: Path | None,
        *,
        caption: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        placeholder: str | None = None,
    ) -> Message | bool:
        """Replace the photo, caption and buttons of a card (library paging)."""
        source, path = self._resolve(path, placeholder)
        file_id = await self._cached(source)
        media: str | FSInputFile | BufferedInputFile = (
            file_id if file_id is not None else self._upload(path, placeholder)
        )
        result = await bot.edit_message_media(
            media=InputMediaPhoto(media=media, caption=caption, parse_mode=ParseMode.HTML),
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=reply_markup,
        )
        if file_id is None and isinstance(result, Message):
            await self._remember(source, result)
        return result


def placeholder_image(initial: str, size: int = 512) -> bytes:
    """A plain square with the persona's initial, for personas without a gallery."""
    from PIL import Image, ImageDraw

    hue = int(hashlib.sha256(initial.encode()).hexdigest()[:2], 16)
    color = (60 + hue % 120, 80 + (hue * 7) % 120, 120 + (hue * 13) % 120)
    image = Image.new("RGB", (size, size), color)
    draw = ImageDraw.Draw(image)
    letter = (initial.strip()[:1] or "?").upper()
    draw.text(
        (size // 2, size // 2), letter, fill=(255, 255, 255), anchor="mm", font_size=size // 2
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
