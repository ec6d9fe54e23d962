"""`companion memory ...`: what long-term memory holds about a person, for operators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pymongo.errors import PyMongoError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from companion.cli.errors import fail, settings_or_exit
from companion.config import Settings
from companion.memory.embedder import EmbedderError, build_embedder
from companion.memory.reembed import Reembedder, ReembedReport
from companion.memory.service import MemoryService
from companion.storage.crypto import DecryptionError, EncryptionKeyError
from companion.storage.database import DatabaseUnavailableError

T = TypeVar("T")

app = typer.Typer(
    name="memory",
    help="Inspect and erase what long-term memory knows about a person; re-embed it.",
    no_args_is_help=True,
    add_completion=False,
)

stdout = Console(highlight=False, soft_wrap=True)
UserOption = Annotated[int, typer.Option("--user", help="Telegram user id")]


@app.callback()
def memory() -> None:
    """Inspect and erase what long-term memory knows about a person."""


def _run(settings: Settings, work: Callable[[MemoryService], Awaitable[T]]) -> T:
    """The memory service as the composition root builds it for the bot (same embedder, same
    stores), without Redis or a Bot API client; nothing is extracted from here."""
    # What memory holds stays someone's data after memory is switched off: the operator can
    # still list, search and erase it.
    settings = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"enabled": True})}
    )

    async def run() -> T:
        # Imported here: the whole service (aiogram included) loads only for these commands.
        from companion.app import build_app

        async with build_app(
            settings, use_redis=False, watch_personas=False, telegram=False
        ) as built:
            assert built.memory is not None  # enabled above
            return await work(built.memory)

    try:
        return asyncio.run(run())
    except (DatabaseUnavailableError, EncryptionKeyError, DecryptionError, EmbedderError) as exc:
        fail(str(exc).splitlines()[0])
    except PyMongoError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")


@app.command("list")
def list_facts(user: UserOption) -> None:
    """Every fact remembered about the person, oldest first."""
    facts = _run(settings_or_exit(), lambda service: service.list_facts(user))
    if not facts:
        stdout.print(f"no facts are stored for user {user}")
        return
    table = Table("id", "category", "imp.", "refers to", "updated", "fact")
    for fact in facts:
        table.add_row(
            fact.id[:12],
            fact.category.value,
            str(fact.importance),
            fact.refers_to.isoformat() if fact.refers_to else "",
            fact.updated_at.strftime("%Y-%m-%d"),
            escape(fact.text),
        )
    stdout.print(table)


@app.command("search")
def search(
    user: UserOption,
    query: Annotated[str, typer.Argument(help="What to look for, in any words")],
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=100)] = 10,
) -> None:
    """The person's facts ranked for QUERY, as the bot would recall them."""
    hits = _run(settings_or_exit(), lambda service: service.search(user, query, limit))
    if not hits:
        stdout.print(f"nothing found for user {user}")
        return
    table = Table("score", "cosine", "id", "fact")
    for hit in hits:
        table.add_row(
            f"{hit.score:.3f}", f"{hit.similarity:.3f}", hit.fact.id[:12], escape(hit.fact.text)
        )
    stdout.print(table)


@app.command("forget")
def forget(
    user: UserOption,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase the person's facts, their history and the embedded past exchanges."""
    if not yes:
        typer.confirm(f"Erase everything memory holds about user {user}?", abort=True)
    removed = _run(settings_or_exit(), lambda service: service.forget_user(user))
    stdout.print(f"forgot user {user}: {removed} facts and all embedded exchanges erased")


@app.command("reembed")
def reembed(
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1024)] = 64,
) -> None:
    """Re-embed stored facts and exchanges with the configured embedding model.

    Run it after changing memory.embedding_model: until then, search leaves out what the old
    model embedded. Safe to run while the bot serves, to stop, and to run again; running
    workers see the new vectors when their per-user search cache expires (a few minutes).
    """

    async def work(service: MemoryService) -> ReembedReport:
        reembedder = Reembedder(
            [service.facts, service.episodes], service.embedder, batch_size=batch_size
        )
        pending = await reembedder.pending()
        stdout.print(
            f"model {service.embedder.model_id}: "
            + ", ".join(f"{count} {name} to re-embed" for name, count in pending.items())
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=stdout,
        ) as progress:
            tasks = {name: progress.add_task(name, total=count) for name, count in pending.items()}
            report = await reembedder.run(lambda name, n: progress.advance(tasks[name], n))
        return report

    report = _run(settings_or_exit(), work)
    stdout.print(
        "re-embedded "
        + ", ".join(f"{count} {name}" for name, count in report.rewritten.items())
        + (
            f"; {report.changed_meanwhile} changed meanwhile and were re-embedded by the bot"
            if report.changed_meanwhile
            else ""
        )
    )


@app.command("eval")
def evaluate(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            exists=True,
            dir_okay=False,
            help="an evaluation set: benchmarks/data/memory_eval*.json, or a public benchmark "
            "converted by benchmarks/data/convert_public_memory.py",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", help="embedding model (default: memory.embedding_model)"),
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="only half 'a' or 'b' of the questions")
    ] = None,
    previous: Annotated[
        bool, typer.Option("--previous", help="also run the fusion from before issue 16")
    ] = False,
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="where passage vectors are cached")
    ] = Path("var/bench"),
) -> None:
    """Recall@5/10 of memory search on an evaluation set, per question type, next to BM25
    alone, dense alone and the latest exchanges, in one run (vectors cached on disk).

    Try a new embedding model or retriever setting on any converted set in one command; no
    database is needed.
    """
    from companion.memory.evaluation import PREVIOUS, run_eval

    if split not in (None, "a", "b"):
        fail("--split is 'a' or 'b'")
    settings = settings_or_exit()
    memory = settings.memory
    name = model or memory.embedding_model
    embedder = build_embedder(
        name,
        query_prefix=memory.query_prefix if model is None else "",
        passage_prefix=memory.passage_prefix if model is None else "",
        batch_size=memory.embedding_batch_size,
    )
    try:
        asyncio.run(
            run_eval(
                data,
                embedder,
                name,
                stdout,
                extra={"previous": PREVIOUS} if previous else None,
                split=split,
                cache_dir=cache_dir,
            )
        )
    except EmbedderError as exc:
        fail(str(exc).splitlines()[0])
    except (ValueError, KeyError) as exc:
        fail(f"{data} is not an evaluation set: {exc}")
    finally:
        embedder.close()
