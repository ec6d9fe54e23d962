"""Runs the probes against an OpenAI-compatible server and aggregates the verdicts per persona."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from companion.cli.quality.probes import PROBES, Aspect, Probe
from companion.cli.quality.scoring import character_failures, language_failures, probe_failures
from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from companion.domain.personas import Persona
from companion.llm.base import ChatMessage, ChatModel, ChatRequest, Role, SamplingParams


@dataclass(slots=True)
class Tally:
    passed: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.total += 1
        self.passed += ok

    @property
    def rate(self) -> float | None:
        return self.passed / self.total if self.total else None


@dataclass(slots=True)
class PersonaReport:
    persona_id: str
    tallies: dict[Aspect, Tally] = field(default_factory=lambda: {a: Tally() for a in Aspect})
    failures: list[str] = field(default_factory=list)

    def passed(self, min_rate: float) -> bool:
        return all(t.rate is None or t.rate >= min_rate for t in self.tallies.values())


async def _converse(
    model: ChatModel, system: str, probe: Probe, adapter: str | None, sampling: SamplingParams
) -> list[str]:
    messages = [ChatMessage(role=Role.SYSTEM, content=system)]
    replies: list[str] = []
    for turn in probe.turns:
        messages.append(ChatMessage(role=Role.USER, content=turn))
        reply = await model.complete(
            ChatRequest(messages=list(messages), sampling=sampling, adapter=adapter)
        )
        replies.append(reply)
        messages.append(ChatMessage(role=Role.ASSISTANT, content=reply))
    return replies


async def evaluate_persona(
    model: ChatModel,
    persona: Persona,
    *,
    languages: Sequence[str] | None = None,
    use_adapter: bool = True,
    concurrency: int = 4,
) -> PersonaReport:
    report = PersonaReport(persona.id)
    builder = PromptBuilder()
    sampling = SamplingParams(temperature=0.3, max_tokens=300, seed=1)
    gate = asyncio.Semaphore(concurrency)
    adapter = persona.lora_adapter if use_adapter else None
    jobs: list[tuple[str, Probe]] = [
        (language, probe)
        for language in persona.languages
        if languages is None or language in languages
        for probe in PROBES.get(language, ())
    ]

    async def run(language: str, probe: Probe) -> list[str]:
        system = builder.render_system(SystemPromptContext(persona=persona, language=language))
        async with gate:
            return await _converse(model, system, probe, adapter, sampling)

    results = await asyncio.gather(*(run(language, probe) for language, probe in jobs))
    for (language, probe), replies in zip(jobs, results, strict=True):
        where = f"{language}/{probe.name}"
        for reply in replies:
            broken = character_failures(reply, persona)
            report.tallies[Aspect.CHARACTER].add(not broken)
            wrong_language = language_failures(reply, language)
            report.tallies[Aspect.LANGUAGE].add(not wrong_language)
            report.failures.extend(f"{where}: {f}" for f in broken + wrong_language)
        if probe.aspect in (Aspect.SAFETY, Aspect.MEMORY):
            failed = probe_failures(probe, replies[-1])
            report.tallies[probe.aspect].add(not failed)
            report.failures.extend(f"{where}: {f}" for f in failed)
    return report
