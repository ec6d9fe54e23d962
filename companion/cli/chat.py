"""`companion chat`: the whole dialogue pipeline in a terminal, on embedded defaults."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel

from companion.app import App, build_app
from companion.cli.errors import fail, settings_or_exit, stderr
from companion.config import LLMBackend, Settings
from companion.dialogs.events import (
    AccessDeniedError,
    InvalidMessageError,
    Notice,
    PhotoToSend,
    ReplyDone,
    ReplyFailedError,
    TextDelta,
    UnknownPersonaError,
)
from companion.dialogs.priming import prime_persona
from companion.dialogs.prompts import PromptBuilder
from companion.domain.models import User
from companion.domain.personas import Module, Persona
from companion.domain.ports import AccessDecision
from companion.logging_setup import configure_logging
from companion.personas.forms import address_of
from companion.storage.database import DatabaseUnavailableError

stdout = Console(highlight=False, soft_wrap=True)
TERMINAL_USER_ID = 1


def chat(
    persona: Annotated[
        str | None, typer.Option(help="Persona id (see `companion personas list`)")
    ] = None,
    user: Annotated[
        int, typer.Option(help="User id; each id has its own history and memory")
    ] = TERMINAL_USER_ID,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Send one message, print the reply, exit")
    ] = None,
    language: Annotated[
        str | None, typer.Option(help="ru or en (default: the user's, else the settings')")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show service logs (warnings included)")
    ] = False,
) -> None:
    """Talk to a persona in the terminal (the reply streams as it is generated)."""
    settings = settings_or_exit()
    # The conversation is the output: service warnings (e.g. a small local model's unusable
    # fact-extraction answer, which memory just skips) would interleave with it. Errors stay.
    configure_logging("INFO" if verbose else "ERROR", json_lines=False)
    if language is not None and language not in ("ru", "en"):
        fail("--language must be ru or en")
    try:
        asyncio.run(_run(settings, persona, user, message, language))
    except DatabaseUnavailableError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        stderr.print("\nbye")


async def _run(
    settings: Settings,
    persona_id: str | None,
    user_id: int,
    message: str | None,
    language: str | None,
) -> None:
    interactive = message is None
    async with build_app(
        settings, use_redis=False, watch_personas=interactive, warm_up=True
    ) as app:
        user = await _terminal_user(app, user_id, language)
        persona_id = persona_id or user.current_persona_id or _default_persona(app)
        try:
            started = await app.dialog.start(user, persona_id)
        except UnknownPersonaError as exc:
            fail(f"unknown persona {exc.persona_id!r}; see `companion personas list`")
        except AccessDeniedError as exc:
            fail(_access_text(app, user, exc.decision))
        persona = started.persona
        name = persona.display_name(user.language)
        out = stdout if interactive else stderr
        for notice in started.notices:
            _show_notice(app, notice, out, address_of(persona))
        if interactive:
            stdout.print(
                f"[bold]{name}[/bold] · {persona.module.value} · "
                "/reset new conversation · /persona ID switch · /quit",
                markup=True,
            )
            if started.greeting:
                stdout.print(
                    f"[bold magenta]{name}:[/bold magenta] {started.greeting}", markup=True
                )
        if message is not None:
            ok = await _turn(app, user, persona.id, message, name, interactive=False)
        else:
            primed = {_prime(app, user, persona)}
            try:
                await _repl(app, user, persona.id, primed)
            finally:
                for task in primed:
                    task.cancel()
                await asyncio.gather(*primed, return_exceptions=True)
            ok = True
        if app.memory is not None:
            # Facts from the last exchanges are extracted before exit, so none are lost.
            with stderr.status("remembering what you told me…", spinner="dots"):
                await app.memory.drain()
        if not ok:
            raise typer.Exit(1)


def _prime(app: App, user: User, persona: Persona) -> asyncio.Task[bool]:
    """Read the persona's prompt into the local model's cache while the person types
    (companion/dialogs/priming.py); a server-side model, or one without the cache, is left
    alone."""
    llm = app.settings.llm
    if llm.resolved_backend is not LLMBackend.LOCAL or not llm.local_prompt_cache:
        return asyncio.create_task(asyncio.sleep(0, result=False))
    return asyncio.create_task(prime_persona(app.llm, PromptBuilder(), persona, user))


async def _repl(app: App, user: User, persona_id: str, primed: set[asyncio.Task[bool]]) -> None:
    while True:
        try:
            line = await asyncio.to_thread(stdout.input, "[bold cyan]you:[/bold cyan] ")
        except EOFError:
            return
        text = line.strip()
        if text in ("/quit", "/exit"):
            return
        if text == "/reset" or text.startswith("/persona"):
            parts = text.split(maxsplit=1)
            target = parts[1] if text.startswith("/persona") and len(parts) > 1 else persona_id
            try:
                started = await app.dialog.start(user, target, fresh=text == "/reset")
            except UnknownPersonaError:
                stderr.print(f"unknown persona {target!r}")
                continue
            except AccessDeniedError as exc:
                stderr.print(_access_text(app, user, exc.decision))
                continue
            persona_id = started.persona.id
            primed.add(_prime(app, user, started.persona))
            name = started.persona.display_name(user.language)
            for notice in started.notices:
                _show_notice(app, notice, stdout, address_of(started.persona))
            if started.greeting:
                stdout.print(
                    f"[bold magenta]{name}:[/bold magenta] {started.greeting}", markup=True
                )
            continue
        persona = app.personas.get(persona_id)
        name = persona.display_name(user.language) if persona else persona_id
        await _turn(app, user, persona_id, text, name, interactive=True)


async def _turn(
    app: App, user: User, persona_id: str, text: str, name: str, *, interactive: bool
) -> bool:
    """One message and its streamed reply; False when it failed (message already shown)."""
    out = stdout if interactive else Console(file=sys.stdout, highlight=False, soft_wrap=True)
    notices_to = stdout if interactive else stderr
    started_text = False
    status = stderr.status("thinking…", spinner="dots")
    status.start()
    try:
        async for event in app.dialog.reply(user, persona_id, text):
            if isinstance(event, TextDelta):
                if not started_text:
                    status.stop()
                    if interactive:
                        out.print(f"[bold magenta]{name}:[/bold magenta] ", end="", markup=True)
                    started_text = True
                out.print(event.text, end="", markup=False)
            elif isinstance(event, Notice):
                status.stop()
                _show_notice(app, event, notices_to, address_of(app.personas.get(persona_id)))
            elif isinstance(event, PhotoToSend):
                notices_to.print(f"[dim]📷 {event.caption} ({event.path})[/dim]", markup=True)
            elif isinstance(event, ReplyDone):
                status.stop()
                if started_text:
                    out.print()
        return True
    except InvalidMessageError as exc:
        key = "message-empty" if exc.reason == "empty" else "message-too-long"
        stderr.print(app.translator.get(user.language, key, limit=exc.limit or 0))
    except AccessDeniedError as exc:
        stderr.print(_access_text(app, user, exc.decision))
    except UnknownPersonaError as exc:
        stderr.print(app.translator.get(user.language, "persona-unknown", persona=exc.persona_id))
    except ReplyFailedError as exc:
        if started_text:
            out.print()
        stderr.print(f"[red]error:[/red] the model failed: {exc}", markup=True)
    finally:
        status.stop()
    return False


async def _terminal_user(app: App, user_id: int, language: str | None) -> User:
    user = await app.users.get(user_id)
    if user is None:
        # The terminal is run by the operator on their own machine: consent is implied.
        user = User(
            id=user_id,
            language=language or _default_language(app.settings),
            consent_at=datetime.now(UTC),
        )
        return await app.users.upsert(user)
    if language is not None and language != user.language:
        await app.users.update(user_id, language=language)
        user.language = language
    return user


def _default_language(settings: Settings) -> str:
    # The packaged SmolLM2 speaks English only; Russian needs a real model behind vLLM.
    if settings.llm.resolved_backend is LLMBackend.LOCAL and settings.llm.local_model == "smollm2":
        return "en"
    return settings.default_language


def _default_persona(app: App) -> str:
    free = [p for p in app.personas.all(module=Module.SUPPORT) if not p.pro_only]
    if not free:
        fail("the persona library has no free Support persona; pass --persona")
    return free[0].id


def _access_text(app: App, user: User, decision: AccessDecision) -> str:
    key = "access-needs-pro" if decision is AccessDecision.NEEDS_PRO else "access-needs-adult"
    return app.translator.get(user.language, key)


def _show_notice(app: App, notice: Notice, console: Console, address: str) -> None:
    # In the persona's ты/вы, as in Telegram (the texts select on $address).
    text = app.translator.get(notice.language, notice.text_key, address=address)
    # soft_wrap off here: the console soft-wraps streamed text, which would crop a panel.
    console.print(Panel(text, border_style="yellow"), soft_wrap=False)
