"""What the Telegram layer receives from the composition root, typed, one field per service.

`companion.app.App.bot_services()` builds one `BotServices`; `companion.bot.dispatcher`
registers each field in the dispatcher's workflow data under the field's name, so a handler asks
for a service by parameter name (``billing: BillingService``, ``erasure: Erasure``...), as
aiogram passes workflow data to handlers by keyword. There is no catch-all dictionary: a new
service is a new field here.

A feature that settings switch off is a "disabled" variant of the same type (`NoMemory`,
`NoSpeech`), not None, so handlers never test for a missing service.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis

from companion.analytics.health import HealthReport
from companion.analytics.service import AnalyticsService
from companion.analytics.user_lookup import UserLookup
from companion.billing.admin import AdminService
from companion.billing.checkout import CheckoutService
from companion.billing.management import SubscriptionManagement
from companion.billing.plans import PlanCatalog
from companion.billing.stars import StarsBilling
from companion.bot.deps import Dialogs, Fact, MemoryFacts, UserData
from companion.bot.readiness import Readiness
from companion.bot.user_cache import CachedUserStore
from companion.bot.voice_replier import VoiceReplier
from companion.broadcasts.service import BroadcastService
from companion.config import TelegramSettings
from companion.domain.ports import EventSink, PersonaCatalog
from companion.i18n import Translator
from companion.legal.pages import LegalPages
from companion.metrics import Metrics
from companion.mood.reports import MoodReports
from companion.mood.service import MoodService
from companion.mood.survey import SurveyService
from companion.personas.repository import PersonaRepository
from companion.privacy.consent import Onboarding
from companion.privacy.erasure import Erasure
from companion.speech.errors import SpeechError

if TYPE_CHECKING:
    from companion.speech.transcriber import Transcript


class SpeechPool(Protocol):
    """`companion.speech.pool.TranscriptionPool`, as the voice router uses it."""

    @property
    def max_file_bytes(self) -> int: ...
    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None: ...
    async def transcribe(self, user_id: int, audio: bytes) -> Transcript: ...


class VoiceUnavailableError(SpeechError):
    message_id = "voice-unavailable"


class NoSpeech:
    """Voice notes when the "voice" extra (PyAV, faster-whisper) is not installed: every note is
    refused before anything is downloaded, with the polite "please type" text."""

    max_file_bytes = 0

    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None:
        raise VoiceUnavailableError("voice notes are off (the voice extra is not installed)")

    async def transcribe(self, user_id: int, audio: bytes) -> Transcript:
        raise VoiceUnavailableError("voice notes are off (the voice extra is not installed)")


class NoMemory:
    """/memory when long-term memory is off (``memory.enabled=false``): nothing remembered."""

    async def list_facts(self, user_id: int) -> Sequence[Fact]:
        return []

    async def delete_fact(self, user_id: int, fact_id: str) -> bool:
        return False

    async def edit_fact(self, user_id: int, fact_id: str, text: str) -> Fact | None:
        return None


@dataclass(frozen=True, slots=True)
class BotServices:
    """Each field is a workflow-data key: the name a handler's parameter must have."""

    tg_settings: TelegramSettings
    translator: Translator
    default_language: str
    dialogs: Dialogs
    users: CachedUserStore
    user_data: UserData
    personas: PersonaCatalog
    # The library itself, for the owner's card import and reload (companion.bot.routers.admin).
    persona_library: PersonaRepository
    memory: MemoryFacts
    events: EventSink
    onboarding: Onboarding
    erasure: Erasure
    # Billing, by use case (`companion.billing`): the plans on sale, buying, a person's
    # subscription, admin refunds and grants, Telegram Stars (with `selling` false when Stars
    # are switched off: existing subscribers are still renewed and can still cancel).
    plans: PlanCatalog
    checkout: CheckoutService
    subscriptions: SubscriptionManagement
    billing_admin: AdminService
    stars_billing: StarsBilling
    speech_pool: SpeechPool
    # Voice notes after text replies (a voice note in, or /voice on).
    voice_replier: VoiceReplier
    metrics: Metrics
    # The terms, privacy policy and offer served at /legal/* (companion.legal).
    legal_pages: LegalPages
    readiness: Readiness
    # News broadcasts: drafts, segments, confirm and cancel (companion.broadcasts).
    broadcasts: BroadcastService
    # The owner's console (/admin): the Users section and the developer view.
    user_lookup: UserLookup
    health: HealthReport
    # /mood, the satisfaction survey, and their numbers for the owner (companion.mood).
    mood: MoodService
    survey: SurveyService
    mood_reports: MoodReports
    # The owner's stats: reports and their charts (companion.analytics, admin "Stats").
    analytics: AnalyticsService
    redis: Redis
    key_prefix: str

    def by_name(self) -> dict[str, Any]:
        """The workflow data: field name -> service."""
        return {field.name: getattr(self, field.name) for field in fields(self)}
