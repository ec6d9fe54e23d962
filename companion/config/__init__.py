"""Settings for every part of Companion, read from the environment and `.env`.

Variables use the prefix ``COMPANION_`` and ``__`` between levels, for example
``COMPANION_LLM__BASE_URL`` or ``COMPANION_TELEGRAM__TOKEN``. Nothing here is built at import
time: the composition root (`companion.app`) creates one `Settings` and passes parts of it on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from companion.config.billing import BillingSettings, LegalSettings, PlanSettings
from companion.config.common import PLACEHOLDER_SECRETS, Environment
from companion.config.features import (
    AnalyticsSettings,
    BroadcastSettings,
    MoodCareSettings,
    MoodSettings,
    OutreachSettings,
    SurveySettings,
)
from companion.config.services import (
    DialogSettings,
    LLMBackend,
    LLMSettings,
    MemorySettings,
    MongoSettings,
    PersonaSettings,
    PrivacySettings,
    RedisSettings,
    SpeechSettings,
    TelegramSettings,
    TTSSettings,
)

__all__ = [
    "PLACEHOLDER_SECRETS",
    "AnalyticsSettings",
    "BillingSettings",
    "BroadcastSettings",
    "DialogSettings",
    "Environment",
    "LLMBackend",
    "LLMSettings",
    "LegalSettings",
    "MemorySettings",
    "MongoSettings",
    "MoodCareSettings",
    "MoodSettings",
    "OutreachSettings",
    "PersonaSettings",
    "PlanSettings",
    "PrivacySettings",
    "RedisSettings",
    "Settings",
    "SpeechSettings",
    "SurveySettings",
    "TTSSettings",
    "TelegramSettings",
    "load_settings",
]


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
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)

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
