"""Reconciliation: fold newly extracted facts into what is already known about the user.

For each candidate fact the user's similar stored facts are found with the retriever, then:

1. deterministic guards, in order:
   - a fact the user deleted (same normalised text, or cosine >= `tombstone_threshold` with
     its tombstone) is dropped, so re-extraction from old messages never brings it back;
   - a duplicate (same normalised text, or cosine >= `duplicate_threshold`) is kept once: the
     stored fact only gains the new source messages;
   - the same *slot* ("<subject> lives in", "<subject> works as", "<subject>'s name is", ...)
     as a stored fact is an update: "The user lives in Kazan" replaces "The user lives in
     Moscow", whose text goes to the fact's history;
2. otherwise, when stored facts are similar enough to matter (cosine >= `similar_threshold`),
   the LLM decides add / update / delete / keep with `companion/prompts/memory/reconcile.j2`
   and a JSON schema; an invalid or failed answer falls back to "add";
3. with nothing similar the fact is added.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from companion.llm.base import ChatMessage, ChatModel, ChatRequest, LLMError, Role, SamplingParams
from companion.memory.embedder import Embedder, Matrix, Vector
from companion.memory.extraction import CandidateFact
from companion.memory.facts import Fact
from companion.memory.records import MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.store import FactStore, cosine_max
from companion.memory.text import normalize, text_hash
from companion.prompts import prompt_templates

log = logging.getLogger(__name__)


class Action(StrEnum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"
    KEEP = "keep"
    SUPPRESSED = "suppressed"  # matched a fact the user deleted


@dataclass(frozen=True)
class Outcome:
    action: Action
    text: str
    fact_id: str | None  # the added / updated / deleted / kept fact
    reason: str


RECONCILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["add", "update", "delete", "keep"]},
        "target": {"type": ["integer", "null"]},
    },
    "required": ["action", "target"],
    "additionalProperties": False,
}


class _LLMDecision(BaseModel):
    action: Action
    target: int | None = None


# Predicates that hold one value at a time for a subject. The text before the match is the
# subject ("the user", "the user's sister"), so a sister's city never replaces the user's.
_SLOT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (slot, re.compile(pattern))
    for slot, pattern in (
        (
            "lives_in",
            r"\b(?:now |currently )?(?:lives|is living|has moved|moved|relocated|has relocated)"
            r" (?:in|to)\b",
        ),
        ("lives_in", r"\b(?:сейчас |теперь )?(?:живет|проживает|переехал|переехала|переехали) в\b"),
        ("works", r"\b(?:now |currently )?(?:works|is working) (?:as|at|for)\b"),
        ("works", r"\b(?:'s )?(?:job|occupation|profession) is\b"),
        ("works", r"\b(?:сейчас |теперь )?работает\b"),
        ("name", r"\b(?:'s )?name is\b"),
        ("name", r"\bзовут\b"),
        ("age", r"\bis \d{1,3} years old\b"),
        ("age", r"\b\d{1,3} (?:лет|год|года)\b"),
        (
            "relationship",
            r"\b(?:is married|is single|is divorced|is engaged|has a (?:girl|boy)friend)\b",
        ),
        ("favorite", r"\b'?s? ?favou?rite \w+ is\b"),
    )
)
_FAVORITE_RE = re.compile(r"favou?rite (\w+)")
_FILLER_RE = re.compile(r"\b(?:now|currently|сейчас|теперь)\b")


def slot_key(text: str) -> str | None:
    """The (subject, predicate) a fact sets, e.g. "the user|lives_in"; None when unknown."""
    lowered = text.lower().replace("ё", "е").replace("’", "'")
    for slot, pattern in _SLOT_PATTERNS:
        match = pattern.search(lowered)
        if match is None:
            continue
        subject = normalize(_FILLER_RE.sub(" ", lowered[: match.start()]))
        if slot == "favorite":
            thing = _FAVORITE_RE.search(lowered)
            slot = f"favorite_{thing.group(1)}" if thing else slot
        if slot == "name":
            subject = subject.removesuffix(" s").strip()
        return f"{subject}|{slot}"
    return None


class Reconciler:
    """Applies candidate facts to a user's stored facts (and keeps the retriever in step)."""

    def __init__(
        self,
        store: FactStore,
        retriever: Retriever,
        embedder: Embedder,
        chat_model: ChatModel | None = None,
        *,
        prompts_dir: Path | None = None,
        duplicate_threshold: float = 0.92,
        tombstone_threshold: float = 0.9,
        similar_threshold: float = 0.5,
        neighbours: int = 5,
    ) -> None:
        self._store = store
        self._retriever = retriever
        self._embedder = embedder
        self._model = chat_model
        self._env = prompt_templates(prompts_dir)
        self.duplicate_threshold = duplicate_threshold
        self.tombstone_threshold = tombstone_threshold
        self.similar_threshold = similar_threshold
        self.neighbours = neighbours

    async def apply(
        self,
        user_id: int,
        candidates: Sequence[CandidateFact],
        *,
        persona_id: str | None,
        now: datetime,
    ) -> list[Outcome]:
        if not candidates:
            return []
        vectors = await self._embedder.embed_passages([c.text for c in candidates])
        tombstones = await self._store.tombstones(user_id)
        tomb_hashes = {t.text_hash for t in tombstones}
        tomb_vectors = [t.vector for t in tombstones if t.vector is not None]
        outcomes: list[Outcome] = []
        for candidate, vector in zip(candidates, vectors, strict=True):
            if self._buried(candidate.text, vector, tomb_hashes, tomb_vectors):
                outcomes.append(
                    Outcome(Action.SUPPRESSED, candidate.text, None, "deleted by the user")
                )
                continue
            outcomes.append(await self._one(user_id, candidate, vector, persona_id, now))
        if any(outcome.action is Action.ADD for outcome in outcomes):
            outcomes = await self._take_back_deleted_meanwhile(
                user_id, candidates, vectors, outcomes, tomb_hashes
            )
        return outcomes

    def _buried(
        self, text: str, vector: Vector, hashes: set[str], vectors: Sequence[Vector]
    ) -> bool:
        # Tombstones keep a keyed fingerprint (older ones an unkeyed hash): try every form.
        return (
            not hashes.isdisjoint(self._store.fingerprints(text))
            or cosine_max(vector, vectors) >= self.tombstone_threshold
        )

    async def _take_back_deleted_meanwhile(
        self,
        user_id: int,
        candidates: Sequence[CandidateFact],
        vectors: Matrix,
        outcomes: list[Outcome],
        known: set[str],
    ) -> list[Outcome]:
        """Remove facts this pass added that the user deleted meanwhile on another worker.

        The tombstones were read before the facts were added; a deletion in between (the user
        pressed "delete" in /memory while this pass asked the model) left a tombstone this pass
        did not see. Reading them again after the writes closes that window."""
        fresh = [t for t in await self._store.tombstones(user_id) if t.text_hash not in known]
        if not fresh:
            return outcomes
        hashes = {t.text_hash for t in fresh}
        tomb_vectors = [t.vector for t in fresh if t.vector is not None]
        checked: list[Outcome] = []
        for candidate, vector, outcome in zip(candidates, vectors, outcomes, strict=True):
            if (
                outcome.action is Action.ADD
                and outcome.fact_id is not None
                and self._buried(candidate.text, vector, hashes, tomb_vectors)
            ):
                await self._store.discard(user_id, [outcome.fact_id])
                await self._retriever.remove(user_id, [outcome.fact_id])
                outcome = Outcome(
                    Action.SUPPRESSED, candidate.text, None, "deleted by the user meanwhile"
                )
            checked.append(outcome)
        return checked

    async def _one(
        self,
        user_id: int,
        candidate: CandidateFact,
        vector: Vector,
        persona_id: str | None,
        now: datetime,
    ) -> Outcome:
        records = await self._retriever.records(user_id)
        by_id = {record.id: record for record in records}
        similar: list[tuple[MemoryRecord, float]] = []
        if records:
            matrix = np.stack([r.vector for r in records if r.vector is not None])
            cosines = matrix @ vector
            order = np.argsort(-cosines)[: self.neighbours]
            similar = [(records[i], float(cosines[i])) for i in order]
        new_hash = text_hash(candidate.text)
        for record, cosine in similar:
            if text_hash(record.text) == new_hash or cosine >= self.duplicate_threshold:
                await self._store.add_sources(user_id, record.id, candidate.source_message_ids)
                return Outcome(Action.KEEP, candidate.text, record.id, "duplicate")
        slot = slot_key(candidate.text)
        if slot is not None:
            same_slot = [r for r in records if slot_key(r.text) == slot]
            if same_slot:
                target = max(same_slot, key=lambda r: r.time)
                return await self._update(user_id, target.id, candidate, vector, now, "same slot")
        related = [(r, c) for r, c in similar if c >= self.similar_threshold]
        if related and self._model is not None:
            decision = await self._decide(candidate.text, [r.text for r, _ in related])
            if decision is not None:
                action, index = decision
                target_id = related[index][0].id if index is not None else None
                if action is Action.KEEP and target_id is None:
                    return Outcome(Action.KEEP, candidate.text, None, "model: nothing new")
                if action is Action.KEEP and target_id is not None:
                    await self._store.add_sources(user_id, target_id, candidate.source_message_ids)
                    return Outcome(Action.KEEP, candidate.text, target_id, "model: nothing new")
                if action is Action.UPDATE and target_id in by_id:
                    return await self._update(user_id, target_id, candidate, vector, now, "model")
                if action is Action.DELETE and target_id in by_id:
                    await self._store.delete(user_id, target_id, tombstone=False)
                    await self._retriever.remove(user_id, [target_id])
                    return Outcome(
                        Action.DELETE, candidate.text, target_id, "model: no longer true"
                    )
        return await self._add(user_id, candidate, vector, persona_id, now)

    async def _add(
        self,
        user_id: int,
        candidate: CandidateFact,
        vector: Vector,
        persona_id: str | None,
        now: datetime,
    ) -> Outcome:
        fact = await self._store.insert(
            Fact(
                id=uuid.uuid4().hex,
                user_id=user_id,
                text=candidate.text,
                category=candidate.category,
                importance=candidate.importance,
                refers_to=candidate.refers_to,
                source_message_ids=candidate.source_message_ids,
                persona_id=persona_id,
                created_at=now,
                updated_at=now,
            ),
            vector,
        )
        await self._retriever.index(user_id, [fact_record(fact, vector)])
        return Outcome(Action.ADD, fact.text, fact.id, "new")

    async def _update(
        self,
        user_id: int,
        target_id: str,
        candidate: CandidateFact,
        vector: Vector,
        now: datetime,
        reason: str,
    ) -> Outcome:
        current = await self._store.get(user_id, target_id)
        if current is None:  # deleted meanwhile (the user pressed delete)
            return Outcome(Action.KEEP, candidate.text, None, "target gone")
        new = current.model_copy(
            update={
                "text": candidate.text,
                "category": candidate.category,
                "importance": candidate.importance,
                "refers_to": candidate.refers_to,
                "source_message_ids": candidate.source_message_ids,
            }
        )
        updated = await self._store.replace_text(current, new, vector, reason=reason, now=now)
        await self._retriever.index(user_id, [fact_record(updated, vector)])
        return Outcome(Action.UPDATE, candidate.text, target_id, reason)

    async def _decide(
        self, new_text: str, existing: Sequence[str]
    ) -> tuple[Action, int | None] | None:
        assert self._model is not None
        prompt = self._env.get_template("memory/reconcile.j2").render(
            new_fact=new_text,
            existing=[{"n": n, "text": text} for n, text in enumerate(existing, start=1)],
        )
        request = ChatRequest(
            messages=[ChatMessage(role=Role.USER, content=prompt)],
            sampling=SamplingParams(temperature=0.0, max_tokens=64),
            json_schema=RECONCILE_SCHEMA,
            schema_name="memory_reconcile",
        )
        try:
            raw = await self._model.complete(request)
        except LLMError as exc:
            log.warning("fact reconciliation call failed, adding the fact: %s", exc)
            return None
        try:
            start, end = raw.find("{"), raw.rfind("}")
            decision = _LLMDecision.model_validate(json.loads(raw[start : end + 1]))
        except (ValueError, ValidationError) as exc:
            log.warning("fact reconciliation answer rejected, adding the fact: %s", exc)
            return None
        if decision.action is Action.SUPPRESSED:
            return None
        index: int | None = None
        if decision.target is not None and 1 <= decision.target <= len(existing):
            index = decision.target - 1
        if decision.action in (Action.UPDATE, Action.DELETE) and index is None:
            return None
        return decision.action, index


def fact_record(fact: Fact, vector: Vector) -> MemoryRecord:
    """A stored fact as the retriever indexes it."""
    return MemoryRecord(
        id=fact.id,
        text=fact.text,
        time=fact.updated_at,
        importance=float(fact.importance),
        vector=vector,
    )
