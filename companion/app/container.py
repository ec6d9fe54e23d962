"""What the composition root builds: `App` (every service, typed) and `Overrides` (what a
test, a benchmark or a command line option replaces)."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot
from redis.asyncio import Redis

from companion.analytics.health import HealthReport
from companion.analytics.keeper import RollupKeeper
from companion.analytics.service import AnalyticsService
from companion.analytics.user_lookup import UserLookup
from companion.billing.entitlements import EntitlementService
from companion.billing.factory import BillingComponents
from companion.billing.plans import PlanCatalog
from companion.bot.deps import Dialogs, MemoryFacts
from companion.bot.readiness import Readiness
from companion.bot.runner import BotConfigError
from companion.bot.services import BotServices, NoMemory, SpeechPool
from companion.bot.user_cache import CachedUserStore
from companion.bot.voice_replier import VoiceReplier
from companion.broadcasts.wiring import BroadcastComponents
from companion.config import Settings
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogService
from companion.domain.ports import UserStore
from companion.i18n import Translator
from companion.legal.pages import LegalPages
from companion.llm.base import ChatModel
from companion.llm.warmup import ModelWarmup
from companion.memory.service import MemoryService
from companion.metrics import Metrics
from companion.mood.emotions import EmotionReader
from companion.mood.wiring import Clock, MoodComponents
from companion.outreach.wiring import OutreachComponents
from companion.personas.repository import PersonaRepository
from companion.privacy.consent import Onboarding
from companion.privacy.erasure import Erasure
from companion.speech import synthesis_base as tts
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import FieldCipher
from companion.storage.database import Database
from companion.storage.events import EventRepository
from companion.storage.messages import MessageRepository
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.user_data import UserDataService


@dataclass(frozen=True, slots=True)
class Overrides:
    """What a test, a benchmark or a command line option replaces; None: built from settings."""

    # A local Bot API server or an emulator instead of `telegram.api_server` / api.telegram.org.
    telegram_api_server: str | None = None
    # The chat model (its owner closes it).
    llm: ChatModel | None = None
    # What /memory lists and deletes.
    memory_facts: MemoryFacts | None = None
    # What the bot's chat screens talk to (the throughput benchmark's baseline stub).
    bot_dialogs: Dialogs | None = None
    # A started transcription pool (its owner closes it); tests share one loaded model.
    speech_pool: SpeechPool | None = None
    # The emotion classifier (tests: a tiny reader); the clock billing, mood, the survey and
    # check-ins go by (tests move it).
    emotion_reader: EmotionReader | None = None
    clock: Clock | None = None
    # Voice replies' engine (its owner closes it); tests use a failing one.
    synthesizer: tts.ClosableSynthesizer | None = None


@dataclass(slots=True)
class App:
    """Every service, built from settings; valid inside `build_app`'s context only."""

    settings: Settings
    overrides: Overrides
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
    # Emotion readings, /mood, the persona's care, the survey, the owner's mood reports.
    mood: MoodComponents
    onboarding: Onboarding
    # The Bot API client: None without a token (the terminal chat, operator commands).
    telegram: Bot | None
    # Checkout, crediting, refunds, jobs; Stars when there is a Bot API client.
    billing: BillingComponents
    # /forget and `companion db erase-user`: the same steps.
    erasure: Erasure
    # GET /readyz: database, Redis and the model; "models" until the warm-up is done.
    readiness: Readiness
    speech_pool: SpeechPool
    voice_replier: VoiceReplier  # the persona's reply as a voice note (docs/voice.md)
    user_lookup: UserLookup  # the owner's console (companion.analytics.console)
    health: HealthReport
    # News broadcasts: the admin screens' service and the sending worker (docs/admin.md).
    broadcasts: BroadcastComponents
    # The start-up warm-up of the in-process models (None unless `warm_up=True`).
    warmup: ModelWarmup | None = None
    # Proactive check-ins (docs/outreach.md); None when `outreach.enabled` is false.
    outreach: OutreachComponents | None = None
    # The owner's reports, and the loop keeping their daily sets computed (the bot starts it).
    analytics: AnalyticsService | None = None
    rollup_keeper: RollupKeeper | None = None

    def bot_services(self) -> BotServices:
        """What the Telegram handlers receive, by name (`companion.bot.dispatcher`)."""
        if self.redis is None or not isinstance(self.users, CachedUserStore):
            raise BotConfigError("the bot needs Redis (FSM, throttling, per-user ordering)")
        if self.telegram is None or self.billing.stars is None:
            raise BotConfigError(
                "telegram.token is not set: create a bot with @BotFather and set "
                "COMPANION_TELEGRAM__TOKEN"
            )
        settings = self.settings
        return BotServices(
            tg_settings=settings.telegram,
            translator=self.translator,
            default_language=settings.default_language,
            dialogs=self.overrides.bot_dialogs or self.dialog,
            users=self.users,
            user_data=self.user_data,
            personas=self.personas,
            persona_library=self.personas,
            memory=self.overrides.memory_facts or self.memory or NoMemory(),
            events=self.events,
            onboarding=self.onboarding,
            erasure=self.erasure,
            plans=self.plans,
            checkout=self.billing.checkout,
            subscriptions=self.billing.management,
            billing_admin=self.billing.admin,
            stars_billing=self.billing.stars,
            speech_pool=self.speech_pool,
            voice_replier=self.voice_replier,
            metrics=self.metrics,
            legal_pages=LegalPages.from_settings(settings),
            readiness=self.readiness,
            broadcasts=self.broadcasts.service,
            user_lookup=self.user_lookup,
            health=self.health,
            mood=self.mood.service,
            survey=self.mood.survey,
            mood_reports=self.mood.reports,
            analytics=self.analytics
            or AnalyticsService.build(
                self.database.db, self.personas, self.redis, settings, cipher=self.cipher
            ),
            redis=self.redis,
            key_prefix=settings.redis.key_prefix,
        )
