"""The composition root: Settings -> clients -> repositories -> services.

Everything long-lived is built here, once, and closed here in reverse order. Front-ends (the
terminal chat, the Telegram bot, operator CLIs) receive what they need from `Container`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from companion.billing.entitlements import EntitlementService
from companion.billing.plans import PlanCatalog
from companion.bot.user_cache import CachedUserStore
from companion.config import Settings
from companion.dialogs.ordering import LocalUserLocks, RedisUserLocks
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogLimits, DialogService
from companion.domain.ports import UserLocks, UserStore
from companion.i18n import Translator
from companion.llm.base import ChatModel
from companion.llm.factory import build_chat_model
from companion.memory.embedder import build_embedder
from companion.memory.service import MemoryService
from companion.metrics import Metrics
from companion.personas.repository import PersonaRepository
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import FieldCipher, load_cipher
from companion.storage.database import Database, open_database
from companion.storage.events import EventRepository
from companion.storage.messages import MessageRepository
from companion.storage.redis import create_redis
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.user_data import UserDataService
from companion.storage.users import UserRepository

log = logging.getLogger(__name__)

PACKAGED_PERSONAS = Path(__file__).resolve().parent / "personas" / "library"


@dataclass(slots=True)
class Container:
    settings: Settings
    database: Database
    redis: Redis | None
    cipher: FieldCipher
    metrics: Metrics
    translator: Translator
    personas: PersonaRepository
    prompts: PromptBuilder
    llm: ChatModel
    users: UserStore
    conversations: ConversationRepository
    messages: MessageRepository
    events: EventRepository
    subscriptions: SubscriptionRepository
    user_data: UserDataService
    plans: PlanCatalog
    entitlements: EntitlementService
    memory: MemoryService | None
    dialog: DialogService


@asynccontextmanager
async def build_container(
    settings: Settings,
    *,
    use_redis: bool = True,
    watch_personas: bool | None = None,
) -> AsyncIterator[Container]:
    """Build every service; `use_redis=False` serves a single process (the terminal chat)."""
    async with AsyncExitStack() as stack:
        metrics = Metrics()
        translator = Translator()
        personas = PersonaRepository(settings.personas.directory or PACKAGED_PERSONAS)
        personas.load_all()
        for issue in personas.errors:
            log.error("persona card problem: %s", issue)
        if watch_personas if watch_personas is not None else settings.personas.hot_reload:
            await personas.start_watching()
            stack.push_async_callback(personas.stop_watching)

        database = await open_database(settings)
        stack.push_async_callback(database.aclose)
        db = database.db
        cipher = load_cipher(settings.privacy, settings.environment)

        redis: Redis | None = None
        locks: UserLocks = LocalUserLocks()
        if use_redis:
            redis = await create_redis(settings.redis)
            stack.push_async_callback(redis.aclose)
            locks = RedisUserLocks(redis, prefix=settings.redis.key_prefix)

        llm = build_chat_model(settings.llm)
        stack.push_async_callback(llm.aclose)

        users: UserStore = UserRepository(db, cipher)
        if redis is not None:
            # One cached store for the bot's middlewares and the services, so a profile change
            # made anywhere (consent, 18+, disclaimer shown) clears the cache at once.
            users = CachedUserStore(
                users,
                redis,
                prefix=settings.redis.key_prefix,
                ttl_s=settings.telegram.user_cache_ttl_s,
                cipher=cipher,
            )
        conversations = ConversationRepository(db, cipher)
        messages = MessageRepository(db, cipher)
        stack.push_async_callback(messages.aclose)
        events = EventRepository(db)
        subscriptions = SubscriptionRepository(db, cipher)
        plans = PlanCatalog(settings.billing.plans)
        entitlements = EntitlementService(
            subscriptions, redis, plans, key_prefix=settings.redis.key_prefix
        )

        memory: MemoryService | None = None
        if settings.memory.enabled:
            embedder = build_embedder(
                settings.memory.embedding_model,
                query_prefix=settings.memory.query_prefix,
                passage_prefix=settings.memory.passage_prefix,
                batch_size=settings.memory.embedding_batch_size,
                # One torch thread: embeddings are small batches and the event loop, Whisper
                # and the LLM share these cores.
                threads=1,
            )
            stack.callback(embedder.close)

            def persona_name(persona_id: str, language: str) -> str:
                persona = personas.get(persona_id)
                return persona.display_name(language) if persona else persona_id

            memory = MemoryService.build(
                db=db,
                cipher=cipher,
                embedder=embedder,
                messages=messages,
                chat_model=llm,
                settings=settings.memory,
                count_tokens=llm.count_tokens,
                persona_name=persona_name,
            )
            # Drains pending extractions first, so nothing the user said is lost on shutdown.
            stack.push_async_callback(memory.aclose)

        user_data = UserDataService(db, cipher, locks=locks)
        # An erase cut off by a crash is finished before anything else touches that user.
        await user_data.finish_pending_erasures()

        prompts = PromptBuilder()
        dialog = DialogService(
            personas=personas,
            users=users,
            conversations=conversations,
            messages=messages,
            llm=llm,
            prompts=prompts,
            entitlements=entitlements,
            events=events,
            locks=locks,
            texts=translator,
            limits=DialogLimits(
                max_user_chars=settings.dialog.max_user_message_chars,
                history_token_budget=settings.dialog.recent_turns_token_budget,
                context_window=settings.llm.context_window,
                reply_tokens=settings.llm.max_reply_tokens,
            ),
            memory=memory,
            memory_writer=memory,
            timer=metrics,
        )
        stack.push_async_callback(dialog.drain)

        yield Container(
            settings=settings,
            database=database,
            redis=redis,
            cipher=cipher,
            metrics=metrics,
            translator=translator,
            personas=personas,
            prompts=prompts,
            llm=llm,
            users=users,
            conversations=conversations,
            messages=messages,
            events=events,
            subscriptions=subscriptions,
            user_data=user_data,
            plans=plans,
            entitlements=entitlements,
            memory=memory,
            dialog=dialog,
        )
