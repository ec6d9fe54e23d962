"""The user side of the Bot API emulator: people who write to the bot, press buttons, send files.

    async with TelegramBotAPIEmulator() as tg:
        anna = TelegramUser(tg, 1001, first_name="Anna", language_code="ru")
        await anna.command("start")
        call = await anna.expect("sendMessage")              # the bot's next message to Anna
        await anna.press(text="English")                     # a button of the bot's last keyboard
        await anna.say("Hi!")
        final = await anna.expect("sendMessage", contains="Hello")
        await anna.idle()                                    # the bot went quiet in this chat

Each user keeps a cursor over the bot's calls to their chat: `expect` returns the first
matching call after the cursor and moves it past that call, so a test reads the conversation
in order. `calls()` is everything the bot sent to the chat; `history()` is the chat as the
user sees it now (edits applied, deleted messages gone).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from tests.emulators.telegram.server import ApiCall, StoredFile, TelegramBotAPIEmulator

_callback_ids = itertools.count(1)


class TelegramUser:
    def __init__(
        self,
        emulator: TelegramBotAPIEmulator,
        user_id: int,
        *,
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
    ) -> None:
        self.tg = emulator
        self.id = user_id
        self.user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            self.user["username"] = username
        if language_code:
            self.user["language_code"] = language_code
        emulator.register_user(self.user)
        self.chat = emulator.chats[user_id]
        self.cursor = 0  # index into emulator.calls
        self.mark = 0  # calls before it are ignored by `calls()` (see `skip`)

    @property
    def chat_id(self) -> int:
        return self.id

    # ------------------------------------------------------------------ sending

    def _message(self, chat: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        chat = chat or self.chat
        return {
            "message_id": self.tg.next_message_id(chat["id"]),
            "from": self.user,
            "chat": chat,
            "date": int(time.time()),
            **fields,
        }

    async def send_message(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.tg.push_update({"message": message})
        return message

    async def say(self, text: str) -> dict[str, Any]:
        return await self.send_message(self._message(text=text))

    async def command(self, name: str, args: str = "") -> dict[str, Any]:
        token = f"/{name.lstrip('/')}"
        text = f"{token} {args}".strip()
        entities = [{"type": "bot_command", "offset": 0, "length": len(token)}]
        return await self.send_message(self._message(text=text, entities=entities))

    async def send_file_message(
        self,
        kind: str,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        duration: int = 1,
        caption: str | None = None,
    ) -> tuple[dict[str, Any], StoredFile]:
        """A voice note, video note, audio or document, with its bytes downloadable via getFile."""
        folder = {"voice": "voice", "video_note": "video_notes", "audio": "music"}.get(
            kind, "documents"
        )
        stored = self.tg.store_file(data, kind=folder, file_name=file_name, mime_type=mime_type)
        media: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if kind in ("voice", "audio", "video_note", "video"):
            media["duration"] = duration
        if kind == "video_note":
            media["length"] = 240
        if kind in ("voice", "audio", "document", "video") and mime_type:
            media["mime_type"] = mime_type
        if kind in ("audio", "document") and file_name:
            media["file_name"] = file_name
        fields: dict[str, Any] = {kind: media}
        if caption:
            fields["caption"] = caption
        return await self.send_message(self._message(**fields)), stored

    async def send_voice(self, data: bytes, *, duration: int = 2) -> dict[str, Any]:
        message, _ = await self.send_file_message(
            "voice", data, mime_type="audio/ogg", duration=duration
        )
        return message

    async def send_document(
        self, data: bytes, *, file_name: str = "file.pdf", mime_type: str = "application/pdf"
    ) -> dict[str, Any]:
        message, _ = await self.send_file_message(
            "document", data, file_name=file_name, mime_type=mime_type
        )
        return message

    async def send_sticker(self, emoji: str = "😀") -> dict[str, Any]:
        sticker = {
            "file_id": "STICKER1",
            "file_unique_id": "S1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return await self.send_message(self._message(sticker=sticker))

    async def send_location(self, latitude: float = 55.75, longitude: float = 37.61) -> Any:
        return await self.send_message(
            self._message(location={"latitude": latitude, "longitude": longitude})
        )

    async def send_poll(self, question: str = "Yes or no?") -> dict[str, Any]:
        poll = {
            "id": "poll1",
            "question": question,
            "options": [
                {"persistent_id": "o1", "text": "Yes", "voter_count": 0},
                {"persistent_id": "o2", "text": "No", "voter_count": 0},
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
        }
        return await self.send_message(self._message(poll=poll))

    async def pay_stars(
        self, payload: str, amount: int, *, subscription_period: int | None = None
    ) -> dict[str, Any]:
        """Pay an invoice in Stars: Telegram records the transaction and sends the bot a
        `successful_payment` message; returns that SuccessfulPayment."""
        paid = self.tg.charge_stars(
            self.user, payload, amount, subscription_period=subscription_period
        )
        await self.send_message(self._message(successful_payment=paid))
        return paid

    async def edit(self, message: dict[str, Any], new_text: str) -> dict[str, Any]:
        edited = {**message, "text": new_text, "edit_date": int(time.time())}
        await self.tg.push_update({"edited_message": edited})
        return edited

    async def say_in_group(
        self, group: dict[str, Any], text: str, *, mention_bot: bool = False
    ) -> dict[str, Any]:
        entities = None
        if mention_bot:
            mention = f"@{self.tg.bot_user['username']}"
            text = f"{mention} {text}"
            entities = [{"type": "mention", "offset": 0, "length": len(mention)}]
        fields: dict[str, Any] = {"text": text}
        if entities:
            fields["entities"] = entities
        return await self.send_message(self._message(group, **fields))

    async def press(
        self,
        data: str | None = None,
        *,
        text: str | None = None,
        message: dict[str, Any] | None = None,
    ) -> str:
        """Press an inline button (by callback data or its text) of the latest message with it."""
        target, button = self._find_button(data, text, message)
        query_id = f"cb{next(_callback_ids)}"
        query = {
            "id": query_id,
            "from": self.user,
            "chat_instance": f"ci{self.id}",
            "message": target,
            "data": button["callback_data"],
        }
        self.tg.register_callback_query(query)
        await self.tg.push_update({"callback_query": query})
        return query_id

    async def press_raw(self, data: str, message: dict[str, Any]) -> str:
        """A callback with any data (a stale or forged button)."""
        query_id = f"cb{next(_callback_ids)}"
        query = {
            "id": query_id,
            "from": self.user,
            "chat_instance": f"ci{self.id}",
            "message": message,
            "data": data,
        }
        self.tg.register_callback_query(query)
        await self.tg.push_update({"callback_query": query})
        return query_id

    def _find_button(
        self, data: str | None, text: str | None, message: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        candidates = [message] if message is not None else list(reversed(self.history()))
        for candidate in candidates:
            markup = candidate.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if "callback_data" not in button:
                        continue
                    if data is not None and button["callback_data"] == data:
                        return candidate, button
                    if text is not None and text in button.get("text", ""):
                        return candidate, button
        raise AssertionError(f"no button {data or text!r} in the chat; buttons: {self.buttons()}")

    # ------------------------------------------------------------------ reading

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """The bot's calls to this chat since the last `skip()`."""
        return [
            c
            for c in self.tg.calls[self.mark :]
            if c.chat_id == self.id and (method is None or c.method == method)
        ]

    def history(self) -> list[dict[str, Any]]:
        """The bot's messages in this chat as they look now, oldest first."""
        return [
            m
            for (chat_id, _), m in sorted(self.tg.messages.items())
            if chat_id == self.id and m.get("from", {}).get("id") == self.tg.bot_id
        ]

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button in the chat, newest message first."""
        found: list[tuple[str, str]] = []
        for message in reversed(self.history()):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                found.extend(
                    (b.get("text", ""), b["callback_data"]) for b in row if "callback_data" in b
                )
        return found

    async def expect(
        self,
        method: str | tuple[str, ...] | None = None,
        *,
        contains: str | None = None,
        where: Callable[[ApiCall], bool] | None = None,
        ok: bool | None = True,
        timeout: float = 15.0,
    ) -> ApiCall:
        """The next call to this chat (after the cursor) that matches; moves the cursor past it."""
        methods = (method,) if isinstance(method, str) else method

        def match(call: ApiCall) -> bool:
            if call.chat_id != self.id:
                return False
            if methods is not None and call.method not in methods:
                return False
            if ok is not None and call.ok != ok:
                return False
            if contains is not None and contains not in (call.text or ""):
                return False
            return where is None or where(call)

        try:
            index, call = await self.tg.wait_for(match, start=self.cursor, timeout=timeout)
        except TimeoutError:
            seen = [(c.method, (c.text or "")[:60]) for c in self.calls()]
            raise AssertionError(
                f"user {self.id}: no {method} call matching contains={contains!r} within "
                f"{timeout}s; calls to this chat: {seen}"
            ) from None
        self.cursor = index + 1
        return call

    async def idle(self, quiet_s: float = 0.4, timeout: float = 20.0) -> None:
        """Wait until the bot made no call to this chat for `quiet_s` seconds."""
        deadline = time.monotonic() + timeout
        last = len(self.calls())
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            if time.monotonic() > deadline:
                raise AssertionError(f"user {self.id}: the bot kept calling for {timeout}s")
            await asyncio.sleep(0.05)
            now = len(self.calls())
            if now != last:
                last, quiet_since = now, time.monotonic()

    def skip(self) -> None:
        """Forget everything the bot did so far (for `expect` and `calls`)."""
        self.cursor = self.mark = len(self.tg.calls)
