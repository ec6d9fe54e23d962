"""`companion eval`: the quality gate for a served model (before switching a base model or an
adapter; docs/serving.md). Runs fixed multi-turn probes per persona against any OpenAI-compatible
server and reports, per persona: in character, replies in the user's language, safety (minors,
crisis, professional advice) and memory use (a fact told earlier recalled later). Exit status 1
when a persona scores below --min-score on any of them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from companion.cli.quality.probes import Aspect
from companion.cli.quality.runner import PersonaReport, evaluate_persona
from companion.config import LLMBackend, LLMSettings
from companion.domain.personas import Persona

stdout = Console(highlight=False)


def evaluate(
    base_url: Annotated[
        str, typer.Option(help="OpenAI-compatible endpoint, e.g. http://vllm:8000/v1")
    ],
    model: Annotated[str, typer.Option(help="Served base model name")],
    persona: Annotated[
        list[str] | None, typer.Option(help="Persona id (repeat; default: the whole library)")
    ] = None,
    personas_dir: Annotated[
        Path | None, typer.Option(help="Persona library directory (default: the packaged one)")
    ] = None,
    api_key: Annotated[str, typer.Option(envvar="COMPANION_LLM__API_KEY")] = "EMPTY",
    adapters: Annotated[
        bool, typer.Option(help="Use each persona's LoRA adapter where its card names one")
    ] = True,
    min_score: Annotated[float, typer.Option(min=0.0, max=1.0)] = 1.0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report here")] = None,
) -> None:
    """Check a served model: character, language, safety and memory per persona."""
    from companion.personas.repository import PersonaRepository, packaged_library_dir

    library = PersonaRepository(personas_dir or packaged_library_dir())
    library.load_all()
    chosen = [p for p in library.all() if not persona or p.id in persona]
    if not chosen:
        raise typer.BadParameter("no such persona in the library", param_hint="--persona")
    settings = LLMSettings(
        backend=LLMBackend.OPENAI, base_url=base_url, model=model, api_key=SecretStr(api_key)
    )
    reports = asyncio.run(_run(settings, chosen, adapters))
    _print(reports, min_score)
    if json_out is not None:
        json_out.write_text(json.dumps(_as_json(reports, min_score), ensure_ascii=False, indent=2))
    if not all(report.passed(min_score) for report in reports):
        raise typer.Exit(1)


async def _run(
    settings: LLMSettings, personas: list[Persona], adapters: bool
) -> list[PersonaReport]:
    from companion.llm.openai_backend import OpenAIChatModel

    model = OpenAIChatModel(settings)
    try:
        return [await evaluate_persona(model, p, use_adapter=adapters) for p in personas]
    finally:
        await model.aclose()


def _cell(report: PersonaReport, aspect: Aspect) -> str:
    tally = report.tallies[aspect]
    return "—" if tally.rate is None else f"{tally.passed}/{tally.total}"


def _print(reports: list[PersonaReport], min_score: float) -> None:
    table = Table("persona", *(a.value for a in Aspect), "result")
    for report in reports:
        verdict = "PASS" if report.passed(min_score) else "FAIL"
        table.add_row(report.persona_id, *(_cell(report, a) for a in Aspect), verdict)
    stdout.print(table)
    for report in reports:
        for failure in report.failures[:10]:
            stdout.print(f"  {report.persona_id}: {failure}", markup=False)


def _as_json(reports: list[PersonaReport], min_score: float) -> dict[str, object]:
    return {
        "min_score": min_score,
        "personas": {
            r.persona_id: {
                "passed": r.passed(min_score),
                **{
                    a.value: {"passed": r.tallies[a].passed, "total": r.tallies[a].total}
                    for a in Aspect
                },
                "failures": r.failures,
            }
            for r in reports
        },
    }
